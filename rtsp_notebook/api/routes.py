"""The REST API of DESIGN §3 as one call, for transports that are not HTTP.

The widget's kernel fallback (:mod:`rtsp_notebook.notebook.comm`) carries the page's requests over the
widget's comm; :func:`route` answers each with the status and JSON body the server extension would answer::

    status, body = await route(service, "GET", "streams/ab12/thumbnail?format=json&width=640")

Errors are ``{"error": {"code", "message"}}`` with the status of :func:`~rtsp_notebook.errors.status_for`,
as over HTTP. Thumbnails come as JSON only (``format=json``: a data URL), since the answer is JSON.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ..errors import RtspNotebookError, status_for
from .service import StreamService

__all__ = ["MAX_BODY", "route"]

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # bytes of a request body, as JSON (the REST API's limit too)


class _Refused(Exception):
    """A request the API refuses before the service sees it (unknown route, method or body)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class _Call:
    stream_id: str
    query: dict[str, str]
    body: Any

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true", "yes")

    def json_object(self) -> dict[str, Any]:
        body = {} if self.body is None else self.body
        if not isinstance(body, dict):
            raise _Refused(400, "BAD_REQUEST", "the request body must be a JSON object")
        if len(json.dumps(body)) > MAX_BODY:
            raise _Refused(413, "BAD_REQUEST", f"the request body is over {MAX_BODY // 1024} KiB")
        return body


Answer = tuple[int, Any]
_Handler = Callable[[StreamService, _Call], Coroutine[Any, Any, Answer]]


async def _health(service: StreamService, call: _Call) -> Answer:
    return 200, await service.health()


async def _list(service: StreamService, call: _Call) -> Answer:
    return 200, await service.list_streams()


async def _add(service: StreamService, call: _Call) -> Answer:
    return 201, await service.add_stream(call.json_object(), check=call.flag("probe"))


async def _get(service: StreamService, call: _Call) -> Answer:
    return 200, await service.get_stream(call.stream_id)


async def _update(service: StreamService, call: _Call) -> Answer:
    return 200, await service.update_stream(call.stream_id, call.json_object())


async def _remove(service: StreamService, call: _Call) -> Answer:
    await service.remove_stream(call.stream_id)
    return 204, None


async def _thumbnail(service: StreamService, call: _Call) -> Answer:
    if call.query.get("format") != "json":
        raise _Refused(400, "BAD_REQUEST", "over the widget's comm, thumbnails come as JSON: add format=json")
    width_arg = call.query.get("width")
    width: Any = None
    if width_arg is not None:
        width = int(width_arg) if width_arg.strip().isdigit() else width_arg  # the service says what is wrong
    thumb = await service.thumbnail(call.stream_id, width=width, refresh=call.flag("refresh"))
    return 200, {"data_url": thumb.data_url(), **thumb.metadata()}


async def _thumbnail_refresh(service: StreamService, call: _Call) -> Answer:
    return 200, (await service.thumbnail(call.stream_id, refresh=True)).metadata()


async def _cache_stats(service: StreamService, call: _Call) -> Answer:
    return 200, service.cache_stats()


async def _cache_clear(service: StreamService, call: _Call) -> Answer:
    return 200, service.cache_clear()


async def _stats(service: StreamService, call: _Call) -> Answer:
    return 200, await service.stats()


async def _stream_stats(service: StreamService, call: _Call) -> Answer:
    return 200, await service.stream_stats(call.stream_id)


async def _events(service: StreamService, call: _Call) -> Answer:
    return 200, service.events()


_ID = r"(?P<stream_id>[^/]+)"
_TABLE: list[tuple[str, dict[str, _Handler]]] = [
    (r"health", {"GET": _health}),
    (r"streams/?", {"GET": _list, "POST": _add}),
    (rf"streams/{_ID}", {"GET": _get, "PATCH": _update, "PUT": _update, "DELETE": _remove}),
    (rf"streams/{_ID}/thumbnail", {"GET": _thumbnail}),
    (rf"streams/{_ID}/thumbnail/refresh", {"POST": _thumbnail_refresh}),
    (rf"streams/{_ID}/stats", {"GET": _stream_stats}),
    (r"thumbnails/cache/stats", {"GET": _cache_stats}),
    (r"thumbnails/cache/clear", {"POST": _cache_clear}),
    (r"stats", {"GET": _stats}),
    (r"events", {"GET": _events}),
]
_ROUTES = [(re.compile(pattern), methods) for pattern, methods in _TABLE]


def _resolve(method: str, path: str, body: Any) -> tuple[_Handler, _Call]:
    parts = urllib.parse.urlsplit(path)
    route_path = parts.path.lstrip("/")
    query = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()}
    for pattern, methods in _ROUTES:
        match = pattern.fullmatch(route_path)
        if match is None:
            continue
        handler = methods.get(method.upper())
        if handler is None:
            allowed = ", ".join(methods)
            raise _Refused(405, "BAD_REQUEST", f"{method} is not allowed on {route_path}; use {allowed}")
        stream_id = urllib.parse.unquote(match.groupdict().get("stream_id") or "")
        return handler, _Call(stream_id, query, body)
    raise _Refused(404, "NOT_FOUND", f"no API route {route_path[:100]!r}")


async def route(service: StreamService, method: str, path: str, body: Any = None) -> Answer:
    """``(status, JSON body)`` of ``method rtsp/api/<path>`` with the JSON ``body``, as the REST API
    answers it. Never raises for a bad request: every failure is an error answer."""
    try:
        handler, call = _resolve(method, path, body)
        return await handler(service, call)
    except _Refused as exc:
        return exc.status, {"error": {"code": exc.code, "message": exc.message}}
    except RtspNotebookError as exc:
        return status_for(exc), {"error": exc.to_dict()}
    except Exception:
        log.exception("rtsp-notebook: the API call %s %s failed", method, path.split("?")[0][:100])
        message = "an unexpected error happened; the kernel's log has the details"
        return 500, {"error": {"code": "INTERNAL", "message": message}}
