"""The MPEG-1 path's bitrate ceiling (issue 15): a busy picture stays near its profile's ceiling, the ceiling
is a validated setting of the engine and of the server extension, and an MPEG-1 ``video_start`` says it.

The ceiling is measured on real FFmpeg output: a busy 720p25 input (camera noise, as the test camera's
``snow`` pattern: x264 at 2 Mb/s) goes through the grid transcode's own argv as fast as FFmpeg reads it,
and the bytes of every second of its video are counted.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from traitlets import TraitError

from rtsp_notebook.api.viewer import ViewerConnection
from rtsp_notebook.engine import Engine, EngineConfig
from rtsp_notebook.media.ffmpeg import Profile, rate_args, transcode_argv
from rtsp_notebook.server.app import RtspNotebookApp
from rtsp_notebook.store import AsyncStore, StreamStore

from .harness.helpers import MemoryChannel, analyze, ffmpeg_info, packets, pid_of, wait_until

BUSY = "color=gray:size=1280x720:rate=25,noise=alls=100:allf=t"  # every pixel changes every frame
CAMERA_H264 = [
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
    "-g", "25", "-bf", "0", "-b:v", "2048k", "-maxrate", "2048k", "-bufsize", "2048k", "-f", "mpegts",
    "-threads", "1",  # the same input at every run (x264's threads make its rate control vary)
]  # fmt: skip
SECONDS = 5
GRID_FPS = 15


@pytest.fixture(scope="module")
def busy_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mpeg1") / "busy.ts"
    ffmpeg = ffmpeg_info().path
    graph = ["-f", "lavfi", "-i", BUSY, "-t", str(SECONDS)]
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", *graph, *CAMERA_H264, str(path)], check=True
    )
    return path


def second_rates(argv: list[str], source: Path) -> list[float]:
    """kb/s of every second of video (each run of 15 pictures at the grid rate) the transcode writes for
    ``source``: every TS packet on the wire counts for the picture whose PES it follows."""
    with source.open("rb") as stdin:
        out = subprocess.run(argv, stdin=stdin, capture_output=True, check=True, timeout=60).stdout
    video_pid = analyze(out).video_pid
    sizes: list[int] = []  # bytes of each picture
    for packet in packets(out):
        if pid_of(packet) == video_pid and packet[1] & 0x40:  # a PES starts: the next picture
            sizes.append(0)
        if sizes:
            sizes[-1] += len(packet)
    assert len(sizes) >= (SECONDS - 1) * GRID_FPS, f"{len(sizes)} pictures out of {SECONDS} s"
    return [sum(sizes[i : i + GRID_FPS]) * 8 / 1000 for i in range(len(sizes) - GRID_FPS + 1)]


def test_a_busy_grid_tile_stays_near_its_ceiling(busy_input):
    ceiling = EngineConfig().mpeg1_grid_kbps
    argv = transcode_argv(ffmpeg_info().path, Profile.GRID, max_kbps=ceiling)
    argv[argv.index("-loglevel") + 1] = "error"
    capped = second_rates(argv, busy_input)
    # the same input with the fixed quantiser used before (q6): the picture is busy enough to matter
    at, flags = argv.index("-b:v"), len(rate_args(Profile.GRID))
    before = second_rates([*argv[:at], "-q:v", "6", *argv[at + flags :]], busy_input)
    assert sum(before) / len(before) > 1.5 * ceiling, before
    assert max(capped) <= 1.15 * ceiling, capped  # every second of video, the first one too
    assert sum(capped) / len(capped) <= 1.05 * ceiling, capped


def test_ceilings_are_validated_with_the_setting_named():
    assert (EngineConfig().mpeg1_grid_kbps, EngineConfig().mpeg1_full_kbps) == (1500, 4000)
    assert EngineConfig(mpeg1_grid_kbps=200, mpeg1_full_kbps=30_000).mpeg1_kbps == {
        "grid": 200,
        "full": 30_000,
    }
    with pytest.raises(
        ValueError, match=r"^mpeg1_grid_kbps must be a whole number of kb/s from 200 to 30000, not 0$"
    ):
        EngineConfig(mpeg1_grid_kbps=0)
    with pytest.raises(ValueError, match=r"^mpeg1_full_kbps must be .* from 200 to 30000, not '4M'$"):
        EngineConfig(mpeg1_full_kbps="4M")
    app = RtspNotebookApp()
    assert (app.mpeg1_grid_kbps, app.mpeg1_full_kbps) == (1500, 4000)
    with pytest.raises(
        TraitError,
        match=r"^RtspNotebookApp\.mpeg1_full_kbps must be a whole number of kb/s from 200 to 30000, "
        r"not 50000$",
    ):
        RtspNotebookApp(mpeg1_full_kbps=50_000)


async def test_an_mpeg1_video_start_says_its_ceiling_and_h264_none(camera, tmp_path):
    config = EngineConfig(mpeg1_grid_kbps=800, mpeg1_full_kbps=2500)
    engine = Engine(AsyncStore(StreamStore(tmp_path / "streams.db")), ffmpeg_info(), config)
    viewers = {}
    try:
        record = await engine.add_stream(camera.url)
        for profile, codec in (("grid", "mpeg1"), ("full", "mpeg1"), ("grid", "h264")):
            channel = MemoryChannel()
            viewers[profile, codec] = channel, ViewerConnection(engine, record.id, profile, channel, codec)
            await viewers[profile, codec][1].start()
        await wait_until(
            lambda: all(ch.of_type("video_start") for ch, _ in viewers.values()), 20, "three video_starts"
        )
        starts = {key: ch.of_type("video_start")[0] for key, (ch, _) in viewers.items()}
        assert starts["grid", "mpeg1"]["codec"] == "mpeg1video" and starts["grid", "mpeg1"]["max_kbps"] == 800
        assert starts["full", "mpeg1"]["max_kbps"] == 2500
        assert starts["grid", "h264"]["codec"] == "h264" and "max_kbps" not in starts["grid", "h264"]
        for profile, kbps in (("grid", "800k"), ("full", "2500k")):  # and it is what the transcodes run with
            relay = engine.relay(record.id, profile)
            assert relay is not None and relay.argv[relay.argv.index("-maxrate") + 1] == kbps
    finally:
        for _, viewer in viewers.values():
            await viewer.close()
        await engine.close()
