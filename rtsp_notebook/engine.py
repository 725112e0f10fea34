"""The engine: the stream store, FFmpeg and every relay of one process, in one owner.

The server extension and the in-process Python API both drive an ``Engine``: it looks streams up in
the store (off the event loop), keeps at most one relay per (stream, profile), enforces the relay and
viewer limits, restarts relays when a URL changes, ends them when a stream is removed, keeps an event
log, and stops every FFmpeg on :meth:`close`.

``max_relays`` counts relays that hold an FFmpeg, and ``max_transcodes`` those of them that make MPEG-1
(a copy of a camera's video costs about 0.01 core at 720p25, a transcode 0.08 to 0.16: BENCHMARKS.md).
When a new relay is needed at a limit, a relay that nobody watches (its viewers all paused, or none left,
and no keep-alive) gives its place up at once; only when every running relay is watched is the new one
refused with ``LIMIT``, and :meth:`capacity_token` lets a refused viewer wait for a place. The transport
``auto`` tries TCP, then UDP after an RTSP 461, and
remembers per stream what worked.

One RTSP session per camera stream (DESIGN §2): a stream's ``source`` relay is the only one that opens the
camera (its own video copied into MPEG-TS); viewers of ``codec=h264`` watch it directly, and the MPEG-1
profiles ``grid`` and ``full`` are :class:`~.media.transcode.TranscodeRelay` s fed from it. A stream with a
``sub_url`` (the camera's low-resolution substream) has a second copy relay, ``sub``, for what tiles show
(``grid``: H.264 tiles and the MPEG-1 grid transcode); the expanded view (``full``), ``frames()`` at full
size and thumbnails use the main stream. A copy relay that only feeds transcodes is not counted by
``max_relays`` (its transcodes are), nor are their feeds counted as viewers.

A camera whose video MPEG-TS cannot carry (MJPEG: :class:`~.errors.NotCarriedError` from its copy relay)
keeps the direct path: its ``grid`` and ``full`` profiles are relays that open the camera and transcode it
(one session each), and its ``h264`` viewers are given them (``video_start`` says ``mpeg1video``, and the
page plays MPEG-1). The engine learns it from the copy relay's first run and remembers it until the URL
changes.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import LimitError, NotCarriedError
from .media.events import EventKind, RelayEvent, RelayState
from .media.ffmpeg import (
    PROFILES,
    FFmpegInfo,
    Profile,
    argv_for_display,
    check_kbps,
    find_ffmpeg,
    relay_argv,
    source_argv,
    transcode_argv,
    transport_order,
)
from .media.prebuffer import Prebuffer
from .media.relay import Relay, RelayConfig
from .media.sources import Source, parse_source
from .media.stats import RelayStats
from .media.subscription import CloseReason, Subscription
from .media.transcode import TranscodeRelay
from .store import AsyncStore, StreamRecord, StreamStore, default_store_path

__all__ = ["CODECS", "Engine", "EngineConfig"]

CODECS = ("mpeg1", "h264")  # what a viewer may ask for: the MPEG-1 transcodes, or the camera's own video

log = logging.getLogger(__name__)

# A stream shows the liveliest state among its relays.
_STATE_RANK = [
    RelayState.PLAYING,
    RelayState.CONNECTING,
    RelayState.RECONNECTING,
    RelayState.ERROR,
    RelayState.IDLE,
    RelayState.STOPPED,
]


def _copy_for(record: StreamRecord, profile: Profile) -> Profile:
    """The copy relay behind ``profile``: tiles (``grid``) watch the substream when there is one."""
    if profile.copied:
        return profile
    return Profile.SUB if profile is Profile.GRID and record.sub_url is not None else Profile.SOURCE


def _prebuffer_s(record: StreamRecord) -> float:
    """Seconds of the camera's own video the stream keeps for clips (its ``prebuffer_s`` option; 0: none)."""
    return float(record.options.get("prebuffer_s") or 0)


def _camera(record: StreamRecord, copy: Profile) -> Source:
    """The camera stream a copy relay opens."""
    if copy is Profile.SUB and record.sub_url is not None:
        return parse_source(record.sub_url)
    return parse_source(record.url)


@dataclass(frozen=True)
class EngineConfig:
    relay: RelayConfig = field(default_factory=RelayConfig)
    max_relays: int = 64  # relays holding an FFmpeg at once (a copy of a camera's video: ~0.01 core)
    max_transcodes: int = 16  # of them, MPEG-1 transcodes (~0.08-0.16 core each at 720p25)
    max_viewers: int = 64  # subscriptions per stream, over its profiles
    max_probes: int = 4  # probes (one FFmpeg each) at once; more wait for a place
    event_log: int = 1000  # events kept for ``events()``
    # bitrate ceilings of the MPEG-1 profiles (JSMpeg), in kb/s: a busy picture is coarsened to stay near
    # them, a quiet one costs less (BENCHMARKS.md, "MPEG-1 bitrate ceilings")
    mpeg1_grid_kbps: int = PROFILES[Profile.GRID].max_kbps
    mpeg1_full_kbps: int = PROFILES[Profile.FULL].max_kbps

    def __post_init__(self) -> None:
        for name in ("mpeg1_grid_kbps", "mpeg1_full_kbps"):
            check_kbps(getattr(self, name), name)

    @property
    def mpeg1_kbps(self) -> dict[str, int]:
        """The MPEG-1 bitrate ceiling of each transcoded profile, by its wire name."""
        return {Profile.GRID.value: self.mpeg1_grid_kbps, Profile.FULL.value: self.mpeg1_full_kbps}


class Engine:
    """Owns the relays of one process. Build it with :meth:`open` (or from parts in tests)."""

    def __init__(self, store: AsyncStore, ffmpeg: FFmpegInfo, config: EngineConfig | None = None) -> None:
        self.store = store
        self.ffmpeg = ffmpeg
        self.config = config or EngineConfig()
        self._relays: dict[tuple[str, Profile], Relay] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._leaving: dict[tuple[str, Profile], asyncio.Task[None]] = {}  # forgotten relays still stopping
        self._events: collections.deque[RelayEvent] = collections.deque(maxlen=self.config.event_log)
        self._closed = False
        self._transports: dict[str, str] = {}  # stream id -> the transport that worked ("auto" streams)
        self._records: dict[str, StreamRecord] = {}  # the latest record of each stream with relays
        self._direct: set[tuple[str, Profile]] = set()  # (stream, copy profile): video MPEG-TS cannot carry
        self._capacity = asyncio.Event()  # set and replaced when a place may have freed: capacity_token()
        self.probe_slots = asyncio.Semaphore(self.config.max_probes)

    @classmethod
    async def open(
        cls,
        store_path: str | os.PathLike[str] | None = None,
        *,
        ffmpeg_path: str | None = None,
        config: EngineConfig | None = None,
    ) -> Engine:
        """Find FFmpeg, open the store, and start the relays of keep-alive streams."""
        ffmpeg = await asyncio.to_thread(find_ffmpeg, ffmpeg_path)
        path = store_path if store_path is not None else default_store_path()
        store = AsyncStore(await asyncio.to_thread(StreamStore, path))
        engine = cls(store, ffmpeg, config)
        await engine.start_keep_alive()
        return engine

    async def start_keep_alive(self) -> None:
        """Start the relays of the streams whose ``keep_alive`` option is on."""
        for record in await self.store.list():
            self._keep_alive(record)

    # -- relays ---------------------------------------------------------------------------------
    @property
    def relays(self) -> dict[tuple[str, Profile], Relay]:
        return dict(self._relays)

    def relay(self, stream_id: str, profile: Profile | str = Profile.GRID) -> Relay | None:
        return self._relays.get((stream_id, Profile(profile)))

    @property
    def running_relays(self) -> int:
        """Relays that hold an FFmpeg (the ones ``max_relays`` counts), but a source relay that only
        feeds transcodes: a camera's MPEG-1 tile is one relay to its user."""
        feeding = self._feeds()
        return sum(
            1
            for relay in self._relays.values()
            if relay.running and not (relay.subscriptions and relay.subscriptions <= feeding)
        )

    def _feeds(self) -> set[Subscription]:
        """The subscriptions of transcodes to their source relays (not viewers)."""
        return {r.feed for r in self._relays.values() if isinstance(r, TranscodeRelay) and r.feed is not None}

    def capacity_token(self) -> asyncio.Event:
        """Take this before trying to subscribe; after a LIMIT, ``await token.wait()`` returns once a
        relay or a viewer may have freed a place since the token was taken (then try again: the place
        may be taken), so a place freed during the attempt is never missed."""
        return self._capacity

    def _notify_capacity(self, _relay: Relay | None = None) -> None:
        event, self._capacity = self._capacity, asyncio.Event()
        event.set()

    @property
    def running_transcodes(self) -> int:
        """MPEG-1 relays holding an FFmpeg (the ones ``max_transcodes`` counts)."""
        return sum(1 for relay in self._relays.values() if relay.running and not relay.profile.copied)

    def _make_room(self, *, transcode: bool = False) -> bool:
        """At a limit: stop the relay nobody watches (a transcode, for ``max_transcodes``) that was watched
        least recently; False if every running one is watched."""
        idle = [
            r
            for r in self._relays.values()
            if r.running and not r.needed and not (transcode and r.profile.copied)
        ]
        if not idle:
            return False
        victim = min(idle, key=lambda r: r.last_frame_at or 0.0)
        log.info("relay limit reached: stopping %s, which nobody watches, to make room", victim.name)
        if victim.subscriptions:
            task = asyncio.get_running_loop().create_task(victim.sleep(), name=f"sleep {victim.name}")
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        else:
            self._forget(victim)
        return True

    async def subscribe(
        self, stream_id: str, profile: Profile | str = Profile.GRID, codec: str = "mpeg1"
    ) -> Subscription:
        """Subscribe to a stream's relay for ``profile`` and ``codec``, starting it if needed: ``h264``
        is the camera's own video (its source relay), ``mpeg1`` the transcode of ``profile``."""
        prof = Profile.parse(profile)
        if codec not in CODECS:
            raise ValueError(f"unknown codec {codec!r}: use one of {', '.join(CODECS)}")
        self._check_open()
        record = await self.store.get(stream_id)  # StreamNotFoundError for an unknown id
        prof = self._route(record, prof, codec)
        key = (record.id, prof)
        await self._after_leaving(key)
        self._check_open()
        # no await from here on: twenty simultaneous joins find or create the same relay
        viewers = self._viewers(self._stream_relays(stream_id))
        if viewers >= self.config.max_viewers:
            raise LimitError(f"this stream already has {viewers} viewers, the most allowed")
        return self._relay_for(record, prof).subscribe()

    def viewed_relay(self, stream_id: str, profile: Profile | str, codec: str = "mpeg1") -> Relay | None:
        """The relay a viewer of ``profile`` and ``codec`` watches now (a copy relay for ``h264``)."""
        prof = Profile(profile)
        record = self._records.get(stream_id)
        if record is not None:
            prof = self._route(record, prof, codec)
        elif codec == "h264":
            prof = Profile.SOURCE
        return self._relays.get((stream_id, prof))

    def _route(self, record: StreamRecord, profile: Profile, codec: str) -> Profile:
        """The relay a viewer of ``profile`` and ``codec`` watches: the copy relay behind ``profile`` for
        ``h264``, else (or when that camera's video cannot be copied) the MPEG-1 relay of ``profile``."""
        copy = _copy_for(record, profile)
        if codec == "h264" and not self._is_direct(record, profile):
            return copy
        return profile

    def _is_direct(self, record: StreamRecord, profile: Profile) -> bool:
        """Whether ``profile`` is transcoded from the camera directly (its copy cannot be made)."""
        return not profile.copied and (record.id, _copy_for(record, profile)) in self._direct

    async def _after_leaving(self, key: tuple[str, Profile]) -> None:
        """Return once no forgotten relay of ``key`` is still stopping its FFmpeg (none runs then: at
        once). A new relay started while the old one stops would give the camera two sessions of ours
        (for a source relay) or a profile two transcodes."""
        while key not in self._relays and (leaving := self._leaving.get(key)) is not None:
            await asyncio.wait({leaving})

    def _check_room(self, relay: Relay | None, profile: Profile) -> None:
        """Raise LIMIT if starting ``relay`` (None: a new one) of ``profile`` would pass ``max_relays``,
        or for an MPEG-1 profile ``max_transcodes``."""
        if relay is not None and relay.running:
            return
        limit = self.config.max_relays
        if self.running_relays >= limit and not self._make_room():
            raise LimitError(
                f"{limit} cameras are playing, the most this server runs at once (max_relays): waiting for "
                "one to stop. Pause or close a tile, or raise RtspNotebookApp.max_relays"
            )
        limit = self.config.max_transcodes
        if profile.copied or self.running_transcodes < limit or self._make_room(transcode=True):
            return
        raise LimitError(
            f"{limit} MPEG-1 transcodes are running, the most this server runs at once (max_transcodes): "
            "waiting for one to stop. Pause or close a tile that plays MPEG-1 (tiles that play H.264 need "
            "none), or raise RtspNotebookApp.max_transcodes"
        )

    def transport_for(self, record: StreamRecord) -> str:
        """The transport a one-shot FFmpeg (a thumbnail grab) should use for this stream now."""
        option = str(record.options.get("transport", "auto"))
        return transport_order(option, self._transports.get(record.id))[0]

    def _argvs(self, record: StreamRecord, profile: Profile) -> tuple[list[str], list[str] | None]:
        """The relay's argv, and its fallback over the other transport (transport ``auto``)."""
        kbps = self.config.mpeg1_kbps.get(profile.value)  # an MPEG-1 profile's ceiling (None: a copy)
        if not profile.copied and not self._is_direct(record, profile):
            return transcode_argv(self.ffmpeg.path, profile, max_kbps=kbps), None
        source = _camera(record, profile if profile.copied else _copy_for(record, profile))
        option = str(record.options.get("transport", "auto"))
        first, fallback = transport_order(option, self._transports.get(record.id))

        def argv(transport: str) -> list[str]:
            if profile.copied:
                return source_argv(self.ffmpeg.path, source, transport=transport)
            return relay_argv(self.ffmpeg.path, source, profile, transport=transport, max_kbps=kbps)

        return argv(first), argv(fallback) if fallback else None

    def _remember_transport(self, relay: Relay) -> None:
        """The relay switched transport after the camera refused one: its other relays start with this."""
        if "-rtsp_transport" in relay.argv:
            transport = relay.argv[relay.argv.index("-rtsp_transport") + 1]
            self._transports[relay.stream_id] = transport
            log.info("stream %s: the camera refused TCP; its relays use %s", relay.stream_id, transport)

    def _relay_for(self, record: StreamRecord, profile: Profile, *, check: bool = True) -> Relay:
        key = (record.id, profile)
        self._records[record.id] = record
        relay = self._relays.get(key)
        if check:
            self._check_room(relay, profile)
        if relay is None:
            relay = self._new_relay(record, profile)
            self._relays[key] = relay
        return relay

    async def _source(self, stream_id: str, profile: Profile) -> Relay:
        """The copy relay that feeds the transcode of ``profile`` (the substream for ``grid`` when the
        stream has one), made again if it went idle and was dropped, once the dropped one has stopped (the
        camera never has two sessions of ours)."""
        await self._after_leaving((stream_id, _copy_for(self._records[stream_id], profile)))
        self._check_open()  # a transcode starting while the engine closes must not start a camera session
        record = self._records[stream_id]  # the latest: its substream may have changed meanwhile
        return self._relay_for(record, _copy_for(record, profile), check=False)

    def _new_relay(self, record: StreamRecord, profile: Profile) -> Relay:
        source = _camera(record, profile if profile.copied else _copy_for(record, profile))
        argv, fallback = self._argvs(record, profile)
        log.info("stream %s/%s: relay %s", record.id, profile.value, argv_for_display(argv, source))
        common: dict[str, Any] = {
            "config": self.config.relay,
            "keep_alive": (bool(record.options.get("keep_alive")) and profile is Profile.GRID)
            or (profile is Profile.SOURCE and _prebuffer_s(record) > 0),
            "on_event": self._on_event,
            "on_idle": self._forget,
            "on_demand": self._notify_capacity,
            "on_wake": self._wake,
        }
        if not profile.copied and not self._is_direct(record, profile):
            return TranscodeRelay(
                record.id, profile, argv, upstream=lambda: self._source(record.id, profile), **common
            )
        relay = Relay(
            record.id,
            profile,
            argv,
            secrets=source.secrets,
            fallback_argv=fallback,
            on_fallback=self._remember_transport,
            **common,
        )
        if profile is Profile.SOURCE and _prebuffer_s(record) > 0:
            relay.prebuffer = Prebuffer(_prebuffer_s(record))
        return relay

    def _wake(self, relay: Relay) -> None:
        """A paused viewer resumes a stopped relay: make room for it if the limit is reached."""
        over = self.running_relays >= self.config.max_relays and not self._make_room()
        if not relay.profile.copied and self.running_transcodes >= self.config.max_transcodes:
            over = not self._make_room(transcode=True) or over
        if over:
            log.warning(
                "%s resumes over max_relays (%d) or max_transcodes (%d): every other one is watched",
                relay.name,
                self.config.max_relays,
                self.config.max_transcodes,
            )

    def _on_event(self, event: RelayEvent) -> None:
        self._events.append(event)
        if event.state in (RelayState.IDLE, RelayState.STOPPED):
            self._notify_capacity()
        if event.kind is EventKind.ERROR and event.code == NotCarriedError.code:
            relay = self._relays.get((event.stream_id, Profile(event.profile)))
            if relay is not None and isinstance(relay.last_error, NotCarriedError):
                self._go_direct(relay)

    def _go_direct(self, copy: Relay) -> None:
        """The camera's video cannot be copied: its copy relay goes, and what watched it or its
        transcodes subscribes again, to relays that transcode the camera directly."""
        record = self._records.get(copy.stream_id)
        if record is None:
            return
        self._direct.add((copy.stream_id, copy.profile))
        log.info(
            "stream %s: its video cannot be copied into MPEG-TS; its profiles transcode the camera directly",
            copy.stream_id,
        )
        self._forget(copy, CloseReason.REROUTED)
        for profile in (Profile.GRID, Profile.FULL):
            relay = self._relays.get((copy.stream_id, profile))
            if isinstance(relay, TranscodeRelay) and _copy_for(record, profile) is copy.profile:
                self._forget(relay, CloseReason.REROUTED)

    def _keep_alive(self, record: StreamRecord) -> None:
        if record.options.get("keep_alive") and not self._closed:
            try:
                self._relay_for(record, Profile.GRID).start()
            except LimitError as exc:
                log.warning("stream %s: keep-alive relay not started: %s", record.id, exc.message)
        if _prebuffer_s(record) > 0 and not self._closed and (record.id, Profile.SOURCE) not in self._direct:
            try:
                self._relay_for(record, Profile.SOURCE).start()
            except LimitError as exc:
                log.warning("stream %s: prebuffer's relay not started: %s", record.id, exc.message)

    def _set_prebuffer(self, record: StreamRecord) -> None:
        """The stream's ``prebuffer_s`` changed: its running source relay keeps that much, or stops."""
        relay = self._relays.get((record.id, Profile.SOURCE))
        if relay is None:
            return
        seconds = _prebuffer_s(record)
        if seconds > 0:
            if relay.prebuffer is None:
                relay.prebuffer = Prebuffer(seconds)
            relay.prebuffer.seconds = seconds
        elif relay.prebuffer is not None:
            relay.prebuffer.close()
            relay.prebuffer = None
        relay.keep_alive = seconds > 0
        if not relay.keep_alive and not relay.subscriptions:
            self._forget(relay)

    def copies_nothing(self, stream_id: str) -> bool:
        """Whether the stream's main video is one MPEG-TS cannot carry (MJPEG): it is only transcoded, so
        nothing of it is kept for clips (known once its copy relay has tried, until its URL changes)."""
        return (stream_id, Profile.SOURCE) in self._direct

    def prebuffer(self, stream_id: str) -> Prebuffer | None:
        """The stream's prebuffer (its source relay's), while the relay runs with one."""
        relay = self._relays.get((stream_id, Profile.SOURCE))
        return relay.prebuffer if relay is not None else None

    def _forget(self, relay: Relay, reason: CloseReason = CloseReason.STOPPED) -> None:
        """Drop a relay from the table at once (a new join makes a new one) and stop it (its subscribers
        are closed with ``reason``)."""
        key = (relay.stream_id, relay.profile)
        if self._relays.get(key) is relay:
            del self._relays[key]
        if not self._stream_relays(relay.stream_id):
            self._records.pop(relay.stream_id, None)
        task = asyncio.get_running_loop().create_task(relay.stop(reason), name=f"stop {relay.name}")
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
        self._leaving[key] = task
        task.add_done_callback(
            lambda done: self._leaving.pop(key, None) if self._leaving.get(key) is done else None
        )
        self._notify_capacity()

    def _stream_relays(self, stream_id: str) -> list[Relay]:
        return [r for (sid, _), r in self._relays.items() if sid == stream_id]

    # -- streams --------------------------------------------------------------------------------
    async def add_stream(
        self,
        url: str,
        label: str | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        sub_url: str | None = None,
    ) -> StreamRecord:
        record = await self.store.add(url, label, options, sub_url=sub_url)
        self._keep_alive(record)
        return record

    async def update_stream(
        self,
        stream_id: str,
        *,
        url: str | None = None,
        label: str | None = None,
        options: Mapping[str, Any] | None = None,
        sub_url: str | None = None,
    ) -> StreamRecord:
        """Change a stream (``sub_url=""`` removes its substream); its running copy relays restart when
        their URL or the transport changed, and the relays that follow the substream move to it."""
        before = await self.store.get(stream_id)
        record = await self.store.update(stream_id, url=url, label=label, options=options, sub_url=sub_url)
        if stream_id in self._records:
            self._records[stream_id] = record
        transport = record.options.get("transport")
        if transport != before.options.get("transport"):
            self._transports.pop(stream_id, None)  # a new choice: try again from TCP
            await self._restart_copy(record, Profile.SOURCE)
            await self._restart_copy(record, Profile.SUB)
        else:
            if record.url != before.url:
                self._transports.pop(stream_id, None)  # a new camera: try again from TCP
                self._leave_direct(record, Profile.SOURCE)
                await self._restart_copy(record, Profile.SOURCE)
            if record.sub_url != before.sub_url:
                self._leave_direct(record, Profile.SUB)
                await self._reroute(record, had_sub=before.sub_url is not None)
        if _prebuffer_s(record) != _prebuffer_s(before):
            self._set_prebuffer(record)
        keep = bool(record.options.get("keep_alive"))
        for relay in self._stream_relays(stream_id):
            if relay.profile is Profile.GRID and relay.keep_alive != keep:
                relay.keep_alive = keep
                if not keep and not relay.subscriptions:
                    self._forget(relay)
        self._keep_alive(record)
        return record

    async def _restart_copy(self, record: StreamRecord, copy: Profile) -> None:
        """Restart the relays that open the camera stream ``copy`` on its (new) URL or transport: its copy
        relay, or its direct transcodes. A copy's transcodes follow its restart (restarting them too would
        replay the old URL's error to their viewers and stop their FFmpeg)."""
        for relay in self._stream_relays(record.id):
            if relay.profile is copy or (
                self._is_direct(record, relay.profile) and _copy_for(record, relay.profile) is copy
            ):
                argv, relay.fallback_argv = self._argvs(record, relay.profile)
                await relay.restart(argv, _camera(record, copy).secrets)

    def _leave_direct(self, record: StreamRecord, copy: Profile) -> None:
        """A new URL for a camera stream transcoded directly: it may copy now; its relays go, and their
        viewers subscribe again (to the route the new camera gets)."""
        if (record.id, copy) not in self._direct:
            return
        for relay in self._stream_relays(record.id):
            if not relay.profile.copied and _copy_for(record, relay.profile) is copy:
                self._forget(relay, CloseReason.REROUTED)
        self._direct.discard((record.id, copy))

    async def _reroute(self, record: StreamRecord, *, had_sub: bool) -> None:
        """The substream was added, changed or removed: the old ``sub`` relay goes, and what watched it
        (H.264 tiles, the grid transcode) subscribes again to the relay it should watch now."""
        old = self._relays.get((record.id, Profile.SUB))
        if old is not None:
            self._forget(old, CloseReason.REROUTED)
        grid = self._relays.get((record.id, Profile.GRID))
        if grid is not None and (had_sub or record.sub_url is not None):
            await grid.restart()  # its next run looks its feed up again

    async def remove_stream(self, stream_id: str) -> None:
        """Soft-delete a stream; its relays stop and their viewers get ``ended``."""
        await self.store.delete(stream_id)
        self._transports.pop(stream_id, None)
        self._direct -= {(stream_id, Profile.SOURCE), (stream_id, Profile.SUB)}
        relays = self._stream_relays(stream_id)
        for relay in relays:
            self._relays.pop((relay.stream_id, relay.profile), None)
        self._records.pop(stream_id, None)
        try:
            await asyncio.gather(*(relay.stop(CloseReason.ENDED) for relay in relays))
        finally:
            self._notify_capacity()

    def stream_state(self, stream_id: str) -> tuple[RelayState, int, str | None]:
        """(state, viewers, last error message) of a stream over its relays; idle without one."""
        relays = self._stream_relays(stream_id)
        if not relays:
            return RelayState.IDLE, 0, None
        best = min(relays, key=lambda r: _STATE_RANK.index(r.state))
        error = next((r.last_error.message for r in relays if r.last_error), None)
        return best.state, self._viewers(relays), error

    def _viewers(self, relays: list[Relay]) -> int:
        """Subscriptions to ``relays`` that are viewers (not a transcode's feed)."""
        feeding = self._feeds()
        return sum(len(r.subscriptions - feeding) for r in relays)

    def describe(self, record: StreamRecord) -> dict[str, Any]:
        """A stream as the API shows it: the stored record (masked) with its live state."""
        state, viewers, error = self.stream_state(record.id)
        return {**record.public(), "state": state.value, "viewers": viewers, "last_error": error}

    def stream_stats(self, stream_id: str) -> dict[str, Any]:
        """A stream's figures, summed over its relays (one per profile), with each relay's own."""
        relays = [r.stats() for r in self._stream_relays(stream_id)]
        state, viewers, error = self.stream_state(stream_id)
        playing = [r for r in relays if r.state is RelayState.PLAYING]
        ages = [r.last_frame_age_s for r in relays if r.last_frame_age_s is not None]
        return {
            "stream_id": stream_id,
            "state": state.value,
            "viewers": viewers,
            "uptime_s": max((r.uptime_s for r in playing), default=0.0),
            "restarts": sum(r.restarts for r in relays),
            "fps": max((r.fps for r in relays), default=0.0),
            "kbps": round(sum(r.kbps for r in relays), 1),
            "bytes_out": sum(r.bytes_out for r in relays),
            "dropped_bytes": sum(r.dropped_bytes for r in relays),
            "last_frame_age_s": min(ages) if ages else None,
            "last_error": error,
            "last_error_code": next((r.last_error_code for r in relays if r.last_error_code), None),
            "prebuffer_s": ring.kept_s if (ring := self.prebuffer(stream_id)) is not None else 0.0,
            "prebuffer_bytes": ring.held_bytes if ring is not None else 0,
            "relays": [r.as_dict() for r in relays],
        }

    def stats(self, stream_id: str | None = None) -> list[RelayStats]:
        return [r.stats() for (sid, _), r in self._relays.items() if stream_id in (None, sid)]

    def events(self) -> list[RelayEvent]:
        return list(self._events)

    # -- lifecycle ------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the engine is closed")

    async def close(self) -> None:
        """Stop every relay and its FFmpeg, then close the store (idempotent); the store is closed even
        when a relay fails to stop, and every failure is logged."""
        self._closed = True
        relays, self._relays = list(self._relays.values()), {}
        try:
            results = await asyncio.gather(
                *(r.stop(CloseReason.SHUTDOWN) for r in relays), *self._stopping, return_exceptions=True
            )
            for result in results:
                if isinstance(result, Exception):
                    log.error("stopping a relay failed: %r", result)
        finally:
            await self.store.aclose()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
