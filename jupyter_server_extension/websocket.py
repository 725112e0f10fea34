"""The stream WebSocket ``{base_url}rtsp/ws/stream?id=<id>[&profile=grid|full][&codec=mpeg1|h264]``.

The handler only adapts: it checks authentication, authorization and the stream id before the
upgrade, creates a :class:`~rtsp_notebook.api.viewer.ViewerConnection` in ``open``, hands it every
message, and closes it in ``on_close``. The connection is the :class:`~rtsp_notebook.api.viewer.Channel`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from rtsp_notebook.api.viewer import ViewerConnection
from rtsp_notebook.engine import CODECS, Engine
from rtsp_notebook.errors import StreamNotFoundError
from rtsp_notebook.media.ffmpeg import Profile
from rtsp_notebook.store import is_stream_id

_closing: set[asyncio.Task[None]] = set()  # keeps viewer-close tasks alive until they finish


class StreamWebSocketHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):  # type: ignore[misc, unused-ignore]
    auth_resource = "rtsp"
    viewer: ViewerConnection | None = None

    @property
    def engine(self) -> Engine:
        return self.settings["rtsp_notebook"]["engine"]  # type: ignore[no-any-return]

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not self.authorizer.is_authorized(self, self.current_user, "read", self.auth_resource):
            raise web.HTTPError(403)
        stream_id = self.get_query_argument("id", "")
        try:
            self.profile = Profile.parse(self.get_query_argument("profile", Profile.GRID.value)).value
            self.codec = self.get_query_argument("codec", "mpeg1")
            if self.codec not in CODECS:
                raise ValueError(f"unknown codec {self.codec!r}: use one of {', '.join(CODECS)}")
        except ValueError as exc:
            raise web.HTTPError(400, str(exc)) from None
        if not is_stream_id(stream_id):
            raise web.HTTPError(404, "no stream with this id")
        try:
            await self.engine.store.get(stream_id)
        except StreamNotFoundError:
            raise web.HTTPError(404, "no stream with this id") from None
        self.stream_id = stream_id
        await super().get(*args, **kwargs)

    async def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)  # Jupyter's keep-alive pings
        self.viewer = ViewerConnection(self.engine, self.stream_id, self.profile, self, self.codec)
        await self.viewer.start()

    async def on_message(self, message: str | bytes) -> None:
        if self.viewer is not None:
            await self.viewer.handle(message)

    def on_close(self) -> None:
        super().on_close()
        if self.viewer is not None:
            task = asyncio.get_running_loop().create_task(self.viewer.close())
            _closing.add(task)
            task.add_done_callback(_closing.discard)

    # -- the Channel the viewer writes to ---------------------------------------------------------
    async def send_binary(self, data: bytes) -> None:
        try:
            await self.write_message(data, binary=True)
        except WebSocketClosedError as exc:
            raise ConnectionError("the WebSocket is closed") from exc

    async def send_json(self, message: dict[str, Any]) -> None:
        try:
            await self.write_message(json.dumps(message))
        except WebSocketClosedError as exc:
            raise ConnectionError("the WebSocket is closed") from exc
