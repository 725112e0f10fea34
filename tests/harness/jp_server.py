"""The server tests' view of pytest-jupyter's in-process server with the extension (a pytest plugin).

``jp_server_config`` (the extension enabled, a fresh store and an empty ``clips_dir`` folder in the test's
tmp_path, short idle and thumbnail times; a module that needs others overrides it), ``clips_dir`` and
``open_viewer`` (WebSocket viewers, closed at teardown) are fixtures, registered once by
``tests/conftest.py``; ``api``, ``add`` and ``login_cookies`` call the REST
API through ``jp_fetch``, ``with_prebuffer``, ``prebuffer_kept`` and ``clip_finished`` the clips' routes;
``ROUTES`` is every REST route; ``Viewer`` sorts what a WebSocket viewer receives.
Used by the server's tests (test_server, test_security, test_clips_api, test_clips_sources, ...).
"""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from .helpers import wait_for


@pytest.fixture
def clips_dir(tmp_path):
    """The server's clips folder (its ``clips_dir``): empty, in the test's tmp_path."""
    folder = tmp_path / "clips"
    folder.mkdir()
    return folder


@pytest.fixture
def jp_server_config(tmp_path, clips_dir):
    return Config({
        "ServerApp": {"jpserver_extensions": {"rtsp_notebook": True}},
        "RtspNotebookApp": {
            "store_path": str(tmp_path / "streams.db"), "idle_timeout": 0.5, "thumbnail_ttl": 30.0,
            "clips_dir": str(clips_dir),
        },
    })  # fmt: skip


async def api(jp_fetch, method, *parts, body=None, params=None, headers=None):
    """(status, JSON or bytes) of an API call; errors do not raise."""
    kwargs = {"method": method, "params": params or {}, "headers": headers or {}}
    if body is not None:
        kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
    elif method in ("POST", "PUT", "PATCH"):
        kwargs["body"] = b""
    try:
        response = await jp_fetch("rtsp", "api", *parts, **kwargs)
    except HTTPClientError as exc:
        response = exc.response
        assert response is not None, exc
    content_type = response.headers.get("Content-Type", "")
    data = json.loads(response.body) if "json" in content_type and response.body else response.body
    return response.code, data


async def add(jp_fetch, url, label=None, **params):
    status, data = await api(jp_fetch, "POST", "streams", body={"url": url, "label": label}, params=params)
    assert status == 201, data
    return data


SID = "0123456789ab"
ROUTES = [
    ("GET", ("health",)), ("GET", ("streams",)), ("POST", ("streams",)), ("GET", ("streams", SID)),
    ("PATCH", ("streams", SID)), ("PUT", ("streams", SID)), ("DELETE", ("streams", SID)),
    ("GET", ("streams", SID, "thumbnail")), ("POST", ("streams", SID, "thumbnail", "refresh")),
    ("GET", ("thumbnails", "cache", "stats")), ("POST", ("thumbnails", "cache", "clear")),
    ("GET", ("stats",)), ("GET", ("streams", SID, "stats")), ("GET", ("events",)),
]  # fmt: skip


async def with_prebuffer(jp_fetch, sid: str, seconds: float) -> None:
    status, body = await api(jp_fetch, "PATCH", "streams", sid, body={"options": {"prebuffer_s": seconds}})
    assert status == 200, body


async def prebuffer_kept(jp_fetch, sid: str, seconds: float, timeout: float = 30) -> dict:
    """Wait until the stream's prebuffer holds ``seconds``; its stats then."""

    async def check():
        status, stats = await api(jp_fetch, "GET", "streams", sid, "stats")
        assert status == 200, stats
        return stats["prebuffer_s"] >= seconds and stats

    return await wait_for(check, timeout, f"{seconds} s in the prebuffer")


async def clip_finished(jp_fetch, clip_id: str, timeout: float = 30, each=None) -> dict:
    """Wait for a clip job to end (``each``: an async check run at every poll while it records); its state."""

    async def done():
        status, body = await api(jp_fetch, "GET", "clips", clip_id)
        assert status == 200, body
        if body["status"] == "recording" and each is not None:
            await each()
        return body["status"] != "recording" and body

    return await wait_for(done, timeout, "the clip to finish")


async def login_cookies(jp_fetch, jp_serverapp) -> str:
    """The cookies of a browser that logged in (a token in the URL sets the login cookie)."""
    token = jp_serverapp.identity_provider.token
    response = await jp_fetch("rtsp", "api", "health", params={"token": token}, headers={"Authorization": ""})
    cookies = "; ".join(c.split(";", 1)[0] for c in response.headers.get_list("Set-Cookie"))
    assert cookies
    return cookies


class Viewer:
    """A WebSocket client that sorts what it receives."""

    def __init__(self, conn):
        self.conn = conn
        self.binary = bytearray()
        self.messages: list[dict] = []
        self.closed = False

    async def read_until(self, predicate, timeout=10.0):
        import asyncio

        async def loop():
            while not predicate(self):
                msg = await self.conn.read_message()
                if msg is None:
                    self.closed = True
                    if not predicate(self):
                        raise AssertionError(f"socket closed before the condition; messages: {self.messages}")
                    return
                if isinstance(msg, bytes):
                    self.binary += msg
                else:
                    self.messages.append(json.loads(msg))

        await asyncio.wait_for(loop(), timeout)

    def types(self):
        return [(m["type"], m.get("phase")) for m in self.messages]

    def send(self, action):
        """Send ``{"action": action}``; a dict or raw text (``!``-prefixed) as it is."""
        if isinstance(action, str) and action.startswith("!"):
            return self.conn.write_message(action[1:])
        return self.conn.write_message(json.dumps({"action": action}) if isinstance(action, str) else action)


@pytest.fixture
def open_viewer(jp_ws_fetch):
    """Opens WebSocket viewers and closes every one at teardown, before the server stops (tornado
    waits for every connection to close when the test server shuts down)."""
    opened: list[Viewer] = []

    async def open_(sid, headers=None, **params):
        viewer = Viewer(
            await jp_ws_fetch("rtsp", "ws", "stream", params={"id": sid, **params}, headers=headers)
        )
        opened.append(viewer)
        return viewer

    yield open_
    for viewer in opened:
        viewer.conn.close()
