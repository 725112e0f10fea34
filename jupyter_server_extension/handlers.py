"""REST handlers under ``{base_url}rtsp/api/``: parse, call the core, serialise, map errors.

Every handler is ``@web.authenticated`` + ``@authorized`` (resource ``rtsp``); mutations go through
Jupyter's XSRF check. Domain errors become HTTP answers in one place,
:func:`rtsp_notebook.errors.status_for` (which the widget's comm answers with too).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from rtsp_notebook.api.routes import MAX_BODY
from rtsp_notebook.api.service import StreamService
from rtsp_notebook.engine import Engine
from rtsp_notebook.errors import RtspNotebookError, status_for
from rtsp_notebook.store import is_stream_id
from rtsp_notebook.thumbnails import ThumbnailService

from .websocket import StreamWebSocketHandler


class _ApiError(web.HTTPError):
    """An HTTP error with the JSON body of DESIGN §3."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, log_message="%s", reason=None)
        self.args = (message,)
        self.code = code
        self.message = message


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


class RtspHandler(APIHandler):
    """Base of the REST handlers: engine access, JSON bodies and JSON errors."""

    auth_resource = "rtsp"

    @property
    def engine(self) -> Engine:
        return self.settings["rtsp_notebook"]["engine"]  # type: ignore[no-any-return]

    @property
    def thumbnails(self) -> ThumbnailService:
        return self.settings["rtsp_notebook"]["thumbnails"]  # type: ignore[no-any-return]

    @property
    def service(self) -> StreamService:
        return self.settings["rtsp_notebook"]["service"]  # type: ignore[no-any-return]

    def body_json(self) -> dict[str, Any]:
        body = self.request.body or b""
        if len(body) > MAX_BODY:
            raise _ApiError(413, "BAD_REQUEST", f"the request body is over {MAX_BODY // 1024} KiB")
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except ValueError:
            raise _ApiError(400, "BAD_REQUEST", "the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _ApiError(400, "BAD_REQUEST", "the request body must be a JSON object")
        return data

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, _ApiError):
            code, message = exc.code, exc.message
        elif isinstance(exc, web.HTTPError):
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

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, _ApiError):
            self.log.info(
                "rtsp API %s %s: %s %s", self.request.method, self.request.path, value.status_code, value.code
            )
        else:
            super().log_exception(typ, value, tb)

    def checked_id(self, stream_id: str) -> str:
        """A stream id of the store's shape, else 404 (ids of any other shape cannot exist)."""
        if not is_stream_id(stream_id):
            raise _ApiError(404, "NOT_FOUND", "no stream with this id")
        return stream_id

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except RtspNotebookError as exc:
            raise _ApiError(status_for(exc), exc.code, exc.message) from exc


class HealthHandler(RtspHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(await self._call(self.service.health()))


class StreamsHandler(RtspHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(await self._call(self.service.list_streams()))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body_json()
        check = _flag(self.get_query_argument("probe", None))
        answer = await self._call(self.service.add_stream(body, check=check))
        self.set_header("Location", self.request.path.rstrip("/") + "/" + answer["id"])
        self.write_json(answer, 201)


class StreamHandler(RtspHandler):
    @web.authenticated
    @authorized
    async def get(self, stream_id: str) -> None:
        self.write_json(await self._call(self.service.get_stream(stream_id)))

    @web.authenticated
    @authorized
    async def patch(self, stream_id: str) -> None:
        self.checked_id(stream_id)
        body = self.body_json()
        self.write_json(await self._call(self.service.update_stream(stream_id, body)))

    put = patch

    @web.authenticated
    @authorized
    async def delete(self, stream_id: str) -> None:
        await self._call(self.service.remove_stream(stream_id))
        self.set_status(204)
        self.finish()


class ThumbnailHandler(RtspHandler):
    @web.authenticated
    @authorized
    async def get(self, stream_id: str) -> None:
        self.checked_id(stream_id)
        width_arg = self.get_query_argument("width", None)
        width: Any = None
        if width_arg is not None:
            width = int(width_arg) if width_arg.strip().isdigit() else width_arg
        refresh = _flag(self.get_query_argument("refresh", None))
        thumb = await self._call(self.service.thumbnail(stream_id, width=width, refresh=refresh))
        if self.get_query_argument("format", None) == "json":
            self.write_json({"data_url": thumb.data_url(), **thumb.metadata()})
            return
        self.set_header("ETag", thumb.etag)
        self.set_header("Cache-Control", f"private, max-age={int(self.thumbnails.ttl)}")
        self.set_header("Last-Modified", dt.datetime.fromtimestamp(thumb.captured_at, dt.timezone.utc))
        if self.request.headers.get("If-None-Match") == thumb.etag:
            self.set_status(304)
            self.finish()
            return
        self.finish(thumb.jpeg, set_content_type="image/jpeg")


class ThumbnailRefreshHandler(RtspHandler):
    @web.authenticated
    @authorized
    async def post(self, stream_id: str) -> None:
        thumb = await self._call(self.service.thumbnail(stream_id, refresh=True))
        self.write_json(thumb.metadata())


class CacheStatsHandler(RtspHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(self.service.cache_stats())


class CacheClearHandler(RtspHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.write_json(self.service.cache_clear())


class StatsHandler(RtspHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(await self._call(self.service.stats()))


class StreamStatsHandler(RtspHandler):
    @web.authenticated
    @authorized
    async def get(self, stream_id: str) -> None:
        self.write_json(await self._call(self.service.stream_stats(stream_id)))


class EventsHandler(RtspHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(self.service.events())


_ID = r"(?P<stream_id>[^/]+)"
ROUTES: list[tuple[str, type[Any]]] = [
    (r"rtsp/api/health", HealthHandler),
    (r"rtsp/api/streams/?", StreamsHandler),
    (rf"rtsp/api/streams/{_ID}", StreamHandler),
    (rf"rtsp/api/streams/{_ID}/thumbnail", ThumbnailHandler),
    (rf"rtsp/api/streams/{_ID}/thumbnail/refresh", ThumbnailRefreshHandler),
    (rf"rtsp/api/streams/{_ID}/stats", StreamStatsHandler),
    (r"rtsp/api/thumbnails/cache/stats", CacheStatsHandler),
    (r"rtsp/api/thumbnails/cache/clear", CacheClearHandler),
    (r"rtsp/api/stats", StatsHandler),
    (r"rtsp/api/events", EventsHandler),
    (r"rtsp/ws/stream", StreamWebSocketHandler),
]
