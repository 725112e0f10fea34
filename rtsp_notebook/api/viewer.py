"""One viewer's conversation with the engine, whatever carries it (a WebSocket, a widget comm).

A :class:`ViewerConnection` subscribes to a stream, pumps its subscription into a :class:`Channel`
(awaiting each send, so a slow channel makes the subscription drop to the next I-frame instead of
buffering), turns relay events into the wire messages of DESIGN §4, and handles the client's
actions. Adapters only create it, hand it messages and close it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .._compat import cancel_and_wait
from .._compat import timeout as _timeout
from ..errors import LimitError, RtspNotebookError
from ..media.events import EventKind, RelayEvent, RelayState
from ..media.ffmpeg import Profile
from ..media.subscription import CloseReason, Subscription, SubscriptionClosed

if TYPE_CHECKING:
    from ..engine import Engine
    from ..media.relay import Relay

__all__ = ["ACTIONS", "Channel", "ViewerConnection", "event_message", "viewer_chunks"]

log = logging.getLogger(__name__)

ACTIONS = ("start", "pause", "resume", "stop", "reconnect")
MAX_MESSAGE = 4096  # bytes of a client message
CONTROL_SEND_TIMEOUT = 2.0  # s for a status or error message when the viewer may not be reading

_PHASES = {
    RelayState.IDLE: "connecting",
    RelayState.CONNECTING: "connecting",
    RelayState.PLAYING: "playing",
    RelayState.RECONNECTING: "reconnecting",
    RelayState.ERROR: "reconnecting",  # a persistent error: retries go on, with an error message
    RelayState.STOPPED: "stopped",
}


_QUIET_WHEN_PAUSED = frozenset({"connecting", "playing", "reconnecting"})


class Channel(Protocol):
    """What carries messages to one viewer."""

    async def send_binary(self, data: bytes) -> None: ...

    async def send_json(self, message: dict[str, Any]) -> None: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


def event_message(event: RelayEvent, max_kbps: Mapping[str, int] | None = None) -> dict[str, Any] | None:
    """The wire message for a relay event, or None for events viewers do not see. ``max_kbps``: the
    bitrate ceiling of each MPEG-1 profile (``EngineConfig.mpeg1_kbps``), told in an MPEG-1 video_start."""
    if event.kind is EventKind.STATE:
        phase = _PHASES[event.state]
        if event.state is RelayState.ERROR and event.retry_in_s is None and event.attempt is not None:
            phase = "error"  # the relay tries again only when asked (a wrong password): not "reconnecting"
        message: dict[str, Any] = {"type": "status", "phase": phase}
        if event.message:  # what the relay waits for, e.g. the camera's next keyframe
            message["detail"] = event.message
        if event.attempt is not None:
            message["attempt"] = event.attempt
        if event.retry_in_s is not None:
            message["retry_in_s"] = event.retry_in_s
        return message
    if event.kind is EventKind.VIDEO_START and event.video is not None:
        video = event.video
        message = {"type": "video_start", "codec": video.codec, "width": video.width, "height": video.height,
                   "fps": video.fps}  # fmt: skip
        if video.codec_string is not None:
            message["codec_string"] = video.codec_string
        if video.codec == "mpeg1video" and max_kbps is not None and event.profile in max_kbps:
            message["max_kbps"] = max_kbps[event.profile]
        return message
    if event.kind is EventKind.ERROR:
        return {"type": "error", "code": event.code, "message": event.message, "fatal": False}
    if event.kind is EventKind.ENDED:
        return {"type": "status", "phase": "ended"}
    return None


def error_message(code: str, message: str, *, fatal: bool) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "fatal": fatal}


async def viewer_chunks(
    engine: Engine, stream_id: str, profile: str, codec: str = "mpeg1"
) -> AsyncIterator[bytes | dict[str, Any]]:
    """A stream's video bytes and messages (DESIGN §4) as a WebSocket viewer gets them, for readers in the
    server's or the kernel's process (``frames()``, recordings, clips): it follows the stream when its relay
    changes (REROUTED), and ends with the message a viewer would get."""
    sub = await engine.subscribe(stream_id, profile, codec)
    try:
        while True:
            try:
                item = await sub.get()
            except SubscriptionClosed as exc:
                if exc.reason is CloseReason.REROUTED:  # the relay to watch changed
                    sub.close()
                    sub = await engine.subscribe(stream_id, profile, codec)
                    continue
                if exc.reason is CloseReason.TOO_SLOW:
                    yield error_message("LIMIT", exc.message, fatal=True)
                elif exc.reason is not CloseReason.ENDED:
                    yield {"type": "status", "phase": "stopped"}
                return
            if isinstance(item, bytes):
                yield item
            elif (message := event_message(item, engine.config.mpeg1_kbps)) is not None:
                yield message
    finally:
        sub.close()


class ViewerConnection:
    """Subscription + pump + actions for one viewer of ``stream_id`` in ``profile`` and ``codec``."""

    def __init__(
        self, engine: Engine, stream_id: str, profile: Profile | str, channel: Channel, codec: str = "mpeg1"
    ) -> None:
        self.engine = engine
        self.stream_id = stream_id
        self.profile = Profile.parse(profile)
        self.codec = codec
        self.channel = channel
        self.subscription: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None
        self._waiting: asyncio.Task[None] | None = None  # waits for a place after LIMIT
        self._closed = False

    async def start(self) -> None:
        """Subscribe (again) and pump. ``LIMIT`` is not fatal: the viewer is told, and subscribes as soon
        as a relay or a viewer frees a place. Any other error is a fatal ``error`` message and a close."""
        if self.subscription is not None or self._closed or self._waiting is not None:
            return
        token = self.engine.capacity_token()  # before the attempt: a place freed meanwhile is not missed
        try:
            sub = await self.engine.subscribe(self.stream_id, self.profile, self.codec)
        except LimitError as exc:
            self._waiting = asyncio.get_running_loop().create_task(
                self._wait_for_room(token), name=f"viewer {self.stream_id} waits for room"
            )
            await self._send(error_message(exc.code, exc.message, fatal=False))
            return
        except RtspNotebookError as exc:
            await self._refuse(exc)
            return
        self._attach(sub)

    def _attach(self, sub: Subscription) -> None:
        """Pump a new subscription to the channel (or drop it: the viewer closed while subscribing)."""
        if self._closed:
            sub.close()
            return
        self.subscription = sub
        self._pump = asyncio.get_running_loop().create_task(self._run(sub), name=f"viewer {self.stream_id}")

    async def _refuse(self, exc: RtspNotebookError) -> None:
        """A subscription that failed for good: a fatal ``error`` message, then the channel closes."""
        await self._send(error_message(exc.code, exc.message, fatal=True))
        self.channel.close(1008, exc.code)

    async def _wait_for_room(self, token: asyncio.Event) -> None:
        while not self._closed:
            await token.wait()
            if self._closed:
                return
            token = self.engine.capacity_token()
            try:
                sub = await self.engine.subscribe(self.stream_id, self.profile, self.codec)
            except LimitError:
                continue
            except RtspNotebookError as exc:
                self._waiting = None
                await self._refuse(exc)
                return
            self._waiting = None
            self._attach(sub)
            return

    async def _run(self, sub: Subscription) -> None:
        last_status: dict[str, Any] | None = None
        try:
            while True:
                item = await sub.get()
                if isinstance(item, bytes):
                    # a viewer that takes longer than this for one chunk is stuck, not slow
                    async with _timeout(sub.stuck_timeout):
                        await self.channel.send_binary(item)
                    continue
                message = event_message(item, self.engine.config.mpeg1_kbps)
                # a paused viewer stays "paused" while its relay plays, stops for lack of demand or
                # restarts; it still hears errors, the end of the stream and a server shutdown
                if message is None or (sub.paused and message.get("phase") in _QUIET_WHEN_PAUSED):
                    continue
                if message["type"] == "status":
                    if message == last_status:
                        continue  # e.g. the join's "connecting" and the first run's "connecting"
                    last_status = message
                async with _timeout(sub.stuck_timeout):
                    await self.channel.send_json(message)
        except SubscriptionClosed as exc:
            await self._ended(exc)
        except asyncio.TimeoutError:
            log.info(
                "viewer of %s: nothing read for %g s; disconnecting it", self.stream_id, sub.stuck_timeout
            )
            sub.close(CloseReason.TOO_SLOW)
            self.subscription = None
            self.channel.close(1008, "too slow")
        except (ConnectionError, OSError) as exc:  # the channel went away
            log.debug("viewer of %s: channel closed: %s", self.stream_id, exc)
            sub.close(CloseReason.CHANNEL_CLOSED)

    async def _ended(self, closed: SubscriptionClosed) -> None:
        if self._closed or self.subscription is None:
            return  # our own stop or close
        self.subscription = None
        if closed.reason is CloseReason.REROUTED:
            await self.start()  # the relay it should watch now (the substream was added or removed)
        elif closed.reason is CloseReason.ENDED:
            self.channel.close(1000, "ended")
        elif closed.reason is CloseReason.TOO_SLOW:
            await self._send(error_message("LIMIT", closed.message, fatal=True))
            self.channel.close(1008, "too slow")
        else:
            await self._send({"type": "status", "phase": "stopped"})
            self.channel.close(1001, closed.message[:100])

    def _relay(self) -> Relay | None:
        """The relay this viewer watches (a copy relay for ``h264``)."""
        return self.engine.viewed_relay(self.stream_id, self.profile, self.codec)

    async def handle(self, raw: str | bytes) -> None:
        """One client message: ``{"action": ...}``; anything else gets ``BAD_REQUEST`` (socket stays)."""
        action, problem = self._parse(raw)
        if action is None:
            await self._send(error_message("BAD_REQUEST", problem or "bad message", fatal=False))
            return
        sub = self.subscription
        relay = self._relay()
        if action in ("start", "resume") and relay is not None and relay.state is RelayState.ERROR:
            relay.retry_now()  # Play after an error is the user asking again (after AUTH: the only way)
        if action == "start" or (action == "resume" and sub is None):
            await self.start()
        elif action == "pause" and sub is not None:
            sub.pause()
            await self._send({"type": "status", "phase": "paused"})
        elif action == "resume" and sub is not None:
            sub.resume()
            relay = self._relay()
            state = relay.state if relay is not None else RelayState.CONNECTING
            await self._send({"type": "status", "phase": _PHASES[state]})
        elif action == "stop":
            await self._unsubscribe()
            await self._send({"type": "status", "phase": "stopped"})
        elif action == "reconnect":
            relay = self._relay()
            if relay is not None and relay.state in (RelayState.RECONNECTING, RelayState.ERROR):
                relay.retry_now()
            else:
                await self._unsubscribe()
                await self.start()

    @staticmethod
    def _parse(raw: str | bytes) -> tuple[str | None, str | None]:
        """(action, None) or (None, what is wrong with the message)."""
        if isinstance(raw, bytes) or len(raw) > MAX_MESSAGE:
            return None, f"messages must be JSON text of at most {MAX_MESSAGE} characters"
        try:
            message = json.loads(raw)
        except ValueError:
            return None, "the message is not valid JSON"
        action = message.get("action") if isinstance(message, dict) else None
        if isinstance(action, str) and action in ACTIONS:
            return action, None
        return None, 'unknown action; send {"action": ...} with one of: ' + ", ".join(ACTIONS)

    async def _send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.TimeoutError):
            async with _timeout(CONTROL_SEND_TIMEOUT):
                await self.channel.send_json(message)

    async def _unsubscribe(self) -> None:
        sub, self.subscription = self.subscription, None
        pump, self._pump = self._pump, None
        waiting, self._waiting = self._waiting, None
        if sub is not None:
            sub.close(CloseReason.BY_VIEWER)
        await cancel_and_wait(pump)
        await cancel_and_wait(waiting)

    async def close(self) -> None:
        """The channel is gone: unsubscribe (idempotent)."""
        self._closed = True
        await self._unsubscribe()
