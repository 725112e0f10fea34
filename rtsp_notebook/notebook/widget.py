"""The grid widget: live camera tiles in a notebook (anywidget).

The browser side (``js/``, bundled into ``static/``) finds the Jupyter server from the page and talks
to the server extension directly: REST for the stream list and the controls, one WebSocket per tile
for the video. When the page cannot reach the extension (VS Code, Colab, standalone Voilà), the same
calls and streams go over the widget's comm to this kernel (:mod:`rtsp_notebook.notebook.comm`). The widget's
synced state holds only layout choices and stream ids, never a URL, so it can never hold a password.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import anywidget
import traitlets
from PIL import Image

from .._static import widget_css, widget_js
from ..store import is_stream_id
from .comm import KernelBridge

if TYPE_CHECKING:
    from ..api.service import StreamService
    from .transports import Transport

    class _HasTransport(Protocol):  # a Hub, without importing the hub module (which imports this one)
        transport: Transport


__all__ = ["MAX_COLUMNS", "Grid"]

MAX_COLUMNS = 12
RENDERERS = ("auto", "canvas2d", "webgl")
MAX_CLIP_SECONDS = 600  # the server's bound on a clip's length
MAX_SNAPSHOT_BYTES = 32 * 1024 * 1024  # a 4K JPEG is a few MB
SNAPSHOT_FACTS = ("stream_id", "label", "captured_at")

log = logging.getLogger(__name__)


class Grid(anywidget.AnyWidget):  # type: ignore[misc, unused-ignore]
    """A responsive grid of live tiles, one per stream, with an add-stream form.

    ``columns``: a number of columns (1-12), or None for as many as fit. ``streams``: the ids (or
    stream objects) to show, in order; empty shows every stream. ``renderer``: ``"auto"`` (WebGL for
    up to 4 tiles when a GPU is there, Canvas2D otherwise), ``"canvas2d"`` or ``"webgl"``.
    ``connection`` is set by the page: ``"extension"`` when it reached the server extension,
    ``"kernel"`` when it talks to this kernel over the widget's comm instead, ``"unreachable"`` when
    neither answers. ``service``: a factory of the service the kernel serves then (``hub.grid()``
    passes a local hub's; ``hub=`` does the same from a hub); None: the in-process service on the
    default store.

    ``fullscreen``: the wall: every tile on the whole screen, sized so all fit without scrolling
    (``columns`` fixes the columns, else they are chosen for the screen), their controls shown while the
    pointer moves. The page asks the browser for full screen; without a click to allow it, the wall covers
    the page instead. The Wall button or ``w`` in the grid toggle it, Escape leaves; the trait follows.

    Layout: ``order`` is the order of the tiles (ids or streams; those left out follow in the server's
    order) and ``focus`` the stream shown large, first and twice the size. Dragging a tile by its header
    onto another, or Alt+Left / Alt+Right on a tile, reorders them (in ``streams`` when it is set, else
    in ``order``); a tile's Focus button sets ``focus``. ``hub.grid()`` starts from the last layout of
    the hub's previous grid, so a re-run cell keeps it.

    ``clip_seconds``: how long the Record buttons of the expanded view and the info panel record (1-600);
    their "Save last N s" saves the stream's whole prebuffer (``prebuffer_s``). The server writes the MP4
    (to its ``clips_dir``) and the page downloads it.

    ``last_snapshot``: the picture of the newest snapshot taken with an expanded view's snapshot button
    (a PIL image, as shown on the page; ``.info`` holds its ``stream_id``, ``label`` and ``captured_at``),
    or None before the first.
    """

    last_snapshot: Image.Image | None = None

    _esm = widget_js()
    _css = widget_css()

    columns = traitlets.Int(None, allow_none=True).tag(sync=True)
    streams = traitlets.List(traitlets.Unicode()).tag(sync=True)
    renderer = traitlets.Unicode("auto").tag(sync=True)
    show_form = traitlets.Bool(True).tag(sync=True)
    fullscreen = traitlets.Bool(False).tag(sync=True)
    order = traitlets.List(traitlets.Unicode()).tag(sync=True)
    focus = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    clip_seconds = traitlets.Int(10).tag(sync=True)
    connection = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        streams: Iterable[Any] = (),
        *,
        columns: int | None = None,
        renderer: str = "auto",
        show_form: bool = True,
        fullscreen: bool = False,
        order: Iterable[Any] = (),
        focus: Any = None,
        clip_seconds: int = 10,
        hub: _HasTransport | None = None,
        service: Callable[[], StreamService] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            streams=[_stream_id(s) for s in streams],
            columns=columns,
            renderer=renderer,
            show_form=show_form,
            fullscreen=fullscreen,
            order=[_stream_id(s, "order") for s in order],
            focus=None if focus is None else _stream_id(focus, "focus"),
            clip_seconds=clip_seconds,
            **kwargs,
        )
        if service is None and hub is not None:
            service = hub.transport.kernel_service()
        self._bridge = KernelBridge(self._to_page, service)
        self.on_msg(self._from_page)

    def _to_page(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.send(content, buffers)

    def _from_page(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        if isinstance(content, dict) and content.get("type") == "snapshot":
            self._keep_snapshot(content, buffers)
            return
        self._bridge.handle(content, buffers)

    def _keep_snapshot(self, content: dict[str, Any], buffers: list[Any]) -> None:
        """An expanded view's snapshot (a JPEG from the page) becomes ``last_snapshot``."""
        if len(buffers) != 1:
            log.warning("a snapshot message came with %d buffers instead of 1; ignored", len(buffers))
            return
        data = bytes(buffers[0])
        if len(data) > MAX_SNAPSHOT_BYTES:
            log.warning(
                "a snapshot of %d bytes is over the %d-byte limit; ignored", len(data), MAX_SNAPSHOT_BYTES
            )
            return
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            log.warning("a snapshot from the page is not a readable image: %s", exc)
            return
        image.info.update({key: str(content.get(key, "")) for key in SNAPSHOT_FACTS})
        self.last_snapshot = image

    def close(self) -> None:
        """Close the widget: its streams over the comm stop, and its views go."""
        bridge = getattr(self, "_bridge", None)  # a Grid whose __init__ failed has none
        if bridge is not None:
            bridge.close()
        super().close()

    @traitlets.validate("columns")
    def _check_columns(self, proposal: dict[str, Any]) -> int | None:
        value = proposal["value"]
        if value is not None and not 1 <= value <= MAX_COLUMNS:
            raise traitlets.TraitError(
                f"columns must be a whole number from 1 to {MAX_COLUMNS}, or None for as many as fit; "
                f"got {value}"
            )
        return value  # type: ignore[no-any-return]

    @traitlets.validate("renderer")
    def _check_renderer(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if value not in RENDERERS:
            raise traitlets.TraitError(f"renderer must be one of {', '.join(RENDERERS)}; got {value!r}")
        return value  # type: ignore[no-any-return]

    @traitlets.validate("clip_seconds")
    def _check_clip_seconds(self, proposal: dict[str, Any]) -> int:
        value = proposal["value"]
        if not 1 <= value <= MAX_CLIP_SECONDS:
            raise traitlets.TraitError(f"clip_seconds must be from 1 to {MAX_CLIP_SECONDS}; got {value}")
        return value  # type: ignore[no-any-return]

    @traitlets.validate("order")
    def _check_order(self, proposal: dict[str, Any]) -> list[str]:
        return list(dict.fromkeys(_stream_id(s, "order") for s in proposal["value"]))

    @traitlets.validate("focus")
    def _check_focus(self, proposal: dict[str, Any]) -> str | None:
        value = proposal["value"]
        return None if value is None else _stream_id(value, "focus")

    @traitlets.validate("streams")
    def _check_streams(self, proposal: dict[str, Any]) -> list[str]:
        ids = [_stream_id(s) for s in proposal["value"]]
        return list(dict.fromkeys(ids))  # each stream once, first position kept

    def __repr__(self) -> str:
        shown = ", ".join(self.streams) if self.streams else "all streams"
        columns = self.columns if self.columns is not None else "auto"
        return f"<rtsp_notebook.Grid {shown}; columns={columns}>"


def _stream_id(stream: Any, what: str = "streams") -> str:
    """A stream id from an id string or an object with an ``id`` (a Stream); ``what`` names the trait."""
    value = getattr(stream, "id", stream)
    if not is_stream_id(value):
        kind = "a stream id" if what == "focus" else "stream ids"
        raise traitlets.TraitError(
            f"{what} must be {kind} (1-32 lowercase letters and digits) or Stream objects; "
            f"got {type(stream).__name__}"
        )
    return value
