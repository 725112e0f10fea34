"""Clips made by the server (issue 16): ``POST streams/{id}/clips`` starts a job (202), ``GET clips/{clip}``
follows it, ``GET clips/{clip}/file`` downloads the MP4; the REST hub's ``cam.clip()`` uses them. Real camera
(GOP of 10 pictures), real FFmpeg, a real Jupyter server; the files are decoded back with FFmpeg."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import signal
import time

import psutil
import pytest

import rtsp_notebook as rn
from rtsp_notebook.api.clips import MAX_JOBS, ClipJob, Clips, ClipStatus, clip_name
from rtsp_notebook.api.routes import route
from rtsp_notebook.media.recorder import OutputExistsError, Recorder

from .harness.helpers import ffmpeg_children, wait_for, wait_until_sync
from .harness.jp_server import add, api, clip_finished, login_cookies, prebuffer_kept, with_prebuffer
from .harness.mp4 import check_mp4, duration
from .harness.server import Server

KEYINT = 10  # the camera's GOP: 10 pictures at 25 fps, 0.4 s
FPS = 25
GOP_S = KEYINT / FPS
WRONG_TOKEN = {"Authorization": "token not-the-token"}
CLIP_ID = "0123456789abcdef"
STARTED = {"id", "stream_id", "label", "status", "file", "before", "after", "url", "started_at"}
NAME = r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.mp4"


async def camera_stream(jp_fetch, camera, label="Door", prebuffer_s=0):
    sid = (await add(jp_fetch, camera.url, label))["id"]
    if prebuffer_s:
        await with_prebuffer(jp_fetch, sid, prebuffer_s)
        await prebuffer_kept(jp_fetch, sid, prebuffer_s)
    return sid


async def test_a_clip_is_made_followed_and_downloaded(
    jp_fetch, jp_serverapp, camera_factory, clips_dir, ffmpeg_path, tmp_path
):
    camera = camera_factory(keyint=KEYINT)
    sid = await camera_stream(jp_fetch, camera, prebuffer_s=3)
    status, job = await api(jp_fetch, "POST", "streams", sid, "clips", body={"before": 2, "after": 1})
    assert status == 202, job
    assert set(job) == STARTED and re.fullmatch("[0-9a-f]{16}", job["id"])
    assert (job["stream_id"], job["status"], job["before"], job["after"]) == (sid, "recording", 2, 1)
    assert job["url"] == f"rtsp/api/clips/{job['id']}" and re.fullmatch("Door-" + NAME, job["file"])

    status, error = await api(jp_fetch, "GET", "clips", job["id"], "file")  # at least 1 s to go
    assert status == 409 and error["error"]["code"] == "CONFLICT"
    assert error["error"]["message"].startswith(f"the clip {job['file']} is still recording")

    done = await clip_finished(jp_fetch, job["id"])
    assert {"id", "stream_id", "status", "file", "seconds", "bytes", "error"} <= set(done)
    assert (done["status"], done["error"], done["file"], done["complete"]) == (
        "done",
        None,
        job["file"],
        True,
    )
    assert abs(done["seconds"] - 3) <= GOP_S + 1 / FPS, done

    response = await jp_fetch("rtsp", "api", "clips", job["id"], "file")
    assert response.code == 200 and response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{job["file"]}"'
    assert len(response.body) == done["bytes"] == (clips_dir / job["file"]).stat().st_size
    (tmp_path / "download.mp4").write_bytes(response.body)
    pics = await asyncio.to_thread(check_mp4, ffmpeg_path, tmp_path / "download.mp4")
    assert abs(duration(pics) - done["seconds"]) <= 1 / FPS and len(pics) == done["frames"]
    assert [p.name for p in clips_dir.iterdir()] == [job["file"]], "a temporary file is left"

    # over the widget's comm (JSON only) the file is not sent; the job and its status are
    service = jp_serverapp.web_app.settings["rtsp_notebook"]["service"]
    assert (await route(service, "GET", f"clips/{job['id']}"))[1]["status"] == "done"
    status, error = await route(service, "GET", f"clips/{job['id']}/file")
    assert status == 400 and error["error"]["message"].startswith(
        f"over the widget's comm (JSON only) a clip cannot be downloaded: {job['file']} is saved"
    )

    # before beyond what the prebuffer holds: the seconds it holds, as cam.clip says
    status, error = await api(jp_fetch, "POST", "streams", sid, "clips", body={"before": 20, "after": 0})
    assert status == 400 and error["error"]["code"] == "BAD_REQUEST"
    assert re.fullmatch(
        r"the prebuffer holds 3\.\d s of this stream's video \(prebuffer_s=3\); ask for before=3\.\d or "
        r"less, or raise the stream's prebuffer_s",
        error["error"]["message"],
    ), error


async def test_before_0_records_from_now_and_names_stay_inside_the_folder(
    jp_fetch, camera_factory, clips_dir, ffmpeg_path
):
    camera = camera_factory(keyint=KEYINT)
    sid = await camera_stream(jp_fetch, camera, label="../../etc/x")  # no prebuffer
    body = {"before": 0, "after": 1.5}
    (status, job), (status2, job2) = await asyncio.gather(  # at once: two names, never the same
        *(api(jp_fetch, "POST", "streams", sid, "clips", body=body) for _ in range(2))
    )
    assert status == status2 == 202, (job, job2)
    same_second = r"etc_x-(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)(-2)?\.mp4"
    assert all(re.fullmatch(same_second, j["file"]) for j in (job, job2)), (job["file"], job2["file"])
    assert job2["file"] != job["file"]
    done = await clip_finished(jp_fetch, job["id"])
    assert done["status"] == "done" and done["complete"], done
    assert (await clip_finished(jp_fetch, job2["id"]))["status"] == "done"
    path = clips_dir / job["file"]
    assert path.resolve().parent == clips_dir.resolve()
    pics = await asyncio.to_thread(check_mp4, ffmpeg_path, path)
    assert abs(duration(pics) - 1.5) <= GOP_S + 1 / FPS
    assert camera.peak_clients() == 1


def test_clip_names_are_plain_and_never_taken():
    when = dt.datetime(2026, 12, 1, 0, 47, 5)
    taken = {"Door-2026-12-01_00-47-05.mp4", "Door-2026-12-01_00-47-05-2.mp4"}
    assert clip_name("Door", when, taken.__contains__) == "Door-2026-12-01_00-47-05-3.mp4"
    assert clip_name("../../etc/passwd", when, taken.__contains__) == "etc_passwd-2026-12-01_00-47-05.mp4"
    assert clip_name("..", when, taken.__contains__) == "clip-2026-12-01_00-47-05.mp4"
    assert clip_name("Caméra 2\\x\x00", when, taken.__contains__) == "Cam_ra_2_x-2026-12-01_00-47-05.mp4"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"before": 1, "after": 1}, "stream 'Door' keeps no prebuffer: set its prebuffer_s option"),
        ({"before": 601, "after": 1}, "before must be a number of seconds from 0 to 600, got 601"),
        ({"before": 0, "after": -1}, "after must be a number of seconds from 0 to 600, got -1"),
        ({"before": 0, "after": "5"}, "after must be a number of seconds from 0 to 600, got '5'"),
        ({"before": 0, "after": True}, "after must be a number of seconds from 0 to 600, got True"),
        ({"before": 0, "after": 0}, "a clip needs before or after above 0 seconds"),
        ({"before": 0, "after": 1, "path": "/etc/x"}, "unknown field 'path'; a clip has before and after"),
        ([1, 2], "the request body must be a JSON object"),
    ],
)
async def test_bad_requests_are_refused_with_what_to_do(jp_fetch, body, message):
    sid = (await add(jp_fetch, "rtsp://127.0.0.1:9/cam", "Door"))["id"]  # never read: nothing starts
    status, error = await api(jp_fetch, "POST", "streams", sid, "clips", body=body)
    assert status == 400 and error["error"]["message"].startswith(message), error
    assert not ffmpeg_children()


async def test_unknown_streams_and_clips_are_404(jp_fetch):
    body = {"before": 0, "after": 1}
    for parts in (("streams", "0123456789ab", "clips"), ("streams", "NOT-AN-ID", "clips")):
        status, error = await api(jp_fetch, "POST", *parts, body=body)
        assert status == 404 and error["error"]["code"] == "NOT_FOUND", error
    for parts in (
        ("clips", CLIP_ID),
        ("clips", CLIP_ID, "file"),
        ("clips", "nope"),
        ("clips", "nope", "file"),
    ):
        status, error = await api(jp_fetch, "GET", *parts)
        assert status == 404 and error["error"]["message"].startswith("no clip with this id"), (parts, error)


async def test_clips_need_the_token_and_the_xsrf_check(jp_fetch, jp_serverapp):
    sid = (await add(jp_fetch, "rtsp://127.0.0.1:9/cam", "Door"))["id"]
    body = {"before": 0, "after": 1}
    for method, parts in [("POST", ("streams", sid, "clips")), ("GET", ("clips", CLIP_ID)),
                          ("GET", ("clips", CLIP_ID, "file")), ("GET", ("clips",)),
                          ("POST", ("clips", CLIP_ID, "stop")), ("DELETE", ("clips", CLIP_ID))]:  # fmt: skip
        status, _ = await api(
            jp_fetch, method, *parts, headers=WRONG_TOKEN, body=body if method == "POST" else None
        )
        assert status == 403, (method, parts)
    cookies = await login_cookies(jp_fetch, jp_serverapp)
    for method, parts in [("POST", ("streams", sid, "clips")), ("POST", ("clips", CLIP_ID, "stop")),
                          ("DELETE", ("clips", CLIP_ID))]:  # fmt: skip
        status, error = await api(
            jp_fetch, method, *parts, body=body if parts[-1] == "clips" else None,
            headers={"Authorization": "", "Cookie": cookies},
        )  # fmt: skip
        assert status == 403 and "_xsrf" in error["error"]["message"], (method, parts)
    assert not ffmpeg_children()


async def test_stopping_the_clips_ends_a_running_one_with_what_it_wrote(
    jp_fetch, jp_serverapp, camera_factory, ffmpeg_path, clips_dir
):
    camera = camera_factory(keyint=KEYINT)
    sid = await camera_stream(jp_fetch, camera)
    status, job = await api(jp_fetch, "POST", "streams", sid, "clips", body={"before": 0, "after": 60})
    assert status == 202

    async def written():
        return (await api(jp_fetch, "GET", "clips", job["id"]))[1]["seconds"] >= 1

    await wait_for(written, 30, "1 s written")
    clips = jp_serverapp.web_app.settings["rtsp_notebook"]["service"].clips
    await clips.close()  # what the server's shutdown does first
    status, done = await api(jp_fetch, "GET", "clips", job["id"])
    assert (done["status"], done["complete"], done["ended"]) == ("done", False, "stopped"), done
    assert not [p for p in ffmpeg_children() if "pipe:0" in p.cmdline()], "the clip's FFmpeg is left"
    pics = await asyncio.to_thread(check_mp4, ffmpeg_path, clips_dir / job["file"])
    assert abs(duration(pics) - done["seconds"]) <= 1 / FPS
    status, error = await api(jp_fetch, "POST", "streams", sid, "clips", body={"before": 0, "after": 1})
    assert status == 409 and error["error"]["message"] == "the server is stopping: no new clip"


def test_cam_clip_through_the_servers_hub(camera_factory, ffmpeg_path, tmp_path):
    """The REST hub: the server makes the clip from its prebuffer (into its root_dir, the default clips
    folder), and cam.clip() downloads it to the path it was given."""
    camera = camera_factory(keyint=KEYINT)
    root = tmp_path / "server"
    root.mkdir()
    server = Server(root)
    try:
        hub = rn.connect(url=server.base, token="secret-token")
        assert not hub.local
        cam = hub.add(camera.url, label="Door", options={"prebuffer_s": 2})
        wait_until_sync(lambda: cam.stats()["prebuffer_s"] >= 2, 30, "2 s in the prebuffer")
        result = cam.clip(tmp_path / "clip.mp4", before=1.5, after=1)
        assert (result.path, result.complete, result.codec) == (tmp_path / "clip.mp4", True, "h264")
        pics = check_mp4(ffmpeg_path, result.path)
        assert abs(duration(pics) - result.seconds) <= 1 / FPS and len(pics) == result.frames
        assert abs(result.seconds - 2.5) <= GOP_S + 1 / FPS
        assert result.bytes == result.path.stat().st_size
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], (
            "a temporary file is left"
        )
        assert list(root.glob("*.mp4")) == [] and hub.clips().empty, "the server kept a copy"
        with pytest.raises(OutputExistsError):
            cam.clip(tmp_path / "clip.mp4", before=1, after=0)  # refused before the server is asked
        with pytest.raises(
            rn.InvalidInputError, match=r"^the prebuffer holds 2\.\d s of this stream's video"
        ):
            cam.clip(tmp_path / "other.mp4", before=30, after=0)

        # a long clip stopped from Python: the server's job ends early, and what it wrote is downloaded
        running = cam.clip(tmp_path / "long.mp4", before=1, after=60, wait=False)
        wait_until_sync(lambda: running.seconds >= 2, 30, "2 s of the long clip")
        table = hub.clips()  # the server's job, while it records
        assert table[["label", "status"]].values.tolist() == [["Door", "recording"]], table
        assert (
            str(table["status"].dtype) == "category"
            and str(table["started_at"].dtype) == "datetime64[us, UTC]"
        )
        t0 = time.monotonic()
        stopped = running.stop()
        assert time.monotonic() - t0 < 10, "stop() waited for the clip's 60 s"
        assert (stopped.complete, stopped.ended) == (False, "stopped") and 2 <= stopped.seconds < 20, stopped
        assert abs(duration(check_mp4(ffmpeg_path, stopped.path)) - stopped.seconds) <= 1 / FPS
        assert list(root.glob("*.mp4")) == [] and hub.clips().empty, "the server kept a copy"

        # a clip cancelled from Python: the server's job and its partial file are gone
        dropped = cam.clip(tmp_path / "dropped.mp4", before=0, after=60, wait=False)
        wait_until_sync(lambda: dropped.seconds >= 1, 30, "1 s of the dropped clip")
        dropped.cancel()
        wait_until_sync(lambda: hub.clips().empty, 10, "the server to forget the cancelled clip")
        assert not (tmp_path / "dropped.mp4").exists()
        assert [p.name for p in root.iterdir() if p.suffix in (".mp4", ".part")] == []
        wait_until_sync(lambda: len(ffmpeg_children()) == 1, 10, "only the source relay's FFmpeg")
        assert camera.peak_clients() == 1
        cam.remove()
    finally:
        server.stop()


async def test_clips_are_listed_stopped_early_and_deleted(jp_fetch, camera_factory, clips_dir, ffmpeg_path):
    camera = camera_factory(keyint=KEYINT)
    sid = await camera_stream(jp_fetch, camera)
    jobs = [(await api(jp_fetch, "POST", "streams", sid, "clips", body={"before": 0, "after": 60}))[1]
            for _ in range(2)]  # fmt: skip
    first, second = (j["id"] for j in jobs)
    status, listed = await api(jp_fetch, "GET", "clips")
    assert status == 200 and [(j["id"], j["label"], j["status"]) for j in listed] == [
        (first, "Door", "recording"),
        (second, "Door", "recording"),
    ], listed

    async def written():
        return (await api(jp_fetch, "GET", "clips", first))[1]["seconds"] >= 1

    await wait_for(written, 30, "1 s written")
    t0 = time.monotonic()
    status, stopped = await api(jp_fetch, "POST", "clips", first, "stop")  # answered once it is written
    assert time.monotonic() - t0 < 10
    assert status == 200 and (stopped["status"], stopped["complete"], stopped["ended"]) == (
        "done", False, "stopped"
    ), stopped  # fmt: skip
    pics = await asyncio.to_thread(check_mp4, ffmpeg_path, clips_dir / stopped["file"])
    assert 1 <= duration(pics) <= 30 and abs(duration(pics) - stopped["seconds"]) <= 1 / FPS
    assert (await api(jp_fetch, "POST", "clips", first, "stop")) == (200, stopped)  # ended: as it is

    # deleting a recording clip cancels it: no FFmpeg, no file, no temporary file left
    assert (await api(jp_fetch, "DELETE", "clips", second))[0] == 204
    assert (await api(jp_fetch, "GET", "clips", second))[0] == 404
    assert not [p for p in ffmpeg_children() if "pipe:0" in p.cmdline()], "the clip's FFmpeg is left"
    assert sorted(p.name for p in clips_dir.iterdir()) == [stopped["file"]]

    # deleting a finished clip removes its file
    assert (await api(jp_fetch, "DELETE", "clips", first))[0] == 204
    assert list(clips_dir.iterdir()) == [] and (await api(jp_fetch, "GET", "clips")) == (200, [])
    for method, parts in [("DELETE", ("clips", first)), ("POST", ("clips", first, "stop")),
                          ("GET", ("clips", first, "file"))]:  # fmt: skip
        status, error = await api(jp_fetch, method, *parts)
        assert status == 404 and error["error"]["message"].startswith("no clip with this id"), (parts, error)


def test_a_server_stopped_during_a_clip_leaves_no_ffmpeg_and_keeps_what_was_written(
    camera_factory, ffmpeg_path, tmp_path
):
    camera = camera_factory(keyint=KEYINT)
    server = Server(tmp_path)
    try:
        sid = server.call("POST", "streams", {"url": camera.url, "label": "Door"})["id"]
        job = server.call("POST", f"streams/{sid}/clips", {"before": 0, "after": 60})
        wait_until_sync(lambda: server.call("GET", f"clips/{job['id']}")["seconds"] >= 1, 30, "1 s written")
        ffmpegs = ffmpeg_children()  # the server's: the source relay and the clip's MP4 writer
        assert len(ffmpegs) == 2 and any("pipe:0" in p.cmdline() for p in ffmpegs), ffmpegs
        server.proc.send_signal(signal.SIGTERM)  # Jupyter's cleanup: stop_extension
        assert server.proc.wait(30) is not None
        _, alive = psutil.wait_procs(ffmpegs, timeout=1)
        assert not alive, f"FFmpeg left behind by the server: {alive}"
        times = check_mp4(ffmpeg_path, tmp_path / job["file"])  # the clips folder: the server's root_dir
        assert duration(times) >= 1
        assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
    finally:
        server.stop()


def test_the_job_table_keeps_the_newest_finished_jobs_and_every_running_one(tmp_path):
    clips = Clips(None, tmp_path)  # type: ignore[arg-type]  # no job is started here: no engine needed
    recorder = Recorder("ffmpeg", tmp_path / "x.mp4", lambda: None, seconds=1)  # type: ignore[arg-type,return-value]
    running = [ClipJob(f"{n:016x}", "ab12", f"r{n}.mp4", 0, 1, recorder) for n in range(3)]
    done = [ClipJob(f"{n:016x}", "ab12", f"d{n}.mp4", 0, 1, recorder, ClipStatus.DONE) for n in range(3, 103)]
    for job in [*running, *done]:
        clips._remember(job)
    kept = list(clips._jobs.values())
    assert len(kept) == MAX_JOBS and kept[:3] == running and kept[3:] == done[-(MAX_JOBS - 3) :]
