"""How a :class:`~rtsp_notebook.notebook.hub.Hub` reaches the stream API: the server extension's REST API and
WebSocket (``RestTransport``), or a :class:`~rtsp_notebook.api.service.StreamService` in this process
(``LocalTransport``). Both answer the same operations with the same JSON values and errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from ..api.clips import no_prebuffer
from ..api.routes import API_PREFIX, ROUTE, Op
from ..api.service import STREAM_SOCKET, ProbeFailedError, StreamService, checked_id
from ..api.viewer import viewer_chunks
from ..errors import (
    ExtensionMissingError,
    InvalidInputError,
    RtspNotebookError,
    ServerError,
    ServerPermissionError,
    ServerUnavailableError,
    SourceTimeoutError,
    StreamNotFoundError,
    error_for_code,
)
from ..media.recorder import FINISH_TIMEOUT, START_TIMEOUT, Recorder, RecordingResult, _place
from .runtime import LoopThread, local_service, loop_thread

log = logging.getLogger(__name__)

__all__ = ["LocalTransport", "RestTransport", "ServerUnavailableError", "Transport"]

REQUEST_TIMEOUT_S = 30.0


class Transport(Protocol):
    where: str

    @property
    def thread(self) -> LoopThread: ...

    @property
    def ffmpeg_path(self) -> str: ...

    def call(self, op: Op, *args: Any, **kwargs: Any) -> Any:
        """The answer of one operation of the stream API (its JSON value), or its error raised."""
        ...

    def jpeg(self, stream_id: str, *, width: int | None, refresh: bool) -> bytes: ...

    def kernel_service(self) -> Callable[[], StreamService] | None:
        """What a grid's kernel fallback serves for this transport: its own service when it has one in
        this process; None when the page reaches the server extension by itself."""
        ...

    def chunks(
        self, stream_id: str, profile: str, codec: str = "mpeg1"
    ) -> Callable[[], AsyncIterator[bytes | dict[str, Any]]]:
        """The stream's MPEG-TS bytes and its messages (DESIGN §4, as dicts) in order, for
        ``frames()``; an error that prevents the subscription is raised."""
        ...

    def clip_recorder(
        self, stream_id: str, target: Path, before: float, after: float, *, overwrite: bool
    ) -> Recorder:
        """The recorder of ``cam.clip()`` into ``target``: from the stream's prebuffer in this process, or the
        server's clip job downloaded; raises now when ``before`` seconds are not kept."""
        ...


async def _failing(error: RtspNotebookError) -> AsyncIterator[bytes | dict[str, Any]]:
    raise error
    yield b""  # an async generator  # pragma: no cover


def _api_error(body: bytes) -> tuple[str, str] | None:
    """(code, message) of the extension's JSON error body, or None for any other body."""
    try:
        error = json.loads(body)["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return None


def _coded_error(code: str, message: str) -> RtspNotebookError | None:
    """The error of one of the tree's codes (NOT_FOUND: the camera's), or None for another code."""
    cls = error_for_code(code)
    return cls(message) if cls is not None else None


def _error(status: int, body: bytes, where: str) -> RtspNotebookError:
    """The exception for an HTTP error answer of the server at ``where``: by the extension's error
    code when it is one of the tree's, else by the HTTP status."""
    code, message = _api_error(body) or ("", "")
    if code == "NOT_FOUND" and status == 404:
        return StreamNotFoundError(message)
    known = _coded_error(code, message)
    if known is not None:
        return known
    detail = f": {message}" if message else ""
    if status in (401, 403):
        return ServerPermissionError(
            f"the Jupyter server at {where} refused the request (HTTP {status}{detail}): its token is "
            "missing or wrong (connect(token=...); under JupyterHub, JUPYTERHUB_API_TOKEN)"
        )
    if status == 404:
        return ExtensionMissingError(
            f"the Jupyter server at {where} has no rtsp/api/ routes (HTTP 404): the rtsp-notebook "
            "extension is not installed in the server's environment, or not enabled"
        )
    if status >= 500:
        return ServerError(f"the Jupyter server at {where} failed (HTTP {status}{detail})")
    error = RtspNotebookError(f"the Jupyter server at {where} answered HTTP {status}{detail}")
    error.code = code or error.code
    return error


class RestTransport:
    """The server extension under ``base_url``, with the server's token."""

    def __init__(self, base_url: str, token: str = "") -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.where = self.base_url
        self._token = token

    @property
    def thread(self) -> LoopThread:
        return loop_thread()

    @cached_property
    def ffmpeg_path(self) -> str:
        from ..media.ffmpeg import find_ffmpeg

        return find_ffmpeg().path  # this process decodes frames with its own FFmpeg

    def _request(self, method: str, path: str, body: Any = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + API_PREFIX + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._token:
            request.add_header("Authorization", f"token {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                return response.read()  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            raise _error(exc.code, exc.read(), self.base_url) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerUnavailableError(
                f"cannot reach the Jupyter server at {self.base_url}: {exc}"
            ) from exc

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        raw = self._request(method, path, body)
        try:
            return json.loads(raw) if raw else None
        except ValueError:  # e.g. a login page after a redirect
            raise ServerError(
                f"the Jupyter server at {self.base_url} answered {API_PREFIX}{path.split('?')[0]} with "
                "something that is not JSON (a login page? check the token)"
            ) from None

    def call(self, op: Op, *args: Any, **kwargs: Any) -> Any:
        entry = ROUTE[Op(op)]
        ident = str(args[0]) if "{clip}" in entry.path else ""  # a clip id, or a stream id checked here:
        ident = checked_id(args[0]) if "{id}" in entry.path else ident
        body = args[-1] if entry.op in (Op.ADD_STREAM, Op.UPDATE_STREAM, Op.ADD_CLIP) else None
        query = {"probe": "true" if kwargs.get("check") else None}
        return self._json(entry.methods[0], entry.url(ident, query), body)

    def kernel_service(self) -> Callable[[], StreamService] | None:
        return None  # the page reaches the server extension itself; its fallback serves the default

    def clip_recorder(
        self, stream_id: str, target: Path, before: float, after: float, *, overwrite: bool
    ) -> Recorder:
        return ServerClip(self, checked_id(stream_id), target, before, after, overwrite=overwrite)

    def _download(self, path: str, target: Path) -> None:
        """GET ``path`` into the new file ``target`` (blocking: call it from a thread)."""
        request = urllib.request.Request(self.base_url + API_PREFIX + path)
        if self._token:
            request.add_header("Authorization", f"token {self._token}")
        try:
            with (
                urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response,
                target.open("xb") as out,
            ):
                shutil.copyfileobj(response, out, 1 << 20)
        except urllib.error.HTTPError as exc:
            raise _error(exc.code, exc.read(), self.base_url) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerUnavailableError(
                f"cannot download from the Jupyter server at {self.base_url}: {exc}"
            ) from exc

    def jpeg(self, stream_id: str, *, width: int | None, refresh: bool) -> bytes:
        query = {"width": width, "refresh": "true" if refresh else None}
        return self._request("GET", ROUTE[Op.THUMBNAIL].url(checked_id(stream_id), query))

    def chunks(
        self, stream_id: str, profile: str, codec: str = "mpeg1"
    ) -> Callable[[], AsyncIterator[bytes | dict[str, Any]]]:
        url = (
            self.base_url.replace("http", "ws", 1)
            + f"{STREAM_SOCKET}?"
            + urllib.parse.urlencode({"id": checked_id(stream_id), "profile": profile, "codec": codec})
        )
        token, where = self._token, self.base_url

        async def read() -> AsyncIterator[bytes | dict[str, Any]]:
            # tornado is a dependency of the package (the server extension's); imported here only
            from tornado.httpclient import HTTPClientError, HTTPRequest
            from tornado.websocket import websocket_connect

            headers = {"Authorization": f"token {token}"} if token else {}
            try:
                conn = await websocket_connect(HTTPRequest(url, headers=headers))
            except HTTPClientError as exc:
                body = exc.response.body if exc.response is not None else b""
                raise _error(exc.code, body or b"", where) from None
            except OSError as exc:
                raise ServerUnavailableError(f"cannot reach the Jupyter server at {where}: {exc}") from exc
            try:
                while True:
                    message = await conn.read_message()
                    if message is None:
                        return
                    if isinstance(message, bytes):
                        yield message
                        continue
                    try:
                        data = json.loads(message)
                    except ValueError:
                        continue  # not a message of DESIGN §4
                    if isinstance(data, dict):
                        yield data  # errors, status: the frame reader decides what they mean
            finally:
                conn.close()

        return read


class LocalTransport:
    """A stream service in this process (its own store), on the process's loop thread."""

    def __init__(self, store_path: str | None = None, ffmpeg_path: str | None = None) -> None:
        self.service: StreamService = local_service(store_path, ffmpeg_path)
        self.where = f"in-process, store {self.service.engine.store.store.path}"

    @property
    def thread(self) -> LoopThread:
        return loop_thread()

    @property
    def ffmpeg_path(self) -> str:
        return self.service.engine.ffmpeg.path

    def call(self, op: Op, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.service, Op(op).value)
        if not inspect.iscoroutinefunction(method):
            return self.thread.call(lambda: method(*args, **kwargs))
        try:
            return self.thread.run(method(*args, **kwargs))
        except ProbeFailedError as exc:
            raise exc.cause from None  # the camera's own error, as over REST

    def kernel_service(self) -> Callable[[], StreamService] | None:
        return lambda: self.service

    def jpeg(self, stream_id: str, *, width: int | None, refresh: bool) -> bytes:
        thumb = self.thread.run(self.service.thumbnail(stream_id, width=width, refresh=refresh))
        return thumb.jpeg

    def clip_recorder(
        self, stream_id: str, target: Path, before: float, after: float, *, overwrite: bool
    ) -> Recorder:
        chunks = self.clip_chunks(stream_id, before, after)
        return Recorder(
            self.ffmpeg_path, target, chunks, seconds=None, overwrite=overwrite, name=f"clip {stream_id}"
        )

    def clip_chunks(
        self, stream_id: str, before: float, after: float
    ) -> Callable[[], AsyncIterator[bytes | dict[str, Any]]]:
        engine, sid = self.service.engine, checked_id(stream_id)

        async def check() -> None:
            record = await engine.store.get(sid)
            ring = engine.prebuffer(sid)
            if ring is None:
                raise no_prebuffer(engine, record, "e.g. cam.update(prebuffer_s=30)")
            ring.check(before)

        self.thread.run(check())

        def chunks() -> AsyncIterator[bytes | dict[str, Any]]:
            ring = engine.prebuffer(sid)  # on the loop, as the recording starts: its feed's first step
            if ring is None:
                return _failing(InvalidInputError("the stream's prebuffer stopped before the clip began"))
            return ring.feed(before, after)

        return chunks

    def chunks(
        self, stream_id: str, profile: str, codec: str = "mpeg1"
    ) -> Callable[[], AsyncIterator[bytes | dict[str, Any]]]:
        engine = self.service.engine

        def read() -> AsyncIterator[bytes | dict[str, Any]]:
            # the messages a WebSocket viewer of the stream gets, so both hubs' readers see the same
            return viewer_chunks(engine, checked_id(stream_id), profile, codec)

        return read


class ServerClip(Recorder):
    """``cam.clip()`` through the server: its clip job (``POST streams/{id}/clips``), followed with ``GET
    clips/{clip}`` until written, then downloaded beside ``path``, given its name like a local recording
    (never over an existing file unless ``overwrite``) and removed from the server's clips folder (``DELETE
    clips/{clip}``): one file, where it was asked for. ``stop()`` ends the server's job early (``POST
    clips/{clip}/stop``) and keeps what it wrote; a cancelled call discards the job and its file on the
    server. Progress (``seconds``, ``frames``) is the server's."""

    POLL_S = (0.1, 0.5)  # the first and the longest wait between two questions to the server

    def __init__(
        self,
        transport: RestTransport,
        stream_id: str,
        path: Path,
        before: float,
        after: float,
        *,
        overwrite: bool,
    ) -> None:
        super().__init__("", path, lambda: _failing(RtspNotebookError("not read")), seconds=None,
                         overwrite=overwrite, name=f"clip {stream_id}")  # fmt: skip
        self._transport, self._stream_id, self._before, self._after = transport, stream_id, before, after
        self._wake = asyncio.Event()  # set by request_stop: ask the server now, not after the poll's wait

    def request_stop(self) -> None:
        super().request_stop()
        self._wake.set()

    async def run(self) -> RecordingResult:
        rest = self._transport
        body = {"before": self._before, "after": self._after}
        job = await asyncio.to_thread(rest._json, "POST", ROUTE[Op.ADD_CLIP].url(self._stream_id), body)
        clip = job["id"]
        try:
            state = await self._follow(job)
            if state["status"] != "done":
                message = str(state.get("error") or "the server's clip failed")
                raise _coded_error(str(state.get("error_code") or ""), message) or RtspNotebookError(message)
            try:
                await asyncio.to_thread(rest._download, ROUTE[Op.CLIP_FILE].url(clip), self.temp)
                size = await asyncio.to_thread(_place, self.temp, self.path, self.overwrite)
                self.finished = True
            finally:
                if not self.finished:
                    with contextlib.suppress(OSError):
                        await asyncio.to_thread(self.temp.unlink, True)
        finally:  # downloaded, failed or cancelled: the server keeps no copy (best effort)
            await asyncio.shield(asyncio.to_thread(self._forget, clip))
        self.codec = state.get("codec") or None
        return RecordingResult(
            self.path, float(state["seconds"]), size, int(state["frames"]), str(state.get("codec") or ""),
            bool(state["complete"]), str(state["ended"]), state.get("requested_s"), bool(state["transcoded"]),
        )  # fmt: skip

    async def _follow(self, job: dict[str, Any]) -> dict[str, Any]:
        """The job's state once it has ended (asking the server to end it after ``request_stop``)."""
        rest, clip = self._transport, job["id"]
        state, delay = job, self.POLL_S[0]
        deadline = time.monotonic() + self._before + self._after + START_TIMEOUT + FINISH_TIMEOUT
        while state["status"] == "recording":
            if time.monotonic() > deadline:
                raise SourceTimeoutError(f"the server's clip {job['file']} is not finished in time")
            if self._stop_asked:
                state = await asyncio.to_thread(rest._json, "POST", ROUTE[Op.STOP_CLIP].url(clip))
            else:
                with contextlib.suppress(asyncio.TimeoutError):  # the poll's wait, cut short by a stop
                    await asyncio.wait_for(self._wake.wait(), delay)
                delay = min(delay * 1.5, self.POLL_S[1])
                state = await asyncio.to_thread(rest._json, "GET", ROUTE[Op.GET_CLIP].url(clip))
            self.seconds, self.frames = float(state["seconds"] or 0), int(state.get("frames") or 0)
            self.started = self.started or self.frames > 0
        return state

    def _forget(self, clip: str) -> None:
        """``DELETE clips/{clip}`` (blocking); a failure is logged, not raised: the clip itself is done."""
        try:
            self._transport._request("DELETE", ROUTE[Op.DELETE_CLIP].url(clip))
        except RtspNotebookError as exc:
            log.warning("could not remove the server's copy of clip %s: %s", clip, exc)
