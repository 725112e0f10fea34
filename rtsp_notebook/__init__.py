"""rtsp-notebook: live RTSP cameras in Jupyter.

The core is framework-free asyncio: importing this package loads neither tornado nor jupyter_server.
"""

from typing import Any

from ._version import __version__
from .engine import Engine, EngineConfig
from .errors import (
    AuthError,
    CameraNotFoundError,
    ConflictError,
    FFmpegExitError,
    FFmpegNotFoundError,
    InvalidInputError,
    InvalidURLError,
    LimitError,
    RtspNotebookError,
    SourceError,
    SourceTimeoutError,
    StoreError,
    StreamNotFoundError,
    UnreachableError,
    UnsupportedError,
)
from .events import RelayState
from .ffmpeg import Profile
from .relay import RelayConfig
from .sources import mask_url, parse_source

__all__ = [
    "AuthError",
    "CameraNotFoundError",
    "ConflictError",
    "Engine",
    "EngineConfig",
    "FFmpegExitError",
    "FFmpegNotFoundError",
    "InvalidInputError",
    "InvalidURLError",
    "LimitError",
    "Profile",
    "RelayConfig",
    "RelayState",
    "RtspNotebookError",
    "SourceError",
    "SourceTimeoutError",
    "StoreError",
    "StreamNotFoundError",
    "UnreachableError",
    "UnsupportedError",
    "__version__",
    "mask_url",
    "parse_source",
]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The Jupyter server extension (imported only when a Jupyter server loads it)."""
    from jupyter_server_extension.app import RtspNotebookApp

    return [{"module": "jupyter_server_extension.app", "app": RtspNotebookApp}]
