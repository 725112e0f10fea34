"""The stream API's one route table (DESIGN §3), and the answer to one call of it.

Every way into the API uses :data:`ROUTES`: the server extension's REST handlers serve it over HTTP, the
widget's kernel fallback (:mod:`rtsp_notebook.notebook.comm`) answers the page's requests with
:func:`route`, and the Python REST client builds its URLs with :meth:`Route.url`::

    status, body = await route(service, "GET", "streams/ab12/thumbnail?format=json&width=640")
    ROUTE[Op.THUMBNAIL].url("ab12", {"width": 640})  # "streams/ab12/thumbnail?width=640"

Errors are ``{"error": {"code", "message"}}`` with the status of :func:`~rtsp_notebook.errors.status_for`.
Over the comm, thumbnails come as JSON only (``format=json``: a data URL); over HTTP, as JPEG too.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import RtspNotebookError, status_for
from ..store import is_stream_id
from .clips import is_clip_id
from .service import STREAM_SOCKET, StreamService

__all__ = [
    "API_PREFIX",
    "MAX_BODY",
    "ROUTE",
    "ROUTES",
    "STREAM_SOCKET",
    "Call",
    "Op",
    "Route",
    "answer",
    "route",
]

log = logging.getLogger(__name__)

API_PREFIX = "rtsp/api/"  # under the Jupyter server's base URL
MAX_BODY = 64 * 1024  # bytes of a request body, as JSON


class Op(str, enum.Enum):
    """An operation of the stream API: one route and method each; the value is the service's method."""

    HEALTH = "health"
    LIST_STREAMS = "list_streams"
    ADD_STREAM = "add_stream"
    GET_STREAM = "get_stream"
    UPDATE_STREAM = "update_stream"
    REMOVE_STREAM = "remove_stream"
    THUMBNAIL = "thumbnail"
    REFRESH_THUMBNAIL = "refresh_thumbnail"
    STREAM_STATS = "stream_stats"
    CACHE_STATS = "cache_stats"
    CACHE_CLEAR = "cache_clear"
    STATS = "stats"
    EVENTS = "events"
    ADD_CLIP = "add_clip"
    GET_CLIP = "get_clip"
    CLIP_FILE = "clip_file"
    LIST_CLIPS = "list_clips"
    STOP_CLIP = "stop_clip"
    DELETE_CLIP = "delete_clip"


class Refused(Exception):
    """A request the API refuses before the service sees it (unknown route, method, id or body)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Call:
    """One request, as every transport hands it over: the path's stream id, the query and the body."""

    stream_id: str = ""
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    binary: bool = False  # the transport can answer bytes (HTTP), not only JSON (the comm)
    clip_id: str = ""

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true", "yes")

    def json_object(self) -> dict[str, Any]:
        body = {} if self.body is None else self.body
        if not isinstance(body, dict):
            raise Refused(400, "BAD_REQUEST", "the request body must be a JSON object")
        if len(json.dumps(body)) > MAX_BODY:
            raise Refused(413, "BAD_REQUEST", f"the request body is over {MAX_BODY // 1024} KiB")
        return body


# status, and a JSON value (or a Thumbnail or a ClipFile, for a transport that sends bytes)
Answer = tuple[int, Any]
_Handler = Callable[[StreamService, Call], Coroutine[Any, Any, Answer]]


async def _health(service: StreamService, call: Call) -> Answer:
    return 200, await service.health()


async def _list(service: StreamService, call: Call) -> Answer:
    return 200, await service.list_streams()


async def _add(service: StreamService, call: Call) -> Answer:
    return 201, await service.add_stream(call.json_object(), check=call.flag("probe"))


async def _get(service: StreamService, call: Call) -> Answer:
    return 200, await service.get_stream(call.stream_id)


async def _update(service: StreamService, call: Call) -> Answer:
    return 200, await service.update_stream(call.stream_id, call.json_object())


async def _remove(service: StreamService, call: Call) -> Answer:
    await service.remove_stream(call.stream_id)
    return 204, None


async def _thumbnail(service: StreamService, call: Call) -> Answer:
    as_json = call.query.get("format") == "json"
    if not (as_json or call.binary):
        raise Refused(400, "BAD_REQUEST", "over the widget's comm, thumbnails come as JSON: add format=json")
    width_arg = call.query.get("width")
    width: Any = None
    if width_arg is not None:
        width = int(width_arg) if width_arg.strip().isdigit() else width_arg  # the service says what is wrong
    thumb = await service.thumbnail(call.stream_id, width=width, refresh=call.flag("refresh"))
    return 200, ({"data_url": thumb.data_url(), **thumb.metadata()} if as_json else thumb)


async def _refresh_thumbnail(service: StreamService, call: Call) -> Answer:
    return 200, (await service.thumbnail(call.stream_id, refresh=True)).metadata()


async def _cache_stats(service: StreamService, call: Call) -> Answer:
    return 200, service.cache_stats()


async def _cache_clear(service: StreamService, call: Call) -> Answer:
    return 200, service.cache_clear()


async def _stats(service: StreamService, call: Call) -> Answer:
    return 200, await service.stats()


async def _stream_stats(service: StreamService, call: Call) -> Answer:
    return 200, await service.stream_stats(call.stream_id)


async def _events(service: StreamService, call: Call) -> Answer:
    return 200, service.events()


async def _add_clip(service: StreamService, call: Call) -> Answer:
    return 202, await service.add_clip(call.stream_id, call.json_object())


async def _get_clip(service: StreamService, call: Call) -> Answer:
    return 200, await service.get_clip(call.clip_id)


async def _list_clips(service: StreamService, call: Call) -> Answer:
    return 200, await service.list_clips()


async def _stop_clip(service: StreamService, call: Call) -> Answer:
    return 200, await service.stop_clip(call.clip_id)


async def _delete_clip(service: StreamService, call: Call) -> Answer:
    await service.delete_clip(call.clip_id)
    return 204, None


async def _clip_file(service: StreamService, call: Call) -> Answer:
    clip = await service.clip_file(call.clip_id)
    if not call.binary:
        raise Refused(
            400, "BAD_REQUEST",
            f"over the widget's comm (JSON only) a clip cannot be downloaded: {clip.name} is saved in the "
            "kernel's working directory; downloads need the Jupyter server's rtsp-notebook extension",
        )  # fmt: skip
    return 200, clip


@dataclass(frozen=True)
class Route:
    """One operation: its method(s), its path under :data:`API_PREFIX` (``{id}``: a stream id, ``{clip}``: a
    clip id; one of them at most) and its handler."""

    op: Op
    methods: tuple[str, ...]
    path: str
    handler: _Handler = field(repr=False)

    @property
    def pattern(self) -> str:
        """The path as a regular expression (the stream id as the group ``stream_id``, a clip id as
        ``clip_id``)."""
        escaped = re.escape(self.path).replace(r"\{id\}", r"(?P<stream_id>[^/]+)")
        return escaped.replace(r"\{clip\}", r"(?P<clip_id>[^/]+)") + "/?"

    def url(self, ident: str = "", query: Mapping[str, Any] | None = None) -> str:
        """The path of a call (under :data:`API_PREFIX`) with its stream or clip id, ``None`` values left
        out of the query."""
        quoted = urllib.parse.quote(ident, safe="")
        path = self.path.replace("{id}", quoted).replace("{clip}", quoted)
        pairs = {k: v for k, v in (query or {}).items() if v is not None}
        return path + (f"?{urllib.parse.urlencode(pairs)}" if pairs else "")


ROUTES: tuple[Route, ...] = (
    Route(Op.HEALTH, ("GET",), "health", _health),
    Route(Op.LIST_STREAMS, ("GET",), "streams", _list),
    Route(Op.ADD_STREAM, ("POST",), "streams", _add),
    Route(Op.GET_STREAM, ("GET",), "streams/{id}", _get),
    Route(Op.UPDATE_STREAM, ("PATCH", "PUT"), "streams/{id}", _update),
    Route(Op.REMOVE_STREAM, ("DELETE",), "streams/{id}", _remove),
    Route(Op.THUMBNAIL, ("GET",), "streams/{id}/thumbnail", _thumbnail),
    Route(Op.REFRESH_THUMBNAIL, ("POST",), "streams/{id}/thumbnail/refresh", _refresh_thumbnail),
    Route(Op.STREAM_STATS, ("GET",), "streams/{id}/stats", _stream_stats),
    Route(Op.CACHE_STATS, ("GET",), "thumbnails/cache/stats", _cache_stats),
    Route(Op.CACHE_CLEAR, ("POST",), "thumbnails/cache/clear", _cache_clear),
    Route(Op.STATS, ("GET",), "stats", _stats),
    Route(Op.EVENTS, ("GET",), "events", _events),
    Route(Op.ADD_CLIP, ("POST",), "streams/{id}/clips", _add_clip),
    Route(Op.GET_CLIP, ("GET",), "clips/{clip}", _get_clip),
    Route(Op.CLIP_FILE, ("GET",), "clips/{clip}/file", _clip_file),
    Route(Op.LIST_CLIPS, ("GET",), "clips", _list_clips),
    Route(Op.STOP_CLIP, ("POST",), "clips/{clip}/stop", _stop_clip),
    Route(Op.DELETE_CLIP, ("DELETE",), "clips/{clip}", _delete_clip),
)
ROUTE: Mapping[Op, Route] = {r.op: r for r in ROUTES}


def paths() -> dict[str, dict[str, Route]]:
    """Each path pattern with the route of each of its methods (in table order): what HTTP routes on."""
    table: dict[str, dict[str, Route]] = {}
    for entry in ROUTES:
        table.setdefault(entry.pattern, {}).update((m, entry) for m in entry.methods)
    return table


_PATHS = [(re.compile(pattern), methods) for pattern, methods in paths().items()]


def resolve(
    method: str, route_path: str, methods: Mapping[str, Route], stream_id: str = "", clip_id: str = ""
) -> Route:
    """The route of ``method`` among a path's ``methods``; :class:`Refused` for another method or an id
    that cannot exist (the store's ids, and clips', have one shape)."""
    found = methods.get(method.upper())
    if found is None:
        allowed = ", ".join(methods)
        raise Refused(405, "BAD_REQUEST", f"{method} is not allowed on {route_path}; use {allowed}")
    if "{id}" in found.path and not is_stream_id(stream_id):
        raise Refused(404, "NOT_FOUND", "no stream with this id")
    if "{clip}" in found.path and not is_clip_id(clip_id):
        raise Refused(404, "NOT_FOUND", "no clip with this id")
    return found


def _find(method: str, path: str) -> tuple[Route, str]:
    """The route of ``method path`` and the id in its path (a stream's or a clip's; "" without one)."""
    route_path = urllib.parse.urlsplit(path).path.lstrip("/")
    for pattern, methods in _PATHS:
        match = pattern.fullmatch(route_path)
        if match is not None:
            groups = match.groupdict()
            stream_id = urllib.parse.unquote(groups.get("stream_id") or "")
            clip_id = urllib.parse.unquote(groups.get("clip_id") or "")
            return resolve(method, route_path, methods, stream_id, clip_id), stream_id or clip_id
    raise Refused(404, "NOT_FOUND", f"no API route {route_path[:100]!r}")


async def answer(
    service: StreamService, found: Route, call: Call, *, log_name: str = "the kernel's log"
) -> Answer:
    """``(status, body)`` of one call of ``found``; never raises: every failure is an error answer
    (``log_name`` says where an unexpected error's details went)."""
    try:
        return await found.handler(service, call)
    except Refused as exc:
        return refusal(exc)
    except RtspNotebookError as exc:
        return status_for(exc), {"error": exc.to_dict()}
    except Exception:
        log.exception("rtsp-notebook: the API call %s %s failed", found.op.value, call.stream_id)
        message = f"an unexpected error happened; {log_name} has the details"
        return 500, {"error": {"code": "INTERNAL", "message": message}}


def refusal(exc: Refused) -> Answer:
    return exc.status, {"error": {"code": exc.code, "message": exc.message}}


async def route(service: StreamService, method: str, path: str, body: Any = None) -> Answer:
    """``(status, JSON body)`` of ``method rtsp/api/<path>`` with the JSON ``body``, as the REST API
    answers it (thumbnails as JSON only). Never raises for a bad request: every failure is an error answer."""
    try:
        found, ident = _find(method, path)
    except Refused as exc:
        return refusal(exc)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query, keep_blank_values=True)
    clip_id = ident if "{clip}" in found.path else ""
    call = Call(ident if not clip_id else "", {k: v[-1] for k, v in query.items()}, body, clip_id=clip_id)
    return await answer(service, found, call)
