"""Issue 12: errors that say what happened, to every consumer, at once; no retry storm on a wrong password.

One table (``CASES``) of broken upstreams, all real servers on 127.0.0.1 (the GStreamer camera of
``tests/harness/camera.py`` and the small servers of ``tests/upstreams.py``; ``RtspStatusServer`` is the
one fake RTSP server, for a status real servers do not give on demand), each with the error code and a
fragment of the message every consumer must show:

- ``probe``: ``POST streams?probe=true`` on a real Jupyter server with the extension -> 422 and the code;
- ``websocket``: the relay's ``error`` message on ``rtsp/ws/stream`` (a retried error ends with "; retrying",
  ``AUTH`` is not retried and the next status says so; no two identical status messages in a row);
- ``thumbnail``: ``GET streams/{id}/thumbnail`` -> 503 and the code;
- ``snapshot-rest`` / ``snapshot-local``: ``Stream.snapshot()`` of the REST hub (``rn.connect(url=...)``) and
  of an in-process hub raises the error class of the code;
- ``frames-rest`` / ``frames-local``: ``Stream.frames()`` raises it: a camera error that retrying will not fix
  within a second of the relay knowing it, a retried one (``TIMEOUT``, ``UNREACHABLE``) at the reader's own
  timeout, with the relay's code and message;
- ``stats-rest`` / ``stats-local``: ``Stream.stats()`` ``last_error`` (and each relay's ``last_error_code``),
  and ``Hub.stats()``;
- ``events-rest`` / ``events-local``: ``Hub.events()`` has error events of the stream with the code.

A second viewer joining the failing relay (``websocket-late``, another tile) is told the same error at once.
Every text any consumer shows is checked for FFmpeg's noise, a memory address and the password (every URL
carries one). The camera that stops mid-stream is played first; it must be reported ``DISCONNECTED``
("; retrying") and play again after it restarts, while ``frames()`` loops go on.

Each table row is run once, all its consumers at the same time (``_run_case``, by the first of its cells that
runs, in that test's Jupyter server), and each (case, consumer) cell asserts its own part of the outcome, so a
known bug is an ``xfail`` of that cell alone. Waits are conditions with deadlines; the relay's timeouts are
shortened (``START_TIMEOUT``) so that the silent port takes seconds, not tens of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

import rtsp_notebook as rn
from rtsp_notebook.api.service import StreamService
from rtsp_notebook.engine import EngineConfig
from rtsp_notebook.errors import (
    AuthError,
    CameraNotFoundError,
    DisconnectedError,
    RtspNotebookError,
    SourceError,
    SourceTimeoutError,
    UnreachableError,
    UnsupportedError,
)
from rtsp_notebook.media.relay import RelayConfig
from rtsp_notebook.notebook.hub import Hub
from rtsp_notebook.notebook.runtime import loop_thread
from rtsp_notebook.notebook.transports import LocalTransport

from .harness.camera import TestCamera
from .harness.helpers import POLL, wait_until
from .harness.require import require_camera
from .upstreams import (
    HttpServer,
    JunkServer,
    RtspStatusServer,
    SilentPort,
    stop_mid_stream,
    unresolvable_url,
)

USER = "admin"
PASSWORD = "Pa55-w0rd!x"  # in every URL: no answer, message or event may show it
WRONG = "wr0ng-Pa55!"  # the wrong password of the AUTH cases
SECRETS = tuple({p for w in (PASSWORD, WRONG, WRONG + "2") for p in (w, urllib.parse.quote(w, safe=""))})

NOISE = re.compile(
    r"Last message repeated|corrupt decoded frame|Input/output error|Invalid data found|Error opening input"
)
ADDRESS = re.compile(r"@ ?0x[0-9a-f]+", re.I)

START_TIMEOUT = 1.5  # s the relay waits for the camera's answer (the silent port)
DETECT_S = 2.0  # s for a relay (or a one-shot FFmpeg) to know a fast error: FFmpeg's start and one exchange
FRAMES_TIMEOUT = 2.5  # s of the frames() reader for errors the relay retries (raised at its timeout)
ONE_SHOT_TIMEOUT = 5.0  # s of a probe (service.PROBE_TIMEOUT) and of a thumbnail grab (not server settings)
LATE_S = 1.0  # s past the detection within which every consumer shows the error


@pytest.fixture
def jp_server_config(tmp_path: Path) -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"rtsp_notebook": True}},
        "RtspNotebookApp": {
            "store_path": str(tmp_path / "streams.db"), "idle_timeout": 0.5, "start_timeout": START_TIMEOUT,
            "keyframe_timeout": 5.0, "stall_timeout": 3.0, "reconnect_max_delay": 1.0, "thumbnail_ttl": 30.0,
        },
    })  # fmt: skip


def _local_config() -> EngineConfig:
    """The in-process hub's engine, with the server's timings."""
    relay = RelayConfig(
        idle_timeout=0.5,
        start_timeout=START_TIMEOUT,
        keyframe_timeout=5.0,
        stall_timeout=3.0,
        backoff_max=1.0,
    )
    return EngineConfig(relay=relay)


# -- the table -----------------------------------------------------------------------------------------------
def _userinfo(password: str = PASSWORD) -> str:
    return f"{USER}:{urllib.parse.quote(password, safe='')}@"


def _camera(stack: contextlib.ExitStack, **kwargs: Any) -> TestCamera:
    require_camera()
    camera = TestCamera(width=320, height=180, fps=15, keyint=8, **kwargs)
    stack.callback(camera.stop)
    return camera.start()


def _on_camera(
    url: Callable[[TestCamera], str], options: dict[str, Any] | None = None, **kwargs: Any
) -> Make:
    def make(stack: contextlib.ExitStack) -> tuple[str, dict[str, Any], Any]:
        camera = _camera(stack, **kwargs)
        return url(camera), options or {}, camera

    return make


def _on_server(server: Callable[[], Any]) -> Make:
    def make(stack: contextlib.ExitStack) -> tuple[str, dict[str, Any], Any]:
        up = stack.enter_context(server())
        return up.url_with(USER, PASSWORD), {}, up

    return make


def _unresolvable(_stack: contextlib.ExitStack) -> tuple[str, dict[str, Any], Any]:
    return unresolvable_url().replace("rtsp://", f"rtsp://{_userinfo()}", 1), {}, None


def _plain(camera: TestCamera, path: str = "/cam", scheme: str = "rtsp") -> str:
    return f"{scheme}://{_userinfo()}127.0.0.1:{camera.port}{path}"


Make = Callable[[contextlib.ExitStack], tuple[str, dict[str, Any], Any]]  # -> (url, options, the upstream)


@dataclass(frozen=True)
class Case:
    id: str
    make: Make  # starts the upstream on the stack: the stream's URL (with a password), options, the upstream
    code: str
    message: str  # a regex every consumer's message must match
    error: type[SourceError]  # what the hubs raise
    frames: str = "now"  # "now": within a second of the relay knowing; "timeout": at the reader's timeout
    mid_stream: bool = False  # played first, then the camera stops (and restarts)
    detect_s: float = DETECT_S  # s for the relay to know the error
    one_shot_s: float = DETECT_S  # s for a probe or a grab (their own FFmpeg) to know it
    camera: bool = True  # the upstream is the GStreamer camera (pytest -m "not camera" leaves the case out)

    def __str__(self) -> str:
        return self.id


CASES = [
    Case("camera-stopped-mid-stream", _on_camera(_plain), "DISCONNECTED", r"the camera ended the session",
         DisconnectedError, mid_stream=True),
    Case("wrong-digest-password", _on_camera(lambda c: c.url_with(USER, WRONG), user=USER, password=PASSWORD,
         auth="digest"), "AUTH", r"refused the user name or password \(RTSP 401", AuthError),
    Case("wrong-basic-password", _on_camera(lambda c: c.url_with(USER, WRONG), user=USER, password=PASSWORD,
         auth="basic"), "AUTH", r"refused the user name or password \(RTSP 401", AuthError),
    Case("wrong-mount", _on_camera(lambda c: _plain(c, "/no-such-mount")), "NOT_FOUND",
         r"no stream at this path \(RTSP 404", CameraNotFoundError),
    Case("udp-only-camera-tcp-forced", _on_camera(_plain, {"transport": "tcp"}, protocols="udp"),
         "UNSUPPORTED", r"refused this RTP transport \(RTSP 461", UnsupportedError),
    Case("rtsps-to-a-plain-camera", _on_camera(lambda c: _plain(c, scheme="rtsps")), "UNSUPPORTED",
         r"TLS handshake failed.*rtsps://", UnsupportedError),
    # what was waited for: the camera's RTSP answer
    Case("silent-port", _on_server(SilentPort), "TIMEOUT", r"(?=.*\banswer).*\bRTSP\b", SourceTimeoutError,
         frames="timeout", detect_s=START_TIMEOUT + 1.0, one_shot_s=ONE_SHOT_TIMEOUT + 0.5, camera=False),
    Case("http-server-on-the-port", _on_server(lambda: HttpServer(200)), "UNSUPPORTED",
         r"does not speak RTSP", UnsupportedError, camera=False),
    Case("junk-bytes", _on_server(JunkServer), "UNSUPPORTED", r"does not speak RTSP", UnsupportedError,
         camera=False),
    Case("rtsp-460-on-play",
         _on_server(lambda: RtspStatusServer(460, "Only aggregate operation allowed", "PLAY")), "UNSUPPORTED",
         r"answered PLAY with RTSP 460 \(Only aggregate operation allowed\)", UnsupportedError, camera=False),
    Case("unresolvable-host", _unresolvable, "UNREACHABLE", r"host name cannot be resolved", UnreachableError,
         frames="timeout", camera=False),
]  # fmt: skip

# consumers that do not apply to a camera stopped mid-stream: a one-shot FFmpeg to the stopped camera is a
# refused connection (another case), and a viewer joining then hears of the refusals
NOT_MID_STREAM = ("probe", "thumbnail", "snapshot-rest", "snapshot-local", "websocket-late")
CONSUMERS = (
    "probe", "websocket", "websocket-late", "thumbnail", "snapshot-rest", "snapshot-local", "frames-rest",
    "frames-local", "stats-rest", "stats-local", "events-rest", "events-local",
)  # fmt: skip

# (case, consumer) -> the reason the implementation is known to be wrong there (strict xfail)
KNOWN: dict[tuple[str, str], str] = {}


def _cells() -> list[Any]:
    cells = []
    for case in CASES:
        for consumer in CONSUMERS:
            if case.mid_stream and consumer in NOT_MID_STREAM:
                continue
            marks = [pytest.mark.camera] if case.camera else []
            if (case.id, consumer) in KNOWN:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN[(case.id, consumer)]))
            cells.append(pytest.param(case, consumer, marks=marks, id=f"{case.id}-{consumer}"))
    return cells


# -- what each consumer saw ----------------------------------------------------------------------------------
@dataclass
class Seen:
    code: str | None = None
    message: str | None = None
    error: type[BaseException] | None = None  # what a hub raised
    problem: str | None = None  # the consumer did not answer as a failure should (no error, wrong status)
    texts: list[str] = field(default_factory=list)  # everything else it showed, for the leak checks
    extra: dict[str, Any] = field(default_factory=dict)
    elapsed: float | None = None


def _from_error(exc: BaseException) -> Seen:
    if isinstance(exc, RtspNotebookError):
        return Seen(exc.code, exc.message, type(exc))
    return Seen(problem=f"raised {type(exc).__name__}: {exc}", error=type(exc))


async def api(
    jp_fetch: Any, method: str, *parts: str, body: Any = None, params: Any = None
) -> tuple[int, Any]:
    """(status, JSON or bytes) of an API call; error answers do not raise."""
    kwargs: dict[str, Any] = {"method": method, "params": params or {}}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    try:
        response = await jp_fetch("rtsp", "api", *parts, **kwargs)
    except HTTPClientError as exc:
        response = exc.response
        assert response is not None, exc
    is_json = "json" in response.headers.get("Content-Type", "") and response.body
    return response.code, json.loads(response.body) if is_json else response.body


def _api_error(status: int, data: Any, want: int) -> Seen:
    if status != want or not isinstance(data, dict) or "error" not in data:
        return Seen(problem=f"HTTP {status} (want {want} with an error body): {str(data)[:300]}")
    return Seen(data["error"].get("code"), data["error"].get("message"))


class Viewer:
    """A WebSocket viewer that reads everything in the background."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.messages: list[dict[str, Any]] = []
        self.binary = 0
        self.closed = False
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while (msg := await self.conn.read_message()) is not None:
            if isinstance(msg, bytes):
                self.binary += len(msg)
            else:
                self.messages.append(json.loads(msg))
        self.closed = True

    def errors(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "error"]

    async def wait(self, predicate: Callable[[Viewer], Any], timeout: float, what: str) -> Any:
        """``predicate(self)`` once it is truthy; fails past ``timeout`` s or when the socket closes first."""
        deadline = time.monotonic() + timeout
        while not (value := predicate(self)):
            if self.closed or time.monotonic() > deadline:
                why = "the socket closed" if self.closed else f"timed out after {timeout:g} s"
                raise AssertionError(f"{why} waiting for {what}; messages: {self.messages}")
            await asyncio.sleep(POLL)
        return value

    async def close(self) -> None:
        self.conn.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), 5)
        self._task.cancel()


class _Local(LocalTransport):
    """The in-process transport (what ``rn.connect(local=True)`` uses) on a service with short timeouts."""

    def __init__(self, service: StreamService) -> None:
        self.service = service
        self.where = f"in-process, store {service.engine.store.store.path}"


def _next(reader: Any) -> tuple[str, Any]:
    """A step of a frames() reader, in a thread: ("picture", array), ("error", exc) or ("end", None)."""
    try:
        return "picture", next(reader)
    except StopIteration:
        return "end", None
    except Exception as exc:  # noqa: BLE001 - what frames() raised is the outcome
        return "error", exc


async def _step(reader: Any, deadline: float) -> tuple[str, Any]:
    """``_next`` with a deadline: ("late", None) when nothing came in time (the reader is then closed)."""
    task = asyncio.ensure_future(asyncio.to_thread(_next, reader))
    try:
        return await asyncio.wait_for(asyncio.shield(task), deadline)
    except asyncio.TimeoutError:
        await asyncio.to_thread(reader.close)  # wakes the blocked next()
        await task
        return "late", None


@dataclass
class Env:
    """A case's consumers: the Jupyter server (REST, WebSocket), its REST hub and an in-process hub."""

    jp_fetch: Any
    jp_ws_fetch: Any
    rest: Hub
    local: Hub
    service: StreamService
    viewers: list[Viewer] = field(default_factory=list)

    async def viewer(self, sid: str, profile: str = "grid") -> Viewer:
        conn = await self.jp_ws_fetch("rtsp", "ws", "stream", params={"id": sid, "profile": profile})
        viewer = Viewer(conn)
        self.viewers.append(viewer)
        return viewer

    async def add(self, url: str, options: dict[str, Any]) -> tuple[str, str]:
        """The stream in both hubs: (REST id, local id)."""
        status, data = await api(self.jp_fetch, "POST", "streams", body={"url": url, "options": options})
        assert status == 201, data
        local = await asyncio.to_thread(self.local.add, url, options=options)
        return data["id"], local.id


async def _within(coro: Awaitable[Seen], seconds: float, what: str) -> Seen:
    """What a consumer showed, with a problem if it took longer than ``seconds`` (it is still awaited)."""
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.wait_for(asyncio.shield(task), seconds)
    except asyncio.TimeoutError:
        seen = await task
        seen.problem = seen.problem or f"{what} showed the error only after {seconds:g} s"
        return seen


async def _timed(coro: Awaitable[Seen]) -> Seen:
    began = time.monotonic()
    try:
        seen = await coro
    except AssertionError as exc:  # a deadline: the consumer never showed the error
        seen = Seen(problem=str(exc)[:2000])
    seen.elapsed = round(time.monotonic() - began, 2)
    return seen


# -- the consumers -------------------------------------------------------------------------------------------
async def _probe(env: Env, url: str, options: dict[str, Any]) -> Seen:
    status, data = await api(
        env.jp_fetch, "POST", "streams", body={"url": url, "options": options}, params={"probe": "true"}
    )
    return _api_error(status, data, 422)


async def _websocket(env: Env, sid: str, case: Case) -> Seen:
    viewer = await env.viewer(sid)
    await viewer.wait(lambda v: v.errors(), case.detect_s + LATE_S, "an error message")
    error = viewer.errors()[0]
    index = viewer.messages.index(error)
    # the status that follows the error (the relay's state after it: retrying, or waiting for the user)
    after = await viewer.wait(
        lambda v: next((m for m in v.messages[index:] if m["type"] == "status"), None),
        3.0,
        "a status after it",
    )
    return Seen(error["code"], error["message"], extra={"error": error, "after": after, "viewer": viewer})


async def _websocket_late(env: Env, sid: str) -> Seen:
    """A second viewer (another tile) joins the failing relay: the relay tells it its error at once."""
    viewer = await env.viewer(sid)
    first = await viewer.wait(lambda v: v.messages[:1], 1.0, "a first message")
    after = await viewer.wait(
        lambda v: next((m for m in v.messages[1:] if m["type"] == "status"), None), 3.0, "a status after it"
    )
    if first[0]["type"] != "error":
        return Seen(problem=f"the joining viewer was not told the relay's error first: {viewer.messages}")
    error = first[0]
    return Seen(error["code"], error["message"], extra={"error": error, "after": after, "viewer": viewer,
                                                        "late": True})  # fmt: skip


async def _thumbnail(env: Env, sid: str) -> Seen:
    return _api_error(*(await api(env.jp_fetch, "GET", "streams", sid, "thumbnail")), 503)


async def _snapshot(hub: Hub, sid: str) -> Seen:
    stream = await asyncio.to_thread(hub.stream, sid)
    try:
        image = await asyncio.to_thread(stream.snapshot)
    except Exception as exc:  # noqa: BLE001 - the outcome
        return _from_error(exc)
    return Seen(problem=f"snapshot() returned a picture {image.size}")


async def _frames(hub: Hub, sid: str, case: Case) -> Seen:
    stream = await asyncio.to_thread(hub.stream, sid)
    if case.frames == "now":  # a bare TIMEOUT of the reader would come long after the deadline
        reader, deadline = stream.frames(fps=2, width=320, timeout=15.0), case.detect_s + LATE_S
    else:
        reader = stream.frames(fps=2, width=320, timeout=FRAMES_TIMEOUT)
        deadline = max(FRAMES_TIMEOUT, case.detect_s) + LATE_S
    kind, value = await _step(reader, deadline)
    await asyncio.to_thread(reader.close)
    if kind == "error":
        return _from_error(value)
    if kind == "late":
        return Seen(problem=f"frames() raised nothing within {deadline:g} s (the relay knows within "
                            f"{case.detect_s:g} s)")  # fmt: skip
    return Seen(problem=f"frames() gave {kind!r} instead of raising")


async def _stats(hub: Hub, sid: str, within: float, *, table: bool = True) -> Seen:
    """``Stream.stats()`` once a relay of the stream has an error (polled: a viewer holds the relay), and
    ``Hub.stats()`` (``table``)."""
    import pandas as pd

    stream = await asyncio.to_thread(hub.stream, sid)
    deadline = time.monotonic() + within
    while not (figures := await asyncio.to_thread(stream.stats)).get("last_error"):
        if time.monotonic() > deadline:
            return Seen(problem=f"no last_error within {within:g} s: {figures}")
        await asyncio.sleep(POLL)  # the poll interval of a deadline wait
    relays = figures.get("relays", [])
    codes = [r.get("last_error_code") for r in relays if r.get("last_error")]
    seen = Seen(
        codes[0] if codes else None, figures["last_error"], texts=[str(r["last_error"]) for r in relays]
    )
    seen.extra = {"codes": codes, "table": None}
    if table:
        frame = await asyncio.to_thread(hub.stats)
        values = list(frame[frame["stream_id"] == sid]["last_error"])
        seen.extra["table"] = [None if pd.isna(v) else str(v) for v in values]
        seen.texts += [v for v in seen.extra["table"] if v]
    if not codes:
        seen.problem = f"no relay of the stream has last_error_code: {figures}"
    return seen


async def _events(hub: Hub, sid: str) -> Seen:
    table = await asyncio.to_thread(hub.events)
    errors = table[(table["stream_id"] == sid) & (table["kind"] == "error")]
    codes, messages = [str(c) for c in errors["code"]], [str(m) for m in errors["message"]]
    if not codes:
        return Seen(problem=f"no error event for the stream: {table.to_dict('records')}")
    return Seen(codes[0], messages[0], texts=messages, extra={"codes": codes, "messages": messages})


# -- running a case ------------------------------------------------------------------------------------------
_RESULTS: dict[str, dict[str, Seen] | BaseException] = {}


async def _run_case(case: Case, jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any, jp_http_port: int,
                    jp_base_url: str, tmp_path: Path) -> dict[str, Seen]:  # fmt: skip
    base = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    token = jp_serverapp.identity_provider.token
    rest = await asyncio.to_thread(rn.connect, url=base, token=token)
    service = await asyncio.to_thread(
        StreamService.open, tmp_path / f"local-{case.id}.db", config=_local_config(), thumbnail_ttl=30.0
    )
    env = Env(jp_fetch, jp_ws_fetch, rest, Hub(_Local(service)), service)
    try:
        with contextlib.ExitStack() as stack:
            url, options, upstream = await asyncio.to_thread(case.make, stack)
            sid, lsid = await env.add(url, options)
            if case.mid_stream:
                return await _run_mid_stream(case, env, stack, upstream, sid, lsid)
            return await _run_error(case, env, url, options, sid, lsid)
    finally:
        for viewer in env.viewers:
            await viewer.close()
        await asyncio.to_thread(loop_thread().run, service.close())


async def _run_error(
    case: Case, env: Env, url: str, options: dict[str, Any], sid: str, lsid: str
) -> dict[str, Seen]:
    # an in-process viewer holds the local hub's relay (and its last error) while the consumers run
    held = await asyncio.to_thread(loop_thread().run, env.service.engine.subscribe(lsid, "grid"))
    try:
        one_shot = case.one_shot_s + LATE_S
        consumers = {
            "probe": _within(_probe(env, url, options), one_shot, "the probe"),
            "websocket": _websocket(env, sid, case),
            "thumbnail": _within(_thumbnail(env, sid), one_shot, "the thumbnail"),
            "snapshot-rest": _within(_snapshot(env.rest, sid), one_shot, "snapshot()"),
            "snapshot-local": _within(_snapshot(env.local, lsid), one_shot, "snapshot()"),
            "frames-rest": _frames(env.rest, sid, case),
            "frames-local": _frames(env.local, lsid, case),
        }
        outcomes = await asyncio.gather(*(_timed(c) for c in consumers.values()))
        seen = dict(zip(consumers, outcomes, strict=True))
        seen["websocket-late"] = await _timed(_websocket_late(env, sid))
        seen["stats-rest"] = await _timed(_stats(env.rest, sid, case.detect_s))
        seen["stats-local"] = await _timed(_stats(env.local, lsid, case.detect_s))
        seen["events-rest"] = await _timed(_events(env.rest, sid))
        seen["events-local"] = await _timed(_events(env.local, lsid))
        return seen
    finally:
        await asyncio.to_thread(loop_thread().call, held.close)


async def _run_mid_stream(
    case: Case, env: Env, stack: contextlib.ExitStack, camera: TestCamera, sid: str, lsid: str
) -> dict[str, Seen]:
    viewer = await env.viewer(sid)
    await viewer.wait(lambda v: any(m["type"] == "video_start" for m in v.messages) and v.binary, 15, "video")
    readers = {}
    for name, hub, stream_id in (("frames-rest", env.rest, sid), ("frames-local", env.local, lsid)):
        stream = await asyncio.to_thread(hub.stream, stream_id)
        readers[name] = stream.frames(fps=5, width=320, timeout=10.0)
        stack.callback(readers[name].close)
    firsts = await asyncio.gather(*(_step(r, 15.0) for r in readers.values()))
    assert [kind for kind, _ in firsts] == ["picture", "picture"], firsts
    playing = len(viewer.messages)

    # the relays' first error, polled from before the stop: the relay's next attempt (in 0.4 s or more, the
    # camera still down) replaces it, and the camera closes its sessions before its process has ended
    stats = {
        name: asyncio.ensure_future(_timed(_stats(hub, stream_id, case.detect_s + 3.0, table=False)))
        for name, hub, stream_id in (("stats-rest", env.rest, sid), ("stats-local", env.local, lsid))
    }
    await asyncio.to_thread(stop_mid_stream, camera)
    seen: dict[str, Seen] = {}

    async def websocket() -> Seen:
        error = await viewer.wait(
            lambda v: next((m for m in v.messages[playing:] if m["type"] == "error"), None),
            case.detect_s + 3.0,
            "an error after the camera stopped",
        )
        index = viewer.messages.index(error)
        after = await viewer.wait(
            lambda v: next((m for m in v.messages[index:] if m["type"] == "status"), None), 3.0, "a status"
        )
        return Seen(error["code"], error["message"], extra={"error": error, "after": after, "viewer": viewer})

    seen["websocket"] = await _timed(websocket())
    for name, task in stats.items():
        seen[name] = await task

    await asyncio.to_thread(camera.start)
    await viewer.conn.write_message(json.dumps({"action": "reconnect"}))  # skip the rest of the backoff
    seen["websocket"].extra["replayed"] = await _timed(
        _until(viewer, lambda v: sum(m["type"] == "video_start" for m in v.messages) >= 2, 15, "video again")
    )

    async def frames(reader: Any) -> Seen:
        steps = [await _step(reader, 10.0) for _ in range(3)]
        kinds = [kind for kind, _ in steps]
        if kinds != ["picture"] * 3:
            error = next((v for k, v in steps if k == "error"), None)
            return Seen(problem=f"frames() after the camera restarted: {kinds} {error!r}")
        return Seen(case.code, None, extra={"pictures": 3})

    for name, reader in readers.items():
        seen[name] = await _timed(frames(reader))
    seen["events-rest"] = await _timed(_events(env.rest, sid))
    seen["events-local"] = await _timed(_events(env.local, lsid))
    return seen


async def _until(viewer: Viewer, predicate: Callable[[Viewer], Any], timeout: float, what: str) -> Seen:
    await viewer.wait(predicate, timeout, what)
    return Seen()


# -- the checks ----------------------------------------------------------------------------------------------
def _assert_clean(text: str | None, where: str) -> None:
    if not text:
        return
    assert not NOISE.search(text), f"{where}: FFmpeg's noise in {text!r}"
    assert not ADDRESS.search(text), f"{where}: a memory address in {text!r}"
    for secret in SECRETS:
        assert secret not in text, f"{where}: the password in {text!r}"


def _assert_status_sequence(viewer: Viewer, *, opening: bool = True) -> None:
    """The socket opens with one ``connecting`` (``opening``: it started the relay) and never repeats a
    status message (issue 12)."""
    statuses = [m for m in viewer.messages if m["type"] == "status"]
    assert statuses, viewer.messages
    if opening:
        assert statuses[0] == {"type": "status", "phase": "connecting"}, viewer.messages[:3]
    for before, after in itertools.pairwise(statuses):
        assert before != after, f"two identical status messages in a row: {before}; {viewer.messages}"


def _check(case: Case, consumer: str, seen: Seen) -> None:
    assert seen.problem is None, f"{consumer}: {seen.problem}"
    for text in [seen.message, *seen.texts]:
        _assert_clean(text, consumer)
    if consumer.startswith("frames") and case.mid_stream:
        assert seen.extra.get("pictures") == 3
        return
    if consumer.startswith("stats") and case.mid_stream and seen.code == "UNREACHABLE":
        # stats() shows the latest attempt's error: polled through a thread on a loaded machine it may read
        # the retry's (0.4 s after the stop, the camera still down) instead of the relay's first error,
        # which the WebSocket viewer and the events log pin (failed 2 of 3 runs at load 10 on 2 cores)
        return
    assert seen.code == case.code, f"{consumer}: code {seen.code!r} ({seen.message!r}), want {case.code}"
    assert seen.message is not None and re.search(case.message, seen.message), (
        f"{consumer}: message {seen.message!r} does not match {case.message!r}"
    )
    if seen.error is not None:
        assert issubclass(seen.error, case.error), f"{consumer}: raised {seen.error.__name__}"
    if consumer.startswith("websocket"):
        _check_websocket(case, seen)
    elif consumer.startswith("stats"):
        codes = set(seen.extra["codes"])
        assert codes == {case.code}, f"relay codes {codes}"
        table = seen.extra["table"]
        assert table is None or (table and all(t and re.search(case.message, t) for t in table)), seen.extra
    elif consumer.startswith("events"):
        allowed = {case.code, "UNREACHABLE"} if case.mid_stream else {case.code}  # mid-stream: camera down
        assert case.code in seen.extra["codes"] and set(seen.extra["codes"]) <= allowed, seen.extra["codes"]
        ours = [m for c, m in zip(seen.extra["codes"], seen.extra["messages"], strict=True) if c == case.code]
        assert all(re.search(case.message, m) for m in ours), ours


def _check_websocket(case: Case, seen: Seen) -> None:
    viewer: Viewer = seen.extra["viewer"]
    late = seen.extra.get("late", False)
    for message in viewer.messages:
        _assert_clean(json.dumps(message), "websocket")
    _assert_status_sequence(viewer, opening=not late)
    error, after = seen.extra["error"], seen.extra["after"]
    assert error["fatal"] is False, error
    if case.code == "AUTH":  # not retried: the message does not say so, the next status says it waits
        assert not error["message"].endswith("retrying"), error
        assert "not retrying" in after.get("detail", ""), after
        assert "retry_in_s" not in after, after
    else:
        assert error["message"].endswith("; retrying"), f"a retried error does not say so: {error}"
        assert after["phase"] == "reconnecting", after
        assert late or after.get("retry_in_s") is not None, after
    if case.mid_stream:
        replayed: Seen = seen.extra["replayed"]
        assert replayed.problem is None, replayed.problem


@pytest.mark.parametrize(("case", "consumer"), _cells())
async def test_error_reaches_every_consumer(
    case: Case, consumer: str, jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any, jp_http_port: int,
    jp_base_url: str, tmp_path: Path,
) -> None:  # fmt: skip
    if case.id not in _RESULTS:
        try:
            _RESULTS[case.id] = await _run_case(
                case, jp_fetch, jp_ws_fetch, jp_serverapp, jp_http_port, jp_base_url, tmp_path
            )
        except Exception as exc:  # noqa: BLE001 - every cell of the case fails with it
            _RESULTS[case.id] = exc
    results = _RESULTS[case.id]
    if isinstance(results, BaseException):
        raise AssertionError(f"the case did not run: {results!r}") from results
    seen = results[consumer]
    print(f"{case.id} / {consumer}: {seen.code} {seen.message!r} in {seen.elapsed} s")
    _check(case, consumer, seen)


# -- a wrong password: one login per profile, until asked ----------------------------------------------------
OBSERVE_S = 2.5  # s without a new login: the relay used to retry after 0.5 s, then 1 s, 2 s


@pytest.mark.camera
@pytest.mark.parametrize("auth", ["digest", "basic"])
async def test_a_wrong_password_is_tried_once_per_camera_until_asked(
    auth: str, jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any, tmp_path: Path
) -> None:
    """One RTSP session per camera (issue 14): a wrong password is one login however many profiles are
    watched (the source relay's; the MPEG-1 transcodes mirror its AUTH word for word and start no FFmpeg),
    and each time the user asks again (a reconnect, a new URL) is exactly one more login."""
    require_camera()
    camera = TestCamera(width=320, height=180, fps=15, user=USER, password=PASSWORD, auth=auth,
                        request_log=tmp_path / "requests.log")  # fmt: skip
    await asyncio.to_thread(camera.start)
    engine = jp_serverapp.web_app.settings["rtsp_notebook"]["engine"]
    viewers: list[Viewer] = []

    def spawns() -> dict[str, int]:
        return {profile: engine.relay(sid, profile).spawns for profile in ("source", "grid", "full")}

    def auth_errors(viewer: Viewer) -> int:
        return sum(m.get("code") == "AUTH" for m in viewer.errors())

    try:
        status, data = await api(jp_fetch, "POST", "streams", body={"url": camera.url_with(USER, WRONG)})
        assert status == 201, data
        sid = data["id"]
        for profile in ("grid", "full"):
            conn = await jp_ws_fetch("rtsp", "ws", "stream", params={"id": sid, "profile": profile})
            viewers.append(Viewer(conn))
        for viewer in viewers:
            await viewer.wait(lambda v: auth_errors(v) >= 1, 5, "AUTH")
        await wait_until(lambda: camera.logins() >= 1, 5, "a login")

        async def no_more_logins_than(n: int) -> None:
            with contextlib.suppress(AssertionError):  # the window passing without a new login is the success
                await wait_until(lambda: camera.logins() > n, OBSERVE_S, "another login")
            assert camera.logins() == n, f"{camera.logins()} logins, want {n}: {camera.describes()}"

        await no_more_logins_than(1)
        assert spawns() == {"source": 1, "grid": 0, "full": 0}, spawns()
        for viewer in viewers:
            assert auth_errors(viewer) == 1, viewer.messages
            status_after = [m for m in viewer.messages if m["type"] == "status"][-1]
            assert "not retrying" in status_after.get("detail", ""), viewer.messages
            _assert_status_sequence(viewer)

        grid = viewers[0]
        await grid.conn.write_message(json.dumps({"action": "reconnect"}))  # the user asks again
        for viewer in viewers:  # the camera's one try is every profile's
            await viewer.wait(lambda v: auth_errors(v) == 2, 5, "a second AUTH")
        await no_more_logins_than(2)
        assert spawns() == {"source": 2, "grid": 0, "full": 0}, spawns()

        # a new URL (another wrong password) is tried once, for every profile, and not again
        status, data = await api(
            jp_fetch, "PATCH", "streams", sid, body={"url": camera.url_with(USER, WRONG + "2")}
        )
        assert status == 200, data
        for viewer in viewers:
            await viewer.wait(lambda v: auth_errors(v) == 3, 5, "a third AUTH")
        await no_more_logins_than(3)
        assert spawns() == {"source": 3, "grid": 0, "full": 0}, spawns()
        for viewer in viewers:
            assert auth_errors(viewer) == 3, "\n".join(map(str, viewer.messages))
            for message in viewer.messages:
                _assert_clean(json.dumps(message), "websocket")
    finally:
        for viewer in viewers:
            await viewer.close()
        await asyncio.to_thread(camera.stop)
