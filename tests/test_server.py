"""The server extension in a real Jupyter server (pytest-jupyter), against the real camera.

pytest-jupyter's ``jp_base_url`` holds an escaped character, so every URL here also proves that
the routes follow Jupyter's base URL. The fixtures (``jp_server_config``, ``open_viewer``) and the REST
helpers are in tests/harness/jp_server.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sqlite3
import urllib.parse

import pytest
from jupyter_server.base import handlers as server_handlers
from PIL import Image
from tornado.httpclient import HTTPClientError

from rtsp_notebook.api.routes import route
from rtsp_notebook.errors import AmbiguousLabelError
from rtsp_notebook.media.mpegts import PACKET_SIZE
from rtsp_notebook.media.sources import mask_url
from rtsp_notebook.store import StreamStore

from .harness.helpers import ffmpeg_children, wait_until
from .harness.jp_server import ROUTES, add, api, login_cookies

PASSWORD = "Pa55-w0rd!"


# -- REST -----------------------------------------------------------------------------------------------
async def test_health(jp_fetch):
    status, data = await api(jp_fetch, "GET", "health")
    assert status == 200
    assert data["status"] == "healthy" and data["streams"] == 0 and data["relays"] == 0
    assert data["ffmpeg"]["path"] and data["ffmpeg"]["version"] and data["version"]


async def test_stream_crud_with_masked_urls(jp_fetch, camera):
    url = camera.url_with("admin", PASSWORD)
    created = await add(jp_fetch, url, "Door")
    assert set(created) == {"id", "label", "url", "sub_url", "options", "created_at", "updated_at", "state",
                            "viewers", "last_error", "ws_url"}  # fmt: skip
    assert created["sub_url"] is None
    assert created["url"] == mask_url(url) == f"rtsp://admin:***@127.0.0.1:{camera.port}/cam"
    assert created["options"] == {"transport": "auto", "keep_alive": False}
    assert created["state"] == "idle" and created["viewers"] == 0
    assert created["ws_url"] == f"rtsp/ws/stream?id={created['id']}"
    sid = created["id"]

    assert await api(jp_fetch, "GET", "streams") == (200, [created])
    assert await api(jp_fetch, "GET", "streams", sid) == (200, created)
    status, changed = await api(jp_fetch, "PATCH", "streams", sid, body={"label": "Front door"})
    assert status == 200 and changed["label"] == "Front door" and changed["url"] == created["url"]
    status, changed = await api(
        jp_fetch, "PUT", "streams", sid, body={"options": {"keep_alive": False, "transport": "udp"}}
    )
    assert status == 200 and changed["options"]["transport"] == "udp"
    # the substream (issue 14): masked like the url, null removes it
    status, changed = await api(jp_fetch, "PATCH", "streams", sid, body={"sub_url": url + "?subtype=1"})
    assert status == 200 and changed["sub_url"] == mask_url(url) + "?subtype=1"
    assert PASSWORD not in json.dumps(await api(jp_fetch, "GET", "streams"))
    status, changed = await api(jp_fetch, "PATCH", "streams", sid, body={"sub_url": None})
    assert status == 200 and changed["sub_url"] is None

    status, error = await api(jp_fetch, "POST", "streams", body={"url": url})
    assert status == 409 and error["error"]["code"] == "CONFLICT"
    assert PASSWORD not in json.dumps(error)

    assert await api(jp_fetch, "DELETE", "streams", sid) == (204, b"")
    status, error = await api(jp_fetch, "GET", "streams", sid)
    assert status == 404 and error == {
        "error": {"code": "NOT_FOUND", "message": f"no stream with id {sid!r}"}
    }
    assert await api(jp_fetch, "GET", "streams") == (200, [])
    # a removed stream frees its URL
    assert (await add(jp_fetch, url))["id"] != sid


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd", "http://example.com/x", "concat:a|b", "subfile:,,start,0,end,0,,:/etc/passwd",
        "pipe:0", "data:text/plain,hi", "-i", "rtsp://cam/x\nHost: evil", "rtsp://", "rtsp://cam:0/x",
        "rtsp://cam:70000/x", "demo://nope", "rtsp://cam/x#frag", "x" * 3000, 42, None,
    ],
)  # fmt: skip
async def test_hostile_urls_are_refused_and_not_stored(jp_fetch, url):
    status, error = await api(jp_fetch, "POST", "streams", body={"url": url})
    assert status == 400 and error["error"]["code"] == "INVALID_URL", error
    if url is not None:  # (a null sub_url is no substream) the same rules for a substream, named as such
        body = {"url": "rtsp://cam/main", "sub_url": url}
        status, error = await api(jp_fetch, "POST", "streams", body=body)
        assert status == 400 and error["error"]["code"] == "INVALID_URL", error
        assert error["error"]["message"].startswith("sub_url: "), error
    assert await api(jp_fetch, "GET", "streams") == (200, [])


async def test_bad_bodies_and_fields(jp_fetch):
    cases = [
        ("{not json", "BAD_REQUEST", "the request body is not valid JSON"),
        ("[1, 2]", "BAD_REQUEST", "the request body must be a JSON object"),
        (json.dumps({"url": "rtsp://cam/x", "label": "x" * 201}), "BAD_REQUEST", "label is too long"),
        (json.dumps({"url": "rtsp://cam/x", "options": {"fps": 3}}), "BAD_REQUEST", "unknown option 'fps'"),
    ]
    for body, code, message in cases:
        status, error = await api(jp_fetch, "POST", "streams", body=body)
        assert status == 400 and error["error"]["code"] == code and message in error["error"]["message"], (
            error
        )
    status, error = await api(
        jp_fetch, "POST", "streams", body=json.dumps({"url": "rtsp://cam/" + "a" * 70000})
    )
    assert status == 413 and "over 64 KiB" in error["error"]["message"]
    assert await api(jp_fetch, "GET", "streams") == (200, [])


async def test_unknown_ids_are_404(jp_fetch):
    for parts in (("streams", "0123456789ab"), ("streams", "bad..id"), ("streams", "0123456789ab", "stats")):
        status, error = await api(jp_fetch, "GET", *parts)
        assert status == 404 and error["error"]["code"] == "NOT_FOUND"
    status, error = await api(jp_fetch, "DELETE", "streams", "0123456789ab")
    assert status == 404


# -- labels and options (issue 15) ---------------------------------------------------------------------
# No camera is opened here: adding a stream starts nothing.
async def test_a_label_in_use_is_a_conflict_on_post_and_patch(jp_fetch, jp_serverapp):
    yard = await add(jp_fetch, "rtsp://127.0.0.1:9/yard", "Yard")
    for label, written in (("Yard", ""), (" yard ", " (written 'Yard')"), ("YARD", " (written 'Yard')")):
        status, error = await api(
            jp_fetch, "POST", "streams", body={"url": "rtsp://127.0.0.1:9/x", "label": label}
        )
        assert (status, error["error"]["code"]) == (409, "CONFLICT"), error
        message = f"the label {label.strip()!r} is used by stream {yard['id']}{written}; choose another"
        assert error["error"]["message"] == message
    door = await add(jp_fetch, "rtsp://127.0.0.1:9/door", "Door")
    for method in ("PATCH", "PUT"):
        status, error = await api(jp_fetch, method, "streams", door["id"], body={"label": "yARD"})
        assert (status, error["error"]["code"]) == (409, "CONFLICT"), error
        assert error["error"]["message"].startswith(f"the label 'yARD' is used by stream {yard['id']} ")
    # the widget's comm (the kernel transport) answers the same from the same service
    service = jp_serverapp.web_app.settings["rtsp_notebook"]["service"]
    assert await route(service, "PATCH", f"streams/{door['id']}", {"label": "yARD"}) == (409, error)
    assert await api(jp_fetch, "GET", "streams", door["id"]) == (200, door)
    status, renamed = await api(jp_fetch, "PATCH", "streams", yard["id"], body={"label": "YARD"})
    assert status == 200 and renamed["label"] == "YARD"  # its own label, in other letters


async def test_default_labels_are_made_unique(jp_fetch):
    labels = [(await add(jp_fetch, f"demo://mandelbrot?fps={n}", label))["label"]
              for n, label in ((5, None), (10, None), (15, "  "))]  # fmt: skip
    assert labels == ["mandelbrot", "mandelbrot 2", "mandelbrot 3"]
    first = (await api(jp_fetch, "GET", "streams"))[1][0]
    assert await api(jp_fetch, "DELETE", "streams", first["id"]) == (204, b"")
    assert (await add(jp_fetch, "demo://mandelbrot?fps=20"))["label"] == "mandelbrot"  # free again


@pytest.fixture
def old_store(tmp_path):
    """The store jp_server_config names, as an rtsp-notebook from before unique labels left it: two
    active streams labelled "Door" (and the ids of both)."""
    with StreamStore(tmp_path / "streams.db") as store:
        door = store.add("rtsp://127.0.0.1:9/door", label="Door")
        twin = store.add("rtsp://127.0.0.1:9/twin", label="Twin")
    with contextlib.closing(sqlite3.connect(tmp_path / "streams.db")) as conn, conn:
        conn.execute("UPDATE streams SET label = 'Door' WHERE id = ?", (twin.id,))
    return door.id, twin.id


async def test_a_store_with_duplicate_labels_opens_and_keeps_working(
    old_store, jp_fetch, jp_serverapp, caplog
):
    door, twin = old_store
    opened = [r.getMessage() for r in caplog.get_records("setup") if r.name == "rtsp_notebook.store.sqlite"]
    assert any(f"streams {door}, {twin} share the label 'Door'" in m for m in opened), opened
    status, streams = await api(jp_fetch, "GET", "streams")
    assert status == 200 and [(s["id"], s["label"]) for s in streams] == [(door, "Door"), (twin, "Door")]
    status, changed = await api(
        jp_fetch, "PATCH", "streams", twin, body={"label": "Door", "options": {"keep_alive": False}}
    )
    assert status == 200 and changed["label"] == "Door"  # an unchanged label is no conflict
    status, error = await api(jp_fetch, "PATCH", "streams", twin, body={"label": "DOOR"})
    assert status == 409 and f"is used by stream {door} " in error["error"]["message"]
    status, error = await api(
        jp_fetch, "POST", "streams", body={"url": "rtsp://127.0.0.1:9/x", "label": "door"}
    )
    assert status == 409 and f"is used by stream {door} " in error["error"]["message"]
    store = jp_serverapp.web_app.settings["rtsp_notebook"]["engine"].store
    with pytest.raises(
        AmbiguousLabelError, match=rf"^2 streams are labelled 'door'; use an id instead \({door}, {twin}\)$"
    ):
        await store.find("door")
    assert (await api(jp_fetch, "PATCH", "streams", twin, body={"label": "Back door"}))[0] == 200
    assert (await store.find("door")).id == door


async def test_a_demo_stream_shows_only_the_options_that_apply(jp_fetch):
    body = {"url": "demo://smptebars", "options": {"transport": "tcp"}}
    status, demo = await api(jp_fetch, "POST", "streams", body=body)
    assert status == 201 and demo["options"] == {"keep_alive": False}  # transport is ignored
    sid = demo["id"]
    status, changed = await api(jp_fetch, "PATCH", "streams", sid, body={"options": {"transport": "udp"}})
    assert status == 200 and changed["options"] == {"keep_alive": False}
    status, error = await api(jp_fetch, "PATCH", "streams", sid, body={"options": {"transport": "http"}})
    assert status == 400 and error["error"]["message"].startswith("option 'transport' must be one of")
    assert (await api(jp_fetch, "GET", "streams"))[1][0]["options"] == {"keep_alive": False}
    status, camera = await api(jp_fetch, "PATCH", "streams", sid, body={"url": "rtsp://127.0.0.1:9/cam"})
    assert status == 200 and camera["options"] == {"transport": "auto", "keep_alive": False}


async def test_probe_reports_the_camera_or_its_error(jp_fetch, camera):
    created = await add(jp_fetch, camera.url, probe="true")
    assert created["probe"] == {"codec": "h264", "width": 640, "height": 360, "fps": 25.0}
    camera.stop()
    status, error = await api(jp_fetch, "POST", "streams", body={"url": camera.url_with(None, None) + "x"},
                              params={"probe": "true"})  # fmt: skip
    assert status == 422 and error["error"]["code"] == "UNREACHABLE"
    assert len((await api(jp_fetch, "GET", "streams"))[1]) == 1


async def test_thumbnails_and_cache_figures(jp_fetch, camera):
    sid = (await add(jp_fetch, camera.url))["id"]
    status, jpeg = await api(jp_fetch, "GET", "streams", sid, "thumbnail", params={"width": "320"})
    assert status == 200
    assert Image.open(io.BytesIO(jpeg)).size == (320, 180)
    status, meta = await api(
        jp_fetch, "GET", "streams", sid, "thumbnail", params={"width": "320", "format": "json"}
    )
    assert status == 200 and meta["source"] == "cache" and meta["stale"] is False
    assert meta["data_url"].startswith("data:image/jpeg;base64,") and meta["width"] == 320
    status, figures = await api(jp_fetch, "GET", "thumbnails", "cache", "stats")
    assert status == 200 and figures["hits"] >= 1 and figures["misses"] >= 1 and figures["entries"] >= 1
    assert figures["ttl_s"] == 30.0
    status, meta = await api(jp_fetch, "POST", "streams", sid, "thumbnail", "refresh")
    assert status == 200 and meta["source"] in ("probe", "live")
    status, cleared = await api(jp_fetch, "POST", "thumbnails", "cache", "clear")
    assert status == 200 and cleared["cleared"] >= 1
    assert (await api(jp_fetch, "GET", "thumbnails", "cache", "stats"))[1]["entries"] == 0
    status, error = await api(jp_fetch, "GET", "streams", sid, "thumbnail", params={"width": "5000"})
    assert status == 400 and "width" in error["error"]["message"]


async def test_a_thumbnail_without_a_picture_is_a_503_logged_below_error(jp_fetch, jp_serverapp, caplog):
    """Issue 15: an offline camera's tile asks for its thumbnail at every retry, and jupyter_server logged
    each 503 at ERROR with the request headers. No picture is a normal state: the answer stays the DESIGN
    contract's 503 with the camera's code (and a Retry-After of the remembered failure's ttl), logged at
    DEBUG without headers; a real server fault is still an ERROR."""
    sid = (await add(jp_fetch, "rtsp://127.0.0.1:9/offline", "Offline"))["id"]  # nothing listens on 9
    server_log = server_handlers.log()  # handler.log, which log_request uses
    own = not server_log.propagate  # a traitlets app's log does not reach the root's (caplog's) handler
    if own:
        server_log.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=server_log.name)
    try:
        answers = []
        for params in ({"format": "json"}, {"format": "json"}, {}, {"format": "json", "refresh": "true"}):
            with pytest.raises(HTTPClientError) as info:
                await jp_fetch("rtsp", "api", "streams", sid, "thumbnail", params=params)
            response = info.value.response
            assert response is not None and response.code == 503
            assert response.headers["Content-Type"].startswith("application/json")
            assert 1 <= int(response.headers["Retry-After"]) <= 30  # thumbnail_ttl of jp_server_config
            answers.append(json.loads(response.body))
        error = answers[0]["error"]
        assert set(error) == {"code", "message"} and error["code"] == "UNREACHABLE"
        assert answers == [answers[0]] * 4
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
        lines = [r for r in caplog.records if r.getMessage().startswith("503 GET")]
        assert len(lines) == 4 and all(r.levelno == logging.DEBUG for r in lines)
        assert "User-Agent" not in caplog.text

        caplog.clear()  # a real fault of the server: still an ERROR, with the headers
        thumbnails = jp_serverapp.web_app.settings["rtsp_notebook"]["thumbnails"]

        async def broken(*args, **kwargs):
            raise RuntimeError("a bug")

        thumbnails.get, real = broken, thumbnails.get
        try:
            status, body = await api(jp_fetch, "GET", "streams", sid, "thumbnail", params={"format": "json"})
        finally:
            thumbnails.get = real
        assert status == 500 and body["error"]["code"] == "INTERNAL"
        assert any(
            r.levelno == logging.ERROR and r.getMessage().startswith("500 GET") for r in caplog.records
        )
        assert "User-Agent" in caplog.text
    finally:
        if own:
            server_log.removeHandler(caplog.handler)


async def test_stats_routes(jp_fetch, camera):
    sid = (await add(jp_fetch, camera.url, "Door"))["id"]
    status, rows = await api(jp_fetch, "GET", "stats")
    assert status == 200 and len(rows) == 1
    for key in ("state", "viewers", "uptime_s", "restarts", "fps", "kbps", "bytes_out", "dropped_bytes",
                "last_frame_age_s", "last_error"):  # fmt: skip
        assert key in rows[0]
    status, one = await api(jp_fetch, "GET", "streams", sid, "stats")
    assert status == 200 and one["stream_id"] == sid and one["label"] == "Door" and one["state"] == "idle"


# -- authentication and XSRF --------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "parts"), ROUTES, ids=[f"{m} {'/'.join(p)}" for m, p in ROUTES])
async def test_every_route_needs_authentication(jp_fetch, method, parts):
    status, _ = await api(
        jp_fetch,
        method,
        *parts,
        headers={"Authorization": ""},
        body={"url": "rtsp://cam/x"} if method != "GET" and method != "DELETE" else None,
    )
    assert status == 403


async def test_cookie_authenticated_mutation_needs_xsrf(jp_fetch, jp_serverapp):
    cookies = await login_cookies(jp_fetch, jp_serverapp)
    status, _ = await api(jp_fetch, "GET", "streams", headers={"Authorization": "", "Cookie": cookies})
    assert status == 200, "the cookie alone authenticates a read"
    status, error = await api(jp_fetch, "POST", "streams", body={"url": "rtsp://cam/x"},
                              headers={"Authorization": "", "Cookie": cookies})  # fmt: skip
    assert status == 403 and "_xsrf" in error["error"]["message"]
    assert await api(jp_fetch, "GET", "streams") == (200, [])


# -- WebSocket ------------------------------------------------------------------------------------------
async def test_websocket_plays_whole_packets_after_video_start(jp_fetch, open_viewer, camera):
    stream = await add(jp_fetch, camera.url)
    sid = stream["id"]
    viewer = await open_viewer(sid, video_only="1", client_id="abc")  # accepted and ignored
    await viewer.read_until(lambda v: len(v.binary) >= 50 * PACKET_SIZE)
    assert viewer.types()[0] == ("status", "connecting")
    start = next(m for m in viewer.messages if m["type"] == "video_start")
    assert start == {
        "type": "video_start",
        "codec": "mpeg1video",
        "width": 640,
        "height": 360,
        "fps": 15.0,
        "max_kbps": 1500,  # the grid profile's ceiling (EngineConfig.mpeg1_grid_kbps)
    }
    assert viewer.binary[0] == 0x47 and len(viewer.binary) % PACKET_SIZE == 0
    assert await api(jp_fetch, "GET", "streams", sid) == (200, {**stream, "state": "playing", "viewers": 1})
    # a warm join starts with PAT, PMT and an I-frame
    late = await open_viewer(sid)
    await late.read_until(lambda v: len(v.binary) >= 3 * PACKET_SIZE)
    assert [m["type"] for m in late.messages[:2]] == ["status", "video_start"]
    pids = [((late.binary[i + 1] & 0x1F) << 8) | late.binary[i + 2] for i in (0, PACKET_SIZE)]
    assert pids[0] == 0
    viewer.conn.close()
    late.conn.close()
    await wait_until(lambda: not ffmpeg_children(), 10, "the relay to stop after its idle timeout")


async def test_websocket_controls(jp_fetch, open_viewer, camera):
    sid = (await add(jp_fetch, camera.url))["id"]
    viewer = await open_viewer(sid)
    await viewer.read_until(lambda v: len(v.binary) > 10 * PACKET_SIZE)
    await viewer.send("pause")
    await viewer.read_until(lambda v: ("status", "paused") in v.types())
    await viewer.send("!not json")
    await viewer.read_until(lambda v: any(m.get("code") == "BAD_REQUEST" for m in v.messages))
    bad = next(m for m in viewer.messages if m.get("code") == "BAD_REQUEST")
    assert bad["fatal"] is False and bad["message"] == "the message is not valid JSON"
    await viewer.send(json.dumps({"action": "dance"}))
    await viewer.read_until(lambda v: sum(m.get("code") == "BAD_REQUEST" for m in v.messages) == 2)
    paused_at = len(viewer.binary)
    await viewer.send("resume")
    await viewer.read_until(lambda v: len(v.binary) > paused_at + 3 * PACKET_SIZE)
    resumed = bytes(viewer.binary[paused_at : paused_at + PACKET_SIZE])
    assert ((resumed[1] & 0x1F) << 8 | resumed[2]) == 0, "resume starts at PAT (keyframe cache)"
    await viewer.send("stop")
    await viewer.read_until(lambda v: ("status", "stopped") in v.types())
    await wait_until(lambda: not ffmpeg_children(), 10, "the relay to stop without viewers")
    await viewer.send("start")
    stopped_at = len(viewer.binary)
    await viewer.read_until(lambda v: len(v.binary) > stopped_at + 10 * PACKET_SIZE)
    assert not viewer.closed
    viewer.conn.close()


async def test_websocket_ended_on_delete(jp_fetch, open_viewer, camera):
    sid = (await add(jp_fetch, camera.url))["id"]
    viewer = await open_viewer(sid, profile="full")
    await viewer.read_until(lambda v: any(m["type"] == "video_start" for m in v.messages))
    assert await api(jp_fetch, "DELETE", "streams", sid) == (204, b"")
    await viewer.read_until(lambda v: v.closed or ("status", "ended") in v.types())
    assert ("status", "ended") in viewer.types()


async def test_websocket_refusals(jp_fetch, jp_ws_fetch, open_viewer, jp_serverapp, jp_http_port, camera):
    sid = (await add(jp_fetch, camera.url))["id"]
    # the login cookie is named after the host it was set for (jp_fetch talks to 127.0.0.1)
    host = f"127.0.0.1:{jp_http_port}"
    cookie = {"Authorization": "", "Cookie": await login_cookies(jp_fetch, jp_serverapp), "Host": host}
    same_origin = await open_viewer(sid, headers={**cookie, "Origin": f"http://{host}"})
    await same_origin.read_until(lambda v: v.messages)
    for params, headers, code in [
        ({"id": "0123456789ab"}, {}, 404),
        ({"id": "../x"}, {}, 404),
        ({"id": sid, "profile": "huge"}, {}, 400),
        ({"id": sid}, {"Authorization": ""}, 403),
        ({"id": sid}, {**cookie, "Origin": "http://evil.example"}, 403),
    ]:
        with pytest.raises(HTTPClientError) as info:
            await jp_ws_fetch("rtsp", "ws", "stream", params=params, headers=headers)
        assert info.value.code == code, (params, headers)


async def test_no_password_in_any_answer_or_log_line(jp_fetch, open_viewer, camera_factory, caplog):
    caplog.set_level(logging.DEBUG)
    camera = camera_factory(user="admin", password=PASSWORD)
    wrong = camera.url_with("admin", PASSWORD + "x")
    sid = (await add(jp_fetch, wrong, "Wrong"))["id"]
    viewer = await open_viewer(sid)
    await viewer.read_until(lambda v: any(m.get("code") == "AUTH" for m in v.messages))
    answers = [json.dumps(viewer.messages)]
    for parts in (("streams",), ("streams", sid), ("stats",), ("streams", sid, "stats"), ("health",)):
        answers.append(json.dumps((await api(jp_fetch, "GET", *parts))[1]))
    answers.append(json.dumps((await api(jp_fetch, "POST", "streams", body={"url": wrong}))[1]))
    assert "401" in caplog.text or "AUTH" in caplog.text, "FFmpeg's refusal was logged"
    for text in [*answers, caplog.text]:
        for secret in (PASSWORD, urllib.parse.quote(PASSWORD, safe="")):
            assert secret not in text, text
    viewer.conn.close()


@pytest.mark.parametrize(
    ("codec", "ffmpegs"),
    [
        # the source relay (the camera's one session) and the grid's MPEG-1 transcode fed from it
        ("mpeg1", {"source": 1, "grid": 20}),
        ("h264", {"source": 20}),  # the camera's own video: the source relay alone
    ],
)
async def test_twenty_simultaneous_viewers_share_one_ffmpeg(jp_fetch, open_viewer, camera, codec, ffmpegs):
    """Twenty viewers of a profile share its one FFmpeg (``ffmpegs``: the relays, each with its
    subscriptions: a transcode's feed is the source relay's one subscription)."""
    import asyncio

    sid = (await add(jp_fetch, camera.url))["id"]
    viewers = await asyncio.gather(*(open_viewer(sid, codec=codec) for _ in range(20)))
    await asyncio.gather(*(v.read_until(lambda v: len(v.binary) >= 20 * PACKET_SIZE) for v in viewers))
    assert len(ffmpeg_children()) == len(ffmpegs)
    status, stats = await api(jp_fetch, "GET", "streams", sid, "stats")
    assert status == 200 and stats["viewers"] == 20
    relays = {r["profile"]: r for r in stats["relays"]}
    assert {p: r["viewers"] for p, r in relays.items()} == ffmpegs, stats["relays"]
    assert all(r["pid"] for r in relays.values()), stats["relays"]
    assert {r["pid"] for r in relays.values()} == {p.pid for p in ffmpeg_children()}
    for viewer in viewers:
        viewer.conn.close()
    await wait_until(lambda: not ffmpeg_children(), 10, "the last FFmpeg to stop after the idle timeout")


async def test_a_url_change_restarts_the_running_relay(jp_fetch, open_viewer, camera_factory):
    first, second = camera_factory(), camera_factory(width=320, height=240)
    sid = (await add(jp_fetch, first.url))["id"]
    viewer = await open_viewer(sid, profile="full")
    await viewer.read_until(lambda v: any(m["type"] == "video_start" for m in v.messages))
    status, changed = await api(jp_fetch, "PATCH", "streams", sid, body={"url": second.url})
    assert status == 200 and changed["url"] == second.url
    await viewer.read_until(lambda v: sum(m["type"] == "video_start" for m in v.messages) == 2)
    starts = [m for m in viewer.messages if m["type"] == "video_start"]
    assert (starts[0]["width"], starts[1]["width"]) == (640, 320)
    assert not viewer.closed


async def test_reconnect_retries_at_once_during_a_backoff(jp_fetch, open_viewer, camera):
    sid = (await add(jp_fetch, camera.url))["id"]
    camera.stop()
    viewer = await open_viewer(sid)
    # wait for a backoff of at least 3.2 s (attempt 4: 4 s ± 20 %)
    await viewer.read_until(lambda v: any(m.get("retry_in_s", 0) >= 3.2 for m in v.messages), timeout=15)
    camera.start()
    await viewer.send("reconnect")  # the next attempt starts now, not after the backoff
    await viewer.read_until(lambda v: any(m["type"] == "video_start" for m in v.messages), timeout=2.5)
    assert any(m.get("code") == "UNREACHABLE" for m in viewer.messages)


async def test_prometheus_metrics_per_relay(jp_fetch, open_viewer, camera):
    sid = (await add(jp_fetch, camera.url))["id"]
    viewer = await open_viewer(sid)
    await viewer.read_until(lambda v: len(v.binary) >= 20 * PACKET_SIZE)
    response = await jp_fetch("metrics", method="GET")
    text = response.body.decode()
    key = f'profile="grid",stream_id="{sid}"'
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("rtsp_notebook_")
    }
    assert values["rtsp_notebook_relays"] == 2  # the grid's transcode and the source relay it reads
    assert values[f"rtsp_notebook_viewers{{{key}}}"] == 1
    assert values[f"rtsp_notebook_bytes_out_total{{{key}}}"] > 0
    assert values[f"rtsp_notebook_restarts_total{{{key}}}"] == 0
    # prometheus_client writes labels sorted by name
    assert values[f'rtsp_notebook_state{{profile="grid",state="playing",stream_id="{sid}"}}'] == 1
    assert values[f'rtsp_notebook_state{{profile="grid",state="reconnecting",stream_id="{sid}"}}'] == 0
    assert 0 <= values[f"rtsp_notebook_last_frame_age_seconds{{{key}}}"] < 5
    for name in ("fps", "kbps", "bytes_in_total", "dropped_bytes_total", "drops_total"):
        assert f"rtsp_notebook_{name}{{{key}}}" in values, name
    # the source relay (the camera's own video) is labelled profile="source"; its one subscription is
    # the grid's transcode, which it has handed bytes to
    source = f'profile="source",stream_id="{sid}"'
    assert values[f"rtsp_notebook_viewers{{{source}}}"] == 1
    assert values[f"rtsp_notebook_bytes_in_total{{{source}}}"] > 0
    assert values[f"rtsp_notebook_bytes_out_total{{{source}}}"] > 0
    assert values[f'rtsp_notebook_state{{profile="source",state="playing",stream_id="{sid}"}}'] == 1
