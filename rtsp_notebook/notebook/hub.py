"""``rn.connect()``: cameras from notebook cells.

A :class:`Hub` is the stream API reached one of two ways: the server extension of the Jupyter server
that runs this kernel (its REST API and WebSocket, with the server's token, found through
``JPY_PARENT_PID``), or an in-process service on its own loop thread (``local=True``, or, with a
warning, when no Jupyter server runs this kernel or the server has no extension: scripts, VS Code,
Colab). Both behave the same.
Calls block the calling cell, never a server.
"""

from __future__ import annotations

import html
import io
import json
import logging
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from ..api.routes import Op
from ..errors import (
    AmbiguousLabelError,
    ExtensionMissingError,
    InvalidInputError,
    RtspNotebookError,
    ServerUnavailableError,
    StreamNotFoundError,
)
from ..media.recorder import Recorder, Recording, RecordingResult, check_output_path
from ..store import label_key
from .framereader import FrameReader, FrameSets
from .transports import LocalTransport, RestTransport, Transport

if TYPE_CHECKING:
    import pandas as pd
    from PIL.Image import Image

    from .timelapse import Timelapse, TimelapseResult
    from .widget import Grid

__all__ = ["Hub", "LocalFallbackWarning", "ServerUnavailableError", "Stream", "connect"]

log = logging.getLogger(__name__)


class LocalFallbackWarning(UserWarning):
    """``rn.connect()`` found no Jupyter server with the extension for this kernel and runs an
    in-process engine instead (the message names the reason)."""


@dataclass(frozen=True)
class Stream:
    """A stream as the API lists it. ``url`` and ``sub_url`` (the camera's substream, which tiles show;
    None without one) are masked: they never hold the password."""

    id: str
    label: str
    url: str
    state: str
    viewers: int
    last_error: str | None
    options: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    sub_url: str | None = None
    hub: Hub | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any], hub: Hub) -> Stream:
        return cls(
            id=data["id"], label=data["label"], url=data["url"], state=data.get("state", "idle"),
            viewers=int(data.get("viewers", 0)), last_error=data.get("last_error"),
            options=dict(data.get("options") or {}), created_at=data.get("created_at", ""),
            updated_at=data.get("updated_at", ""), sub_url=data.get("sub_url"), hub=hub,
        )  # fmt: skip

    def _hub(self) -> Hub:
        if self.hub is None:
            raise RtspNotebookError("this Stream is not attached to a hub")
        return self.hub

    def refresh(self) -> Stream:
        """The stream as the API shows it now."""
        return self._hub().stream(self.id)

    def update(
        self, *, label: str | None = None, url: str | None = None, sub_url: str | None = None, **options: Any
    ) -> Stream:
        """Change the label, the URL (running relays restart), the substream (``sub_url=""`` removes it:
        tiles then show the main stream) and/or options; returns the new Stream."""
        body: dict[str, Any] = {}
        if label is not None:
            body["label"] = label
        if url is not None:
            body["url"] = url
        if sub_url is not None:
            body["sub_url"] = sub_url
        if options:
            body["options"] = {**self.options, **options}
        hub = self._hub()
        return Stream.from_api(hub.transport.call(Op.UPDATE_STREAM, self.id, body), hub)

    def remove(self) -> None:
        """Delete the stream: its relays stop and its viewers see ``ended``."""
        self._hub().transport.call(Op.REMOVE_STREAM, self.id)

    def snapshot(self, *, width: int | None = None, refresh: bool = False) -> Image:
        """The latest picture as a ``PIL.Image`` (RGB): from the running relay's newest I-frame when
        there is one, else from a one-shot grab; ``refresh`` skips the thumbnail cache."""
        from PIL import Image as PILImage

        jpeg = self._hub().transport.jpeg(self.id, width=width, refresh=refresh)
        image = PILImage.open(io.BytesIO(jpeg))
        image.load()
        return image.convert("RGB")

    def frames(
        self,
        fps: float | None = 2,
        width: int | None = None,
        count: int | None = None,
        *,
        timeout: float = 15.0,
        timestamps: bool = False,
    ) -> FrameReader:
        """Pictures as numpy ``uint8`` arrays of shape (H, W, 3): ``fps`` per second (None: every
        picture), scaled to ``width`` (None: the source size), ``count`` of them (None: no end).
        An iterator and a context manager. Its decoder and subscription start on first use
        (``next``, ``iter``, ``with``) and stop on ``close()``, at ``count``, at the end of the
        ``with`` block, or when the reader is garbage-collected.

        The pictures are decoded from the camera's own video (the stream's source relay: no second
        session to the camera, no MPEG-1 in between), at the camera's rate and size before ``width``.

        ``next()`` raises the camera's own error as soon as the relay knows it is not a passing one
        (``AuthError``, ``CameraNotFoundError``, ``UnsupportedError``); while the relay reconnects
        (a camera that restarts) it waits, and after ``timeout`` s without a picture it raises the
        relay's last error (else ``SourceTimeoutError``).

        ``timestamps=True``: each item is ``(datetime, array)``, the picture's capture time in UTC (the
        wall clock when the relay's data of the picture was decoded in this process: late by the camera's
        own latency, a few ms of decode; see :mod:`rtsp_notebook.notebook.framereader`)."""
        hub = self._hub()
        profile = "grid" if width is not None and width <= 640 else "full"
        transport = hub.transport
        return FrameReader(
            transport.thread, transport.chunks(self.id, profile, "h264"), transport.ffmpeg_path,
            fps=fps, width=width, count=count, timeout=timeout, timestamps=timestamps,
        )  # fmt: skip

    @overload
    def timelapse(
        self,
        path: str | os.PathLike[str],
        every: float = ...,
        duration: float = ...,
        *,
        width: int | None = ...,
        playback_fps: float = ...,
        progress: bool = ...,
        overwrite: bool = ...,
        wait: Literal[True] = ...,
    ) -> TimelapseResult: ...

    @overload
    def timelapse(
        self,
        path: str | os.PathLike[str],
        every: float = ...,
        duration: float = ...,
        *,
        width: int | None = ...,
        playback_fps: float = ...,
        progress: bool = ...,
        overwrite: bool = ...,
        wait: Literal[False],
    ) -> Timelapse: ...

    def timelapse(
        self,
        path: str | os.PathLike[str],
        every: float = 10.0,
        duration: float = 3600.0,
        *,
        width: int | None = None,
        playback_fps: float = 10.0,
        progress: bool = True,
        overwrite: bool = False,
        wait: bool = True,
    ) -> TimelapseResult | Timelapse:
        """One picture every ``every`` seconds for ``duration`` seconds (``ceil(duration / every)``
        pictures, the first at once), into an MP4 (``path`` ending ``.mp4``: H.264 at ``playback_fps``
        pictures per second) or a folder of JPEGs (any other ``path``: ``<path>/<label>-00001.jpg``, …,
        the folder made if need be). A progress bar (``tqdm.auto``: a widget in notebooks) unless
        ``progress=False``. Returns a :class:`~rtsp_notebook.notebook.timelapse.TimelapseResult`
        (``path``, ``pictures``, ``seconds``, ``complete``); ``wait=False`` returns a
        :class:`~rtsp_notebook.notebook.timelapse.Timelapse` at once (``pictures``, ``done``, ``stop()``,
        ``result()``). Interrupting the cell (KeyboardInterrupt) or ``stop()`` ends it cleanly and keeps
        the pictures taken. An existing file, or a folder with files in it, is refused unless
        ``overwrite=True``. The pictures come from :meth:`frames` (one decoder for the whole run)."""
        from .timelapse import Timelapse

        lapse = Timelapse(
            self, path, every=every, duration=duration, width=width, playback_fps=playback_fps,
            progress=progress, overwrite=overwrite,
        )  # fmt: skip
        if not wait:
            lapse.start()
            return lapse
        return lapse.run()

    @overload
    def record(
        self,
        path: str | os.PathLike[str],
        seconds: float,
        *,
        wait: Literal[True] = ...,
        overwrite: bool = ...,
    ) -> RecordingResult: ...

    @overload
    def record(
        self,
        path: str | os.PathLike[str],
        seconds: float | None = ...,
        *,
        wait: Literal[False],
        overwrite: bool = ...,
    ) -> Recording: ...

    def record(
        self,
        path: str | os.PathLike[str],
        seconds: float | None = None,
        *,
        wait: bool = True,
        overwrite: bool = False,
    ) -> RecordingResult | Recording:
        """Record ``seconds`` of the camera's own video (copied, not re-encoded) into the MP4 file ``path``,
        from the newest keyframe the relay has (the file starts with a whole picture), and return a
        :class:`~rtsp_notebook.media.recorder.RecordingResult` once the file is written.

        ``wait=False`` returns a :class:`~rtsp_notebook.media.recorder.Recording` at once instead: its
        ``seconds``, ``frames`` and ``bytes`` so far, ``done``, ``stop()`` and ``result()``
        (``seconds=None``: until ``stop()``). The recording reads the stream's relay (no second session to
        the camera); a camera that drops ends it with what was recorded, and the result says why
        (``complete`` False, ``ended``). An MJPEG camera's video cannot be copied: its MPEG-1 transcode is
        recorded (``transcoded`` True). The file is written in this process (the kernel's file system);
        an existing file is replaced only with ``overwrite=True``, and no folder is made."""
        if wait and seconds is None:
            raise InvalidInputError("seconds is needed to wait for a recording (or wait=False, then stop())")
        transport = self._hub().transport
        recorder = Recorder(
            transport.ffmpeg_path, check_output_path(path, overwrite),
            transport.chunks(self.id, "full", "h264"), seconds=seconds, overwrite=overwrite,
            name=f"recording {self.id}",
        )  # fmt: skip
        return self._run_recording(recorder, wait)

    @overload
    def clip(
        self,
        path: str | os.PathLike[str],
        before: float = ...,
        after: float = ...,
        *,
        wait: Literal[True] = ...,
        overwrite: bool = ...,
    ) -> RecordingResult: ...

    @overload
    def clip(
        self,
        path: str | os.PathLike[str],
        before: float = ...,
        after: float = ...,
        *,
        wait: Literal[False],
        overwrite: bool = ...,
    ) -> Recording: ...

    def clip(
        self,
        path: str | os.PathLike[str],
        before: float = 10.0,
        after: float = 5.0,
        *,
        wait: bool = True,
        overwrite: bool = False,
    ) -> RecordingResult | Recording:
        """Save what just happened: the stream's prebuffer from a keyframe at least ``before`` seconds back
        (at most one GOP more), then the next ``after`` seconds, as one MP4 with continuous timestamps (the
        camera's own video, copied). The stream needs the option ``prebuffer_s`` (0-120 s, e.g.
        ``cam.update(prebuffer_s=30)``); ``before`` beyond what it holds is an ``InvalidInputError`` that says
        how much it holds (``cam.stats()["prebuffer_s"]``). ``wait``, ``overwrite`` and the result are
        :meth:`record`'s. Through a Jupyter server the server makes the clip (``POST
        rtsp/api/streams/{id}/clips``, at most 600 s each side) and this process downloads it to ``path``;
        ``stop()`` then waits for the server's clip to end."""
        if isinstance(after, bool) or not (isinstance(after, (int, float)) and 0 <= after < math.inf):
            raise InvalidInputError(f"after must be a number of seconds of at least 0, got {after!r}")
        transport = self._hub().transport
        target = check_output_path(path, overwrite)
        recorder = transport.clip_recorder(self.id, target, before, after, overwrite=overwrite)
        return self._run_recording(recorder, wait)

    def _run_recording(self, recorder: Recorder, wait: bool) -> RecordingResult | Recording:
        thread = self._hub().transport.thread
        handle = Recording(recorder, thread.submit(recorder.run()), thread.loop)
        return handle.wait() if wait else handle

    def stats(self) -> dict[str, Any]:
        """The relay figures of this stream (summed over its profiles, each profile's own in ``relays``)."""
        return dict(self._hub().transport.call(Op.STREAM_STATS, self.id))

    def __repr__(self) -> str:
        return f"<Stream {self.id} {self.label!r} {self.url} {self.state}>"

    def _repr_html_(self) -> str:
        error = f"<br><small>{html.escape(self.last_error)}</small>" if self.last_error else ""
        return (
            f"<b>{html.escape(self.label)}</b> <code>{html.escape(self.url)}</code> "
            f"<span>{html.escape(self.state)}</span>, {self.viewers} viewers "
            f"<small>({self.id})</small>{error}"
        )


class Hub:
    """The streams of one stream API (a server extension, or this process)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._layout: dict[str, Any] = {}  # the last grid's order and focus: the next grid starts from it

    @property
    def local(self) -> bool:
        return isinstance(self.transport, LocalTransport)

    # -- streams -----------------------------------------------------------------------------------
    def add(
        self,
        url: str,
        label: str | None = None,
        *,
        options: dict[str, Any] | None = None,
        sub_url: str | None = None,
        probe: bool = False,
    ) -> Stream:
        """Store a stream; ``sub_url`` is the camera's low-resolution substream (e.g. Dahua's
        ``subtype=1``), which the grid's tiles show while the expanded view shows ``url``.
        ``probe=True`` reads the camera first (up to 5 s) and refuses it when it cannot be read (the
        camera's error)."""
        body: dict[str, Any] = {"url": url}
        if sub_url is not None:
            body["sub_url"] = sub_url
        if label is not None:
            body["label"] = label
        if options is not None:
            body["options"] = options
        return Stream.from_api(self.transport.call(Op.ADD_STREAM, body, check=probe), self)

    def list(self) -> list[Stream]:
        return [Stream.from_api(item, self) for item in self.transport.call(Op.LIST_STREAMS)]

    def __iter__(self) -> Iterator[Stream]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self.list())

    def stream(self, key: str) -> Stream:
        """A stream by id, or by label when no id matches (labels compare trimmed and case-insensitively:
        ``hub["door"]`` is the stream labelled "Door"). A label that several streams share (a store
        written before labels were unique) raises :class:`~rtsp_notebook.errors.AmbiguousLabelError`,
        a ``KeyError`` that names their ids; a key that names none, ``StreamNotFoundError``."""
        streams = self.list()
        for stream in streams:
            if stream.id == key:
                return stream
        wanted = label_key(key) if isinstance(key, str) else None
        matches = [s for s in streams if label_key(s.label) == wanted]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise AmbiguousLabelError(key.strip(), tuple(s.id for s in matches))
        raise StreamNotFoundError(f"no stream with the id or label {key!r}")

    __getitem__ = stream

    # -- pictures ----------------------------------------------------------------------------------
    def frames(
        self,
        streams: Any,
        fps: float = 2,
        width: int | None = None,
        count: int | None = None,
        *,
        timeout: float = 15.0,
        timestamps: bool = False,
    ) -> FrameSets:
        """The newest picture of each camera together, for batch inference: an iterator of dicts
        ``{label: array}`` (``{label: (datetime, array)}`` with ``timestamps=True``), at most ``fps`` sets
        a second, ``count`` of them (None: no end). ``streams``: Streams, ids or labels. A context
        manager that closes every camera's reader. Every set has a new picture of every camera: a slow
        camera holds the sets back (up to ``timeout`` s, then its error); a camera that fails raises its
        error (``FrameSets.failed`` names it) and closes all. ``width``, ``timeout``: as
        :meth:`Stream.frames`."""
        if isinstance(streams, (str, Stream)):
            streams = [streams]
        chosen = [s if isinstance(s, Stream) else self.stream(s) for s in streams]
        if not chosen:
            raise InvalidInputError("hub.frames needs at least one stream (a Stream, an id or a label)")
        labels = [s.label for s in chosen]
        if len({label_key(x) for x in labels}) != len(labels):
            raise InvalidInputError(f"hub.frames got a stream twice (or two with one label): {labels!r}")
        readers = {
            s.label: s.frames(fps=fps, width=width, timeout=timeout, timestamps=timestamps) for s in chosen
        }
        return FrameSets(readers, count=count)

    # -- tables ------------------------------------------------------------------------------------
    def streams(self) -> pd.DataFrame:
        """One row per stream (masked URLs): id, label, url, state, viewers, last_error, transport,
        keep_alive, created_at, updated_at."""
        from .tables import streams_frame

        return streams_frame(self.transport.call(Op.LIST_STREAMS))

    def stats(self) -> pd.DataFrame:
        """One row per stream: state, viewers, uptime, restarts, fps, kb/s, bytes, drops, frame age."""
        from .tables import stats_frame

        return stats_frame(self.transport.call(Op.STATS))

    def events(self) -> pd.DataFrame:
        """The relays' event log (oldest first): state changes, errors, video starts, removals."""
        from .tables import events_frame

        return events_frame(self.transport.call(Op.EVENTS))

    def clips(self) -> pd.DataFrame:
        """The clips the service made (the grid's Record and Save buttons, ``POST streams/{id}/clips``; the
        newest 50, oldest first): id, label, status, file (in the server's clips folder), seconds, frames,
        bytes, codec, error. ``cam.clip()`` through a server removes its job once the file is downloaded."""
        from .tables import clips_frame

        return clips_frame(self.transport.call(Op.LIST_CLIPS))

    # -- widget ------------------------------------------------------------------------------------
    def grid(
        self,
        streams: Any = (),
        *,
        columns: int | None = None,
        renderer: str = "auto",
        fullscreen: bool = False,
    ) -> Grid:
        """The grid widget (display it, or leave it last in a cell); ``fullscreen``: as a wall (see Grid).
        It starts from the layout (order, focus) the user gave this hub's previous grid."""
        from .widget import Grid

        grid = Grid(
            streams,
            columns=columns,
            renderer=renderer,
            fullscreen=fullscreen,
            order=self._layout.get("order", ()),
            focus=self._layout.get("focus"),
            service=self.transport.kernel_service(),
        )

        def keep(change: dict[str, Any]) -> None:
            self._layout[change["name"]] = change["new"]

        grid.observe(keep, names=["order", "focus"])
        return grid

    def __repr__(self) -> str:
        return f"<rtsp_notebook.Hub {self.transport.where}>"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(s.label)}</td><td><code>{html.escape(s.url)}</code></td>"
            f"<td>{html.escape(s.state)}</td><td>{s.viewers}</td></tr>"
            for s in self.list()
        )
        head = "<tr><th>label</th><th>url</th><th>state</th><th>viewers</th></tr>"
        return f"<p>rtsp-notebook hub: {html.escape(self.transport.where)}</p><table>{head}{rows}</table>"


def _this_server() -> tuple[dict[str, Any] | None, str]:
    """The running Jupyter server that started this kernel, from its ``jpserver-<JPY_PARENT_PID>.json``
    runtime file (read directly: importing jupyter_server to list servers takes seconds); else None
    and why there is none."""
    parent = os.environ.get("JPY_PARENT_PID")
    if not parent or not parent.isdigit():
        return None, "this process was not started by a Jupyter server (JPY_PARENT_PID is not set)"
    from jupyter_core.paths import jupyter_runtime_dir

    path = Path(jupyter_runtime_dir()) / f"jpserver-{parent}.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no Jupyter server runtime file {path} (JPY_PARENT_PID={parent})"
    except (OSError, ValueError) as exc:
        return None, f"the Jupyter server runtime file {path} cannot be read ({exc})"
    if not (isinstance(info, dict) and str(info.get("pid")) == parent and "url" in info):
        return None, f"the Jupyter server runtime file {path} does not describe server {parent}"
    return info, ""


def _fall_back(store: str | None, reason: str) -> Hub:
    warnings.warn(
        f"rtsp-notebook: {reason}; using an in-process engine, which opens its own camera sessions "
        "(rn.connect(local=True) chooses it without this warning)",
        LocalFallbackWarning,
        stacklevel=3,
    )
    return Hub(LocalTransport(store))


def connect(
    url: str | None = None, token: str | None = None, *, local: bool = False, store: str | None = None
) -> Hub:
    """The stream API for this notebook.

    - ``connect()``: the Jupyter server running this kernel (found through ``JPY_PARENT_PID`` and its
      runtime file), with the file's token, or ``JUPYTERHUB_API_TOKEN`` when the file has none (a
      JupyterHub single-user server). Only when no server runs this kernel, or the server answers
      404 (the extension is not there), it falls back to an in-process engine, with a
      :class:`LocalFallbackWarning` that names the reason. A server that refuses the token
      (:class:`~rtsp_notebook.errors.ServerPermissionError`), fails (``ServerError``) or cannot be
      reached (``ServerUnavailableError``) is an error, never a reason to open a second camera session;
    - ``connect(url=..., token=...)``: that server (an error when it cannot be used);
    - ``connect(local=True, store=None)``: an in-process service on ``store`` (default: the Jupyter
      data dir's, or ``RTSP_NOTEBOOK_DB``).
    """
    if local:
        return Hub(LocalTransport(store))
    explicit = url is not None
    if url is None:
        info, reason = _this_server()
        if info is None:
            return _fall_back(store, reason)
        url = str(info["url"]).replace("://0.0.0.0:", "://127.0.0.1:")
        if token is None:
            token = str(info.get("token") or "")
    if not token:
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    transport = RestTransport(url, token)
    try:
        transport.call(Op.HEALTH)
    except ExtensionMissingError:
        if explicit:
            raise
        reason = f"the Jupyter server at {transport.base_url} has no rtsp-notebook extension (HTTP 404)"
        return _fall_back(store, reason)
    except ServerUnavailableError as exc:
        raise ServerUnavailableError(
            f"the Jupyter server at {transport.base_url} does not answer rtsp/api/health "
            f"({exc.message}): is it running?"
        ) from exc
    return Hub(transport)
