"""REST handlers under ``{base_url}rtsp/api/``: parse, call the core, serialise, map errors.

One handler class serves the route table :data:`rtsp_notebook.api.routes.ROUTES` (which the widget's
comm and the Python REST client use too): every method is ``@web.authenticated`` + ``@authorized``
(resource ``rtsp``); mutations go through Jupyter's XSRF check. Domain errors become HTTP answers in
one place, :func:`rtsp_notebook.errors.status_for`.

A thumbnail answered 503 (the camera has no picture: offline, or not yet read) is a normal state that a
tile asks about at every retry: jupyter_server's request log (``log_request``, which logs a 5xx at ERROR
with the request headers) logs it at DEBUG without headers (:class:`_NoPictureLog`); every other 5xx keeps
ERROR.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import iostream, web

from rtsp_notebook.api.clips import ClipFile
from rtsp_notebook.api.routes import (
    API_PREFIX,
    MAX_BODY,
    STREAM_SOCKET,
    Call,
    Op,
    Refused,
    Route,
    answer,
    paths,
    refusal,
    resolve,
)
from rtsp_notebook.api.service import StreamService
from rtsp_notebook.thumbnails import Thumbnail, ThumbnailService

from .websocket import StreamWebSocketHandler


class _NoPictureLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The request log of a thumbnail answered 503: jupyter_server's ``log_request`` logs a 5xx with
    ``handler.log.error``, first the request headers (a JSON object), then the request line. Here the
    headers are left out and the line goes at DEBUG, as a success would."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR:
            if isinstance(msg, str) and msg.startswith("{"):
                return  # the request headers
            level = logging.DEBUG
        super().log(level, msg, *args, **kwargs)


class RtspHandler(APIHandler):
    """Base of the REST handlers: the service, and errors as the JSON of DESIGN §3."""

    auth_resource = "rtsp"
    no_picture = False  # the answer is a thumbnail's 503: the camera has no picture (a normal state)

    @property
    def log(self) -> Any:
        """jupyter_server's logger; for a thumbnail answered 503, one that logs the request at DEBUG."""
        logger = super().log
        if self.no_picture and self.get_status() == 503:
            return _NoPictureLog(logger, {})
        return logger

    @property
    def thumbnails(self) -> ThumbnailService:
        return self.settings["rtsp_notebook"]["thumbnails"]  # type: ignore[no-any-return]

    @property
    def service(self) -> StreamService:
        return self.settings["rtsp_notebook"]["service"]  # type: ignore[no-any-return]

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        if status == 204:
            self.finish()
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError):
            code = {403: "FORBIDDEN", 404: "NOT_FOUND", 405: "BAD_REQUEST"}.get(status_code, "HTTP_ERROR")
            message = (
                exc.log_message % exc.args
                if exc.log_message and exc.args
                else (exc.log_message or exc.reason or "")
            )
        else:
            code, message = "INTERNAL", "an unexpected error happened; the server log has the details"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"code": code, "message": message or str(status_code)}}))


class ApiHandler(RtspHandler):
    """The routes of one path of :data:`rtsp_notebook.api.routes.ROUTES`, by method."""

    def initialize(self, methods: dict[str, Route], **kwargs: Any) -> None:
        self.methods = methods

    def _body(self) -> Any:
        raw = self.request.body or b""
        if len(raw) > MAX_BODY:
            raise Refused(413, "BAD_REQUEST", f"the request body is over {MAX_BODY // 1024} KiB")
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise Refused(400, "BAD_REQUEST", "the request body is not valid JSON") from None

    async def _serve(self, stream_id: str = "", clip_id: str = "") -> None:
        try:
            found = resolve(self.request.method or "", self.request.path, self.methods, stream_id, clip_id)
            query = {k: self.get_query_argument(k) for k in self.request.query_arguments}
            call = Call(stream_id, query, self._body(), binary=True, clip_id=clip_id)
        except Refused as exc:
            status, body = refusal(exc)
        else:
            status, body = await answer(self.service, found, call, log_name="the server log")
            if found.op is Op.ADD_STREAM and status == 201:
                self.set_header("Location", self.request.path.rstrip("/") + "/" + body["id"])
            if found.op in (Op.THUMBNAIL, Op.REFRESH_THUMBNAIL) and status == 503:
                self.no_picture = True
                retry = self.thumbnails.retry_after(stream_id)
                if retry is not None:
                    self.set_header("Retry-After", str(retry))
        if isinstance(body, Thumbnail):
            self._write_jpeg(body)
        elif isinstance(body, ClipFile):
            await self._write_clip(body)
        else:
            self.write_json(body, status)

    async def _write_clip(self, clip: ClipFile) -> None:
        """The clip's MP4 as a download, 1 MiB at a time from a thread (the loop never waits for the disk)."""
        try:
            handle = await asyncio.to_thread(open, clip.path, "rb")
        except OSError:
            message = f"the clip's file {clip.name} is no longer in the clips folder"
            self.write_json({"error": {"code": "NOT_FOUND", "message": message}}, 404)
            return
        try:
            self.set_header("Content-Type", "video/mp4")
            self.set_header("Content-Disposition", f'attachment; filename="{clip.name}"')
            self.set_header("Content-Length", str(os.fstat(handle.fileno()).st_size))
            while chunk := await asyncio.to_thread(handle.read, 1 << 20):
                self.write(chunk)
                await self.flush()  # waits while the client is slow to read
        except iostream.StreamClosedError:
            return  # the client went away
        finally:
            await asyncio.to_thread(handle.close)
        self.finish()

    def _write_jpeg(self, thumb: Thumbnail) -> None:
        self.set_header("ETag", thumb.etag)
        self.set_header("Cache-Control", f"private, max-age={int(self.thumbnails.ttl)}")
        self.set_header("Last-Modified", dt.datetime.fromtimestamp(thumb.captured_at, dt.timezone.utc))
        if self.request.headers.get("If-None-Match") == thumb.etag:
            self.set_status(304)
            self.finish()
            return
        self.finish(thumb.jpeg, set_content_type="image/jpeg")

    @web.authenticated
    @authorized
    async def get(self, stream_id: str = "", clip_id: str = "") -> None:
        await self._serve(stream_id, clip_id)

    @web.authenticated
    @authorized
    async def post(self, stream_id: str = "", clip_id: str = "") -> None:
        await self._serve(stream_id, clip_id)

    @web.authenticated
    @authorized
    async def patch(self, stream_id: str = "", clip_id: str = "") -> None:
        await self._serve(stream_id, clip_id)

    @web.authenticated
    @authorized
    async def put(self, stream_id: str = "", clip_id: str = "") -> None:
        await self._serve(stream_id, clip_id)

    @web.authenticated
    @authorized
    async def delete(self, stream_id: str = "", clip_id: str = "") -> None:
        await self._serve(stream_id, clip_id)


ROUTES: list[tuple[Any, ...]] = [
    *((API_PREFIX + pattern, ApiHandler, {"methods": methods}) for pattern, methods in paths().items()),
    (STREAM_SOCKET, StreamWebSocketHandler),
]
