"""The one exception tree of rtsp-notebook.

Every error carries a stable ``code`` (the wire name used by the REST API and the WebSocket) and a
message written for a person. No message ever holds a password: messages are built from masked
values only, and FFmpeg's stderr is masked before it becomes an error.

::

    RtspNotebookError                 code
    ├── InvalidURLError               INVALID_URL
    ├── InvalidInputError             BAD_REQUEST      (label, options, ids, messages)
    ├── StreamNotFoundError           NOT_FOUND        (no such stream in the store)
    ├── AmbiguousLabelError           AMBIGUOUS        (a label that names several streams; a KeyError)
    ├── ConflictError                 CONFLICT         (the URL or the label is already active)
    ├── LimitError                    LIMIT            (too many relays or viewers)
    ├── StoreError                    STORE            (the database cannot be used)
    ├── FFmpegNotFoundError           FFMPEG_MISSING
    ├── ProbeFailedError              the camera's code (add with probe=True could not read it)
    ├── ServerUnavailableError        SERVER_UNAVAILABLE (no Jupyter server answers: connection failed)
    │   └── ExtensionMissingError     EXTENSION_MISSING  (the server answers, without rtsp-notebook: 404)
    ├── ServerPermissionError         FORBIDDEN        (the Jupyter server refused the token: 401/403)
    ├── ServerError                   SERVER_ERROR     (the Jupyter server failed: HTTP 5xx)
    └── SourceError                   (the camera or FFmpeg failed)
        ├── AuthError                 AUTH
        ├── CameraNotFoundError       NOT_FOUND        (the camera answered 404)
        ├── UnreachableError          UNREACHABLE
        ├── SourceTimeoutError        TIMEOUT          (no data before a deadline: start or stall)
        ├── UnsupportedError          UNSUPPORTED
        │   ├── NotCarriedError           UNSUPPORTED      (MJPEG: not copied into MPEG-TS; transcoded)
        │   └── TransportRefusedError     UNSUPPORTED      (RTSP 461: try the other transport)
        ├── DisconnectedError         DISCONNECTED     (the camera ended a session that had started)
        └── FFmpegExitError           FFMPEG_EXIT

Every transport (the REST API, the widget's comm) answers an error with the HTTP status of
:func:`status_for`.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousLabelError",
    "AuthError",
    "CameraNotFoundError",
    "ConflictError",
    "DisconnectedError",
    "ExtensionMissingError",
    "FFmpegExitError",
    "FFmpegNotFoundError",
    "InvalidInputError",
    "InvalidURLError",
    "LimitError",
    "NotCarriedError",
    "ProbeFailedError",
    "RtspNotebookError",
    "ServerError",
    "ServerPermissionError",
    "ServerUnavailableError",
    "SourceError",
    "SourceTimeoutError",
    "StoreError",
    "StreamNotFoundError",
    "TransportRefusedError",
    "UnreachableError",
    "UnsupportedError",
    "error_for_code",
    "source_error_for_code",
    "status_for",
]


class RtspNotebookError(Exception):
    """Base of every error this package raises on purpose."""

    code: str = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The JSON error body of the REST API: ``{"code", "message"}``."""
        return {"code": self.code, "message": self.message}


class InvalidURLError(RtspNotebookError, ValueError):
    code = "INVALID_URL"


class InvalidInputError(RtspNotebookError, ValueError):
    code = "BAD_REQUEST"


class StreamNotFoundError(RtspNotebookError, KeyError):
    code = "NOT_FOUND"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class AmbiguousLabelError(RtspNotebookError, KeyError):
    """A lookup by label (``hub["Door"]``) matched several active streams: labels are unique (compared
    trimmed and case-insensitively) since issue 15, but a store written before may hold duplicates.
    ``ids`` are the streams', oldest first: look one up by id, or rename one."""

    code = "AMBIGUOUS"

    def __init__(self, label: str, ids: tuple[str, ...]) -> None:
        super().__init__(f"{len(ids)} streams are labelled {label!r}; use an id instead ({', '.join(ids)})")
        self.label = label
        self.ids = ids

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message

    def __reduce__(self) -> tuple[type[AmbiguousLabelError], tuple[str, tuple[str, ...]]]:
        return type(self), (self.label, self.ids)


class ConflictError(RtspNotebookError):
    """An add or a change that would give two active streams the same URL or the same label."""

    code = "CONFLICT"


class LimitError(RtspNotebookError):
    code = "LIMIT"


class StoreError(RtspNotebookError):
    code = "STORE"


class FFmpegNotFoundError(RtspNotebookError):
    code = "FFMPEG_MISSING"


class ServerUnavailableError(RtspNotebookError):
    """No Jupyter server with the rtsp-notebook extension could be reached (``rn.connect()``)."""

    code = "SERVER_UNAVAILABLE"


class ExtensionMissingError(ServerUnavailableError):
    """The Jupyter server answers, but not its ``rtsp/api/`` routes (HTTP 404): the extension is not
    installed in the server's environment, or not enabled."""

    code = "EXTENSION_MISSING"


class ServerPermissionError(RtspNotebookError):
    """The Jupyter server refused the request (HTTP 401/403): a missing or wrong token. Not the
    camera's ``AUTH``, which is about the camera's own user and password."""

    code = "FORBIDDEN"


class ServerError(RtspNotebookError):
    """The Jupyter server failed on a request (HTTP 5xx without a camera error code)."""

    code = "SERVER_ERROR"


class SourceError(RtspNotebookError):
    """The camera or its FFmpeg process failed; ``message`` is masked, ``detail`` is masked stderr."""

    code = "FFMPEG_EXIT"

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class AuthError(SourceError):
    code = "AUTH"


class CameraNotFoundError(SourceError):
    code = "NOT_FOUND"


class UnreachableError(SourceError):
    code = "UNREACHABLE"


class SourceTimeoutError(SourceError):
    code = "TIMEOUT"


class UnsupportedError(SourceError):
    code = "UNSUPPORTED"


class NotCarriedError(UnsupportedError):
    """The camera's video cannot be copied into MPEG-TS (MJPEG becomes private data that no demuxer reads):
    its stream is transcoded from the camera directly instead of from a copy of its video."""


class TransportRefusedError(UnsupportedError):
    """The camera refused the RTP transport FFmpeg asked for (RTSP 461 Unsupported transport), e.g. TCP
    on a camera that only streams over UDP; with transport ``auto`` the relay then tries UDP."""


class DisconnectedError(SourceError):
    """The camera ended a session that had started (it stopped, restarted or dropped this client)."""

    code = "DISCONNECTED"


class FFmpegExitError(SourceError):
    code = "FFMPEG_EXIT"


_SOURCE_ERRORS: dict[str, type[SourceError]] = {
    cls.code: cls
    for cls in (
        AuthError,
        CameraNotFoundError,
        UnreachableError,
        SourceTimeoutError,
        UnsupportedError,
        DisconnectedError,
        FFmpegExitError,
    )
}


def source_error_for_code(code: str) -> type[SourceError]:
    """The ``SourceError`` subclass for a camera error code (FFMPEG_EXIT when unknown)."""
    return _SOURCE_ERRORS.get(code, FFmpegExitError)


def error_for_code(code: str) -> type[RtspNotebookError] | None:
    """The class of a wire error code of the tree (``NOT_FOUND``: the camera's; a missing stream is told
    apart by its HTTP 404), or None for a code the tree does not have."""
    domain = (InvalidURLError, InvalidInputError, ConflictError, LimitError, StoreError, FFmpegNotFoundError)
    return next((cls for cls in domain if cls.code == code), None) or _SOURCE_ERRORS.get(code)


class ProbeFailedError(RtspNotebookError):
    """``add(probe=True)``: the camera could not be read; ``cause`` is the camera's error."""

    def __init__(self, cause: RtspNotebookError) -> None:
        super().__init__(cause.message)
        self.code = cause.code
        self.cause = cause


_STATUS: list[tuple[type[RtspNotebookError], int]] = [
    (ProbeFailedError, 422),
    (InvalidURLError, 400),
    (InvalidInputError, 400),
    (StreamNotFoundError, 404),
    (ConflictError, 409),
    (AmbiguousLabelError, 409),
    (LimitError, 429),
    (SourceError, 503),
    (ServerPermissionError, 403),
    (ServerUnavailableError, 503),
    (ServerError, 502),
]


def status_for(error: RtspNotebookError) -> int:
    """The HTTP status of a domain error (500 for the unexpected ones)."""
    return next((status for cls, status in _STATUS if isinstance(error, cls)), 500)
