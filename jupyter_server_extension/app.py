"""The Jupyter server extension: configuration, the engine's lifetime, and the routes."""

from __future__ import annotations

import atexit
import logging
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Integer, TraitError, Unicode, validate

from rtsp_notebook._version import __version__
from rtsp_notebook.api.clips import Clips
from rtsp_notebook.api.service import StreamService
from rtsp_notebook.engine import Engine, EngineConfig
from rtsp_notebook.media.ffmpeg import PROFILES, Profile, check_kbps, find_ffmpeg
from rtsp_notebook.media.process import kill_all
from rtsp_notebook.media.relay import RelayConfig
from rtsp_notebook.store import AsyncStore, StreamStore, default_store_path
from rtsp_notebook.thumbnails import ThumbnailService

from . import metrics
from .handlers import ROUTES

SETTINGS_KEY = "rtsp_notebook"


class RtspNotebookApp(ExtensionApp):
    """Hosts the rtsp-notebook relay, stream store and thumbnails inside the Jupyter server."""

    name = "rtsp_notebook"
    version = __version__
    load_other_extensions = True

    ffmpeg_path = Unicode(
        "",
        config=True,
        help="Path of the FFmpeg binary. Empty: ffmpeg on PATH, else imageio-ffmpeg's binary.",
    )
    store_path = Unicode(
        "",
        config=True,
        help="SQLite file of the stream store. "
        "Empty: $RTSP_NOTEBOOK_DB, else <jupyter data dir>/rtsp_notebook/streams.db.",
    )
    max_relays = Integer(
        64,
        config=True,
        help="FFmpeg relays running at once. At the limit a relay nobody watches (its viewers paused) gives "
        "its place up; when every running relay is watched, a new viewer gets a non-fatal LIMIT and waits.",
    )
    max_transcodes = Integer(
        16,
        config=True,
        help="Of those, MPEG-1 transcodes (JSMpeg tiles; ~10x the CPU of a copy of a camera's H.264).",
    )
    mpeg1_grid_kbps = Integer(
        PROFILES[Profile.GRID].max_kbps,
        config=True,
        help="Bitrate ceiling in kb/s of a tile's MPEG-1 (JSMpeg; the grid profile: 640 px, 15 fps). "
        "A busy picture is coarsened to stay under it; a quieter one keeps the quality (and the lower "
        "bitrate) of the fixed quantiser used before. 200 to 30000.",
    )
    mpeg1_full_kbps = Integer(
        PROFILES[Profile.FULL].max_kbps,
        config=True,
        help="Bitrate ceiling in kb/s of the expanded view's MPEG-1 (the full profile: the camera's size, "
        "up to 30 fps). 200 to 30000.",
    )
    max_viewers = Integer(64, config=True, help="Viewers of one stream (over its profiles); more get LIMIT.")
    idle_timeout = Float(
        10.0, config=True, help="Seconds a relay without active viewers (none, or all paused) keeps running."
    )
    stall_timeout = Float(
        5.0, config=True, help="Seconds without data from a playing camera before a restart."
    )
    start_timeout = Float(
        10.0, config=True, help="Seconds the camera may take to answer (RTSP session up) or send video."
    )
    keyframe_timeout = Float(
        20.0,
        config=True,
        help="Seconds from the camera's answer to its first keyframe (cameras with a 10 s GOP need ~10).",
    )
    max_probes = Integer(4, config=True, help="Probes (POST streams?probe=true) running at once; more wait.")
    reconnect_max_delay = Float(30.0, config=True, help="Longest wait in seconds between reconnect attempts.")
    subscriber_budget = Integer(
        2 << 20, config=True, help="Bytes a viewer may have queued; beyond it, it drops to the next I-frame."
    )
    clips_dir = Unicode(
        "",
        config=True,
        help="Folder where the clips of POST rtsp/api/streams/{id}/clips are written (it must exist; "
        "file names are made from the stream's label and the time). Empty: the server's root_dir.",
    )
    thumbnail_ttl = Float(10.0, config=True, help="Seconds a thumbnail is served from the cache.")
    max_thumbnail_grabs = Integer(2, config=True, help="One-shot FFmpeg thumbnail grabs running at once.")

    @validate("mpeg1_grid_kbps", "mpeg1_full_kbps")
    def _valid_kbps(self, proposal: Any) -> int:
        try:
            return check_kbps(proposal["value"], f"RtspNotebookApp.{proposal['trait'].name}")
        except ValueError as exc:
            raise TraitError(str(exc)) from exc

    def initialize_settings(self) -> None:
        relay = RelayConfig(
            idle_timeout=self.idle_timeout,
            stall_timeout=self.stall_timeout,
            start_timeout=self.start_timeout,
            keyframe_timeout=self.keyframe_timeout,
            backoff_max=self.reconnect_max_delay,
            subscriber_budget=self.subscriber_budget,
        )
        config = EngineConfig(
            relay=relay,
            max_relays=self.max_relays,
            max_transcodes=self.max_transcodes,
            max_viewers=self.max_viewers,
            max_probes=self.max_probes,
            mpeg1_grid_kbps=self.mpeg1_grid_kbps,
            mpeg1_full_kbps=self.mpeg1_full_kbps,
        )
        # Start-up, before the server serves anything: blocking here blocks nobody.
        ffmpeg = find_ffmpeg(self.ffmpeg_path or None)
        store = StreamStore(self.store_path or default_store_path())
        self.engine = Engine(AsyncStore(store), ffmpeg, config)
        self.thumbnails = ThumbnailService(
            self.engine, ttl=self.thumbnail_ttl, max_grabs=self.max_thumbnail_grabs
        )
        clips_dir = Path(self.clips_dir or self.serverapp.root_dir).expanduser()
        if not clips_dir.is_dir():
            self.log.warning("rtsp-notebook: the clips folder %s does not exist: clips will fail", clips_dir)
        self.clips = Clips(self.engine, clips_dir)
        service = StreamService(self.engine, self.thumbnails, self.clips)
        self.settings[SETTINGS_KEY] = {
            "engine": self.engine,
            "thumbnails": self.thumbnails,
            "service": service,
        }
        # Jupyter skips its cleanup when SIGINT arrives without a terminal (KeyboardInterrupt ends
        # the loop): FFmpeg processes still running when the interpreter exits are killed here.
        atexit.register(self._kill_at_exit)
        self._metrics = metrics.register(self.engine)
        self._route_core_logs()
        self.log.info("rtsp-notebook: FFmpeg %s at %s; store %s", ffmpeg.version, ffmpeg.path, store.path)
        self.log.info("rtsp-notebook: clips are written into %s", clips_dir)

    def _route_core_logs(self) -> None:
        """The core logs under ``rtsp_notebook.*``; in the server its records (warnings and up, unless the
        ``rtsp_notebook`` logger is configured lower) go to the server's own log handlers (its format and
        destination) instead of Python's last-resort handler on plain stderr."""
        core = logging.getLogger("rtsp_notebook")
        self._log_handlers = [h for h in self.log.handlers if h not in core.handlers]
        for handler in self._log_handlers:
            core.addHandler(handler)

    def _unroute_core_logs(self) -> None:
        core = logging.getLogger("rtsp_notebook")
        for handler in getattr(self, "_log_handlers", []):
            core.removeHandler(handler)

    def _kill_at_exit(self) -> None:
        killed = kill_all()
        if killed:
            self.log.info("rtsp-notebook: killed %d FFmpeg processes at exit", killed)

    def initialize_handlers(self) -> None:
        self.handlers.extend(ROUTES)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.engine.start_keep_alive()

    async def stop_extension(self) -> None:
        """Stop every grab, relay and FFmpeg (the server calls this on shutdown)."""
        relays = len(self.engine.relays)
        try:
            metrics.unregister(self._metrics)
            await self.clips.close()  # running clips end with what they wrote
            await self.thumbnails.close()
        finally:
            await self.engine.close()  # every relay and FFmpeg, then the store, even after an error above
        self.log.info("rtsp-notebook: stopped %d relays and their FFmpeg processes", relays)
        self._unroute_core_logs()
