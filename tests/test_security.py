"""Security suite: the authentication matrix over every route and the WebSocket, more than fifty hostile
source URLs through every way in, and a sweep that sends a password-bearing URL through every path and
searches every answer, message, metric and log line for it. (The widget's label-as-text check is in
tests/test_widget.py; reprs, DataFrames, widget state and a saved notebook in tests/test_hub.py and
tests/test_notebooks.py.)"""

from __future__ import annotations

import json
import logging
import urllib.parse

import pytest
from tornado.httpclient import HTTPClientError

from .harness.jp_server import ROUTES, add, api, login_cookies

PASSWORD = "Sw33p-P@ss/w0rd"
WRONG_TOKEN = {"Authorization": "token not-the-token"}
MUTATIONS = [(m, p) for m, p in ROUTES if m not in ("GET",)]

HOSTILE_URLS = [
    # other schemes and FFmpeg protocols
    "file:///etc/passwd", "FILE:///etc/shadow", "http://example.com/x", "https://example.com/x",
    "ftp://example.com/x", "tcp://127.0.0.1:22", "udp://127.0.0.1:53", "rtmp://example.com/live",
    "hls+http://example.com/x.m3u8", "concat:a|b", "subfile:,,start,0,end,0,,:/etc/passwd", "pipe:0",
    "pipe:1", "data:text/plain,hi", "crypto:file:///etc/passwd", "cache:file:///etc/passwd",
    "async:file:///etc/passwd", "gopher://example.com/", "smb://server/share", "srt://127.0.0.1:9000",
    "javascript:alert(1)", "/etc/passwd", "./local.mp4", "~/video.mp4", "C:\\video.mp4",
    # option and header injection
    "-i", "-f lavfi -i testsrc", "rtsp://cam/x\nHost: evil", "rtsp://cam/x\r\nX: y", "rtsp://cam/x\x00",
    "rtsp://cam/x\ty", "rtsp://cam/ x", "rtsp://cam/x\u2028y", " rtsp://cam/x",
    # malformed rtsp
    "rtsp://", "rtsp:/cam/x", "rtsp:cam", "rtsp://:554/x", "rtsp://cam:0/x", "rtsp://cam:70000/x",
    "rtsp://cam:-1/x", "rtsp://cam:abc/x", "rtsp://cam/x#frag", "rtsp://a@b@cam/x", "rtsp://@cam/x",
    "rtsp://user:%zz@cam/x", "rtsp://[::1/x", "rtsp://::1/x", "rtsp://999.1.1.1/x", "rtsp://01.2.3.4/x",
    "rtsp://-cam-/x", "rtsp://" + "a" * 64 + ".example/x",
    # demo sources
    "demo://nope", "demo://testsrc2?size=99999x99999", "demo://testsrc2?fps=1000", "demo://user:pw@testsrc2",
    "demo://testsrc2?filter=movie=/etc/passwd",
    # sizes and types
    "x" * 3000, "rtsp://cam/" + "x" * 2100, "", 42, None, ["rtsp://cam/x"], {"url": "rtsp://cam/x"},
]  # fmt: skip


# -- authentication matrix ------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "parts"), ROUTES, ids=[f"{m} {'/'.join(p)}" for m, p in ROUTES])
async def test_a_wrong_token_is_refused_on_every_route(jp_fetch, method, parts):
    body = {"url": "rtsp://cam/x"} if method not in ("GET", "DELETE") else None
    status, _ = await api(jp_fetch, method, *parts, headers=WRONG_TOKEN, body=body)
    assert status == 403


@pytest.mark.parametrize(("method", "parts"), MUTATIONS, ids=[f"{m} {'/'.join(p)}" for m, p in MUTATIONS])
async def test_a_cookie_without_xsrf_cannot_mutate(jp_fetch, jp_serverapp, method, parts):
    cookies = await login_cookies(jp_fetch, jp_serverapp)
    body = {"url": "rtsp://cam/x"} if method != "DELETE" else None
    status, error = await api(
        jp_fetch, method, *parts, body=body, headers={"Authorization": "", "Cookie": cookies}
    )
    assert status == 403 and "_xsrf" in error["error"]["message"]


async def test_the_websocket_refuses_no_token_a_wrong_token_and_another_origin(
    jp_fetch, jp_ws_fetch, jp_serverapp, jp_http_port, camera
):
    sid = (await add(jp_fetch, camera.url))["id"]
    host = f"127.0.0.1:{jp_http_port}"
    cookie = {"Authorization": "", "Cookie": await login_cookies(jp_fetch, jp_serverapp), "Host": host}
    for headers in (
        {"Authorization": ""},
        WRONG_TOKEN,
        {**cookie, "Origin": "http://evil.example"},
        {**cookie, "Origin": f"http://{host}.evil.example"},
        {"Authorization": "", "Cookie": "username-127-0-0-1=forged", "Host": host},
    ):
        with pytest.raises(HTTPClientError) as info:
            await jp_ws_fetch("rtsp", "ws", "stream", params={"id": sid}, headers=headers)
        assert info.value.code == 403, headers


# -- hostile URLs -----------------------------------------------------------------------------------------
def test_there_are_at_least_fifty_hostile_urls():
    assert len(HOSTILE_URLS) >= 50


@pytest.mark.parametrize("url", HOSTILE_URLS, ids=range(len(HOSTILE_URLS)))
async def test_hostile_urls_are_refused_by_post_patch_and_probe(jp_fetch, url):
    sid = (await add(jp_fetch, "rtsp://127.0.0.1:9/ok", "Safe"))["id"]
    for method, parts, params in (
        ("POST", ("streams",), None),
        ("POST", ("streams",), {"probe": "true"}),
        ("PATCH", ("streams", sid), None),
    ):
        status, error = await api(jp_fetch, method, *parts, body={"url": url}, params=params)
        assert status == 400 and error["error"]["code"] == "INVALID_URL", (method, params, error)
    status, streams = await api(jp_fetch, "GET", "streams")
    assert [(s["id"], s["url"]) for s in streams] == [(sid, "rtsp://127.0.0.1:9/ok")], "nothing stored"


# -- the password sweep -----------------------------------------------------------------------------------
async def test_a_password_never_comes_back(jp_fetch, jp_ws_fetch, open_viewer, camera_factory, caplog):
    caplog.set_level(logging.DEBUG)
    camera = camera_factory(user="admin", password=PASSWORD)
    good = camera.url_with("admin", PASSWORD)
    wrong = camera.url_with("admin", PASSWORD + "x")
    answers: list[str] = []

    async def call(method, *parts, body=None, params=None):
        status, data = await api(jp_fetch, method, *parts, body=body, params=params)
        answers.append(data.decode() if isinstance(data, bytes) else json.dumps(data))
        return status, data

    status, created = await call(
        "POST", "streams", body={"url": good, "label": "Door"}, params={"probe": "true"}
    )
    assert status == 201, created
    sid = created["id"]
    viewer = await open_viewer(sid)
    await viewer.read_until(lambda v: len(v.binary) > 10_000)
    await call("GET", "streams")
    await call("GET", "streams", sid)
    await call("GET", "streams", sid, "thumbnail", params={"format": "json"})
    await call("POST", "streams", sid, "thumbnail", "refresh")
    await call("POST", "streams", body={"url": good})  # CONFLICT names the stream, not the URL
    await call("POST", "streams", body={"url": wrong}, params={"probe": "true"})  # AUTH, 422
    await call("PATCH", "streams", sid, body={"url": wrong})  # restarts the relay: AUTH on the socket
    await viewer.read_until(lambda v: any(m.get("code") == "AUTH" for m in v.messages), timeout=30)
    await call("GET", "stats")
    await call("GET", "streams", sid, "stats")
    await call("GET", "events")
    await call("GET", "health")
    metrics = (await jp_fetch("metrics", method="GET")).body.decode()
    await call("DELETE", "streams", sid)
    texts = [*answers, json.dumps(viewer.messages), metrics, caplog.text]
    assert "admin:***@" in "".join(answers)
    for text in texts:
        for secret in (PASSWORD, urllib.parse.quote(PASSWORD, safe=""), PASSWORD + "x"):
            assert secret not in text, text[:3000]
