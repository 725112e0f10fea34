"""The grid widget's kernel fallback: the stream API and the video over the widget's comm.

When the page cannot reach the server extension (VS Code, Colab, standalone Voilà, a server without
the extension), the grid sends its requests and opens its stream sockets through the widget's comm
instead, and the kernel answers from its in-process :class:`~rtsp_notebook.api.service.StreamService`.
Custom widget messages carry JSON ``content`` and binary ``buffers``:

page → kernel
    ``{type: "request", id, method, path, body}``   a REST call (``path`` under ``rtsp/api/``)
    ``{type: "open", sid, stream_id, profile, codec}``  a stream socket (DESIGN §4; codec mpeg1 or h264)
    ``{type: "action", sid, text}``                 the socket's text frame, ``{"action": ...}``
    ``{type: "ack", sid, bytes}``                   video bytes the page has handed to its decoder (it
                                                    gathers them: a quarter of the window, or 200 ms)
    ``{type: "close", sid}``                        the page closed the socket
kernel → page
    ``{type: "response", id, status, body}``        the REST API's status and JSON (or ``{"error"}``)
    ``{type: "open", sid, window}``                 the stream exists: the socket is open; ``window``:
                                                    the flow-control window in bytes
    ``{type: "data", sid}`` + one buffer            whole MPEG-TS packets
    ``{type: "message", sid, text}``                the socket's JSON text frames (status, video_start, error)
    ``{type: "closed", sid, code, reason}``         the kernel closed the socket; refused before ``open``:
                                                    ``code`` 4000 + the HTTP status (4404: no such stream)

Flow control: a socket has at most :data:`WINDOW` bytes of video sent and not yet acknowledged. Past it,
``send_binary`` waits, so a page that stops acknowledging is treated like a slow WebSocket: its
subscription drops to the next I-frame when over its budget, and the viewer is disconnected past the
relay's ``stuck_timeout`` (``closed`` with code 1008, "too slow"; the tile reconnects).

Threads: ipykernel hands comm messages to :meth:`KernelBridge.handle` on the kernel's main thread, one
at a time and only between cell executions (a long-running cell holds the page's requests and acks
until it ends); each costs a shell round (busy/idle status, an output flush that waits for the IOPub
thread), which is why the page gathers its acks instead of sending one per video message. Everything
else runs on the process's loop thread (:mod:`rtsp_notebook.notebook.runtime`), and the messages to the page
are sent from there: ipykernel (6 and later; checked on 7.4) queues every IOPub message to its IOPub
thread through a per-thread event pipe, and ``Comm.publish_msg`` falls back to the shell's parent
header outside the main thread, so ``widget.send`` is safe from another thread.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import logging
import weakref
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

from ..api.routes import route
from ..api.service import StreamService, checked_id
from ..api.viewer import ViewerConnection
from ..engine import CODECS
from ..errors import RtspNotebookError, StreamNotFoundError, status_for
from ..media.ffmpeg import Profile
from .runtime import LoopThread, local_service, loop_thread

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["WINDOW", "CommSocket", "KernelBridge"]

log = logging.getLogger(__name__)

WINDOW = 512 * 1024  # bytes of video a socket may have sent and not yet acknowledged
CLOSE_TIMEOUT = 10.0  # s for closing every socket of a bridge
MAX_ID = 100  # characters of a request or socket id

Send = Callable[[dict[str, Any], list[bytes]], None]
ServiceSource = StreamService | Callable[[], StreamService]

_bridges: weakref.WeakSet[KernelBridge] = weakref.WeakSet()


def _is_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID


class CommSocket:
    """One stream socket over the comm: the :class:`~rtsp_notebook.api.viewer.Channel` of its viewer, with
    acknowledgement-based flow control. Lives on the loop thread."""

    def __init__(self, bridge: KernelBridge, sid: str, window: int = WINDOW) -> None:
        self.bridge = bridge
        self.sid = sid
        self.window = window
        self.unacked = 0  # video bytes sent and not yet acknowledged
        self.closed = False
        self.viewer: ViewerConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()  # the page's actions; None: closed
        self._acked = asyncio.Event()

    async def run(self, engine: Engine, stream_id: object, profile: object, codec: object = None) -> None:
        """Open the socket (or refuse it), then hand the page's actions to the viewer in order until
        either side closes it."""
        try:
            self.viewer = await self._open(engine, stream_id, profile, codec)
            if self.viewer is None:
                return
            await self.viewer.start()
            while (text := await self._inbox.get()) is not None:
                await self.viewer.handle(text)
        finally:
            self._stop()
            if self.viewer is not None:
                await self.viewer.close()
            if self.bridge.sockets.get(self.sid) is self:
                del self.bridge.sockets[self.sid]

    async def _open(
        self, engine: Engine, stream_id: object, profile: object, codec: object
    ) -> ViewerConnection | None:
        try:
            prof = Profile.parse(profile if profile is not None else Profile.GRID.value)
            wire = "mpeg1" if codec is None else str(codec)
            if wire not in CODECS:
                raise ValueError(f"unknown codec {wire!r}: use one of {', '.join(CODECS)}")
            sid = checked_id(stream_id)
            await engine.store.get(sid)
        except ValueError as exc:  # the profile or the codec
            self._refuse(4400, str(exc))
            return None
        except StreamNotFoundError:
            self._refuse(4404, "no stream with this id")
            return None
        except RtspNotebookError as exc:
            self._refuse(4000 + status_for(exc), exc.message)
            return None
        if self.closed:  # the page closed it meanwhile
            return None
        self.bridge.emit({"type": "open", "sid": self.sid, "window": self.window})
        return ViewerConnection(engine, sid, prof.value, self, wire)

    def _refuse(self, code: int, reason: str) -> None:
        if not self.closed:
            self._stop()
            self.bridge.emit({"type": "closed", "sid": self.sid, "code": code, "reason": reason})

    # -- the page ----------------------------------------------------------------------------------
    def action(self, text: object) -> None:
        if not self.closed:
            self._inbox.put_nowait(text if isinstance(text, str) else json.dumps(text))

    def ack(self, count: object) -> None:
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            self.unacked = max(0, self.unacked - count)
            self._acked.set()

    def stop(self) -> None:
        """The page closed the socket (or the bridge closes): the viewer unsubscribes."""
        self._stop()

    def _stop(self) -> None:
        self.closed = True
        self._acked.set()  # a send waiting for the window gives up
        self._inbox.put_nowait(None)

    # -- the Channel -------------------------------------------------------------------------------
    async def send_binary(self, data: bytes) -> None:
        # one chunk may exceed the window when nothing is outstanding (a large I-frame)
        while not self.closed and self.unacked and self.unacked + len(data) > self.window:
            self._acked.clear()
            await self._acked.wait()
        if self.closed:
            raise ConnectionError("the page closed the stream socket")
        self.unacked += len(data)
        self.bridge.emit({"type": "data", "sid": self.sid}, [data])

    async def send_json(self, message: dict[str, Any]) -> None:
        if self.closed:
            raise ConnectionError("the page closed the stream socket")
        self.bridge.emit({"type": "message", "sid": self.sid, "text": json.dumps(message)})

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """The viewer ends the socket (stream ended, viewer too slow, a fatal error)."""
        if not self.closed:
            self._stop()
            self.bridge.emit(
                {"type": "closed", "sid": self.sid, "code": code or 1000, "reason": reason or ""}
            )

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<CommSocket {self.sid} {state} unacked={self.unacked}>"


class KernelBridge:
    """Answers one widget's page over its comm: requests through :func:`~rtsp_notebook.api.routes.route`,
    stream sockets through :class:`~rtsp_notebook.api.viewer.ViewerConnection`.

    ``send(content, buffers)`` sends a custom message to the page (the widget's ``send``). ``service``
    is a :class:`StreamService` running on the process's loop thread, or a function returning one,
    called on the first message (by default :func:`~rtsp_notebook.notebook.runtime.local_service`: nothing is
    opened while the page talks to the server extension)."""

    def __init__(self, send: Send, service: ServiceSource | None = None, *, window: int = WINDOW) -> None:
        self._send = send
        self._source: ServiceSource = service if service is not None else local_service
        self._service: StreamService | None = None
        self._thread: LoopThread | None = None
        self.window = window
        self.sockets: dict[str, CommSocket] = {}  # loop thread only
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        _bridges.add(self)

    def _ready(self) -> tuple[StreamService, LoopThread]:
        if self._service is None:
            source = self._source
            self._service = source if isinstance(source, StreamService) else source()
        if self._thread is None:
            self._thread = loop_thread()
        return self._service, self._thread

    def handle(self, content: Any, buffers: Sequence[Any] = ()) -> None:
        """A message from the page (on the kernel's main thread); answered from the loop thread."""
        if self.closed or not isinstance(content, dict) or content.get("type") not in _KINDS:
            log.debug("rtsp-notebook: ignored a widget message %.100r", content)
            return
        if content["type"] in ("request", "open"):
            try:
                service, thread = self._ready()  # blocking on first use: opens the store, finds FFmpeg
            except RtspNotebookError as exc:
                self._unavailable(content, exc)
                return
        elif self._service is None or self._thread is None:
            return  # an ack, action or close before any socket: nothing to start for it
        else:
            service, thread = self._service, self._thread
        thread.loop.call_soon_threadsafe(self._dispatch, service, content)

    def _unavailable(self, content: dict[str, Any], exc: RtspNotebookError) -> None:
        log.warning("rtsp-notebook: the kernel's stream service cannot start: %s", exc.message)
        if content["type"] == "request" and _is_id(content.get("id")):
            self.emit(
                {
                    "type": "response",
                    "id": content["id"],
                    "status": status_for(exc),
                    "body": {"error": exc.to_dict()},
                }
            )
        elif content["type"] == "open" and _is_id(content.get("sid")):
            code = 4000 + status_for(exc)
            self.emit({"type": "closed", "sid": content["sid"], "code": code, "reason": exc.message})

    def _dispatch(self, service: StreamService, content: dict[str, Any]) -> None:
        """On the loop thread, in the order the page sent them."""
        if self.closed:
            return
        kind = content["type"]
        if kind == "request":
            if _is_id(content.get("id")):
                self._spawn(self._answer(service, content))
            return
        sid = content.get("sid")
        if not _is_id(sid):
            return
        if kind == "open":
            if sid not in self.sockets:
                opened = self.sockets[sid] = CommSocket(self, sid, self.window)
                opened.task = self._spawn(
                    opened.run(
                        service.engine, content.get("stream_id"), content.get("profile"), content.get("codec")
                    )
                )
            return
        sock = self.sockets.get(sid)
        if sock is None:
            return
        if kind == "ack":
            sock.ack(content.get("bytes"))
        elif kind == "action":
            sock.action(content.get("text"))
        else:  # close
            sock.stop()

    async def _answer(self, service: StreamService, content: dict[str, Any]) -> None:
        method, path = content.get("method"), content.get("path")
        if isinstance(method, str) and isinstance(path, str):
            status, body = await route(service, method, path, content.get("body"))
        else:
            status, body = (
                400,
                {"error": {"code": "BAD_REQUEST", "message": "a request needs a method and a path"}},
            )
        self.emit({"type": "response", "id": content["id"], "status": status, "body": body})

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def emit(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        """Send a message to the page (from any thread); nothing once the bridge is closed."""
        if self.closed:
            return
        try:
            self._send(content, buffers or [])
        except Exception:
            log.exception("rtsp-notebook: could not send a %s message to the page", content.get("type"))

    def close(self) -> None:
        """Close every socket (their viewers unsubscribe) and answer nothing more. Idempotent; blocks
        up to ``CLOSE_TIMEOUT`` when called from another thread than the loop's."""
        if self.closed:
            return
        self.closed = True
        _bridges.discard(self)
        thread = self._thread
        if thread is None or not thread.running:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is thread.loop:
            self._spawn(self._close_sockets())
            return
        try:
            thread.run(self._close_sockets(), CLOSE_TIMEOUT)
        except concurrent.futures.TimeoutError:
            log.warning("rtsp-notebook: the widget's streams did not close in %g s", CLOSE_TIMEOUT)

    async def _close_sockets(self) -> None:
        sockets = list(self.sockets.values())
        for sock in sockets:
            sock.stop()
        tasks = [s.task for s in sockets if s.task is not None]
        if tasks:
            await asyncio.wait(tasks)

    def __repr__(self) -> str:
        return f"<KernelBridge sockets={len(self.sockets)}{' closed' if self.closed else ''}>"


_KINDS = ("request", "open", "action", "ack", "close")


@atexit.register
def _close_bridges() -> None:
    """At kernel exit, before the loop thread stops (atexit runs this before runtime's own hook)."""
    for bridge in list(_bridges):
        bridge.close()
