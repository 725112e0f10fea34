"""rtsp-notebook: live RTSP cameras in Jupyter.

The core is framework-free asyncio: importing this package loads neither tornado nor jupyter_server.
"""

from typing import Any

from ._version import __version__
from .engine import Engine, EngineConfig
from .errors import (
    AmbiguousLabelError,
    AuthError,
    CameraNotFoundError,
    ConflictError,
    ExtensionMissingError,
    FFmpegExitError,
    FFmpegNotFoundError,
    InvalidInputError,
    InvalidURLError,
    LimitError,
    RtspNotebookError,
    ServerError,
    ServerPermissionError,
    SourceError,
    SourceTimeoutError,
    StoreError,
    StreamNotFoundError,
    TransportRefusedError,
    UnreachableError,
    UnsupportedError,
)
from .media.events import RelayState
from .media.ffmpeg import Profile
from .media.recorder import OutputExistsError, Recording, RecordingResult
from .media.relay import RelayConfig
from .media.sources import mask_url, parse_source
from .notebook.framereader import FrameReader, FrameSets
from .notebook.hub import Hub, LocalFallbackWarning, ServerUnavailableError, Stream, connect
from .notebook.timelapse import Timelapse, TimelapseResult

__all__ = [
    "AmbiguousLabelError",
    "AuthError",
    "CameraNotFoundError",
    "ConflictError",
    "Engine",
    "EngineConfig",
    "ExtensionMissingError",
    "FFmpegExitError",
    "FFmpegNotFoundError",
    "FrameReader",
    "FrameSets",
    "Grid",
    "Hub",
    "InvalidInputError",
    "InvalidURLError",
    "LimitError",
    "LocalFallbackWarning",
    "OutputExistsError",
    "Profile",
    "Recording",
    "RecordingResult",
    "RelayConfig",
    "RelayState",
    "RtspNotebookError",
    "ServerError",
    "ServerPermissionError",
    "ServerUnavailableError",
    "SourceError",
    "SourceTimeoutError",
    "StoreError",
    "Stream",
    "StreamNotFoundError",
    "Timelapse",
    "TimelapseResult",
    "TransportRefusedError",
    "UnreachableError",
    "UnsupportedError",
    "__version__",
    "connect",
    "mask_url",
    "parse_source",
]


def __getattr__(name: str) -> Any:
    # the widget needs anywidget and the built bundle: loaded on first use, not with the core
    if name == "Grid":
        from .notebook.widget import Grid

        return Grid
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The Jupyter server extension (imported only when a Jupyter server loads it).

    Its source is the repo's top-level folder `jupyter_server_extension/`, installed as the subpackage
    `rtsp_notebook.server`: a wheel ships it there, an editable install maps it with an import hook
    (hatch_build.py).
    """
    from .server.app import RtspNotebookApp

    return [{"module": "rtsp_notebook.server.app", "app": RtspNotebookApp}]
