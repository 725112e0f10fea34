"""What FFmpeg's stderr says went wrong, as an error a person can act on.

Rules read only the newest ``CLASSIFY_LINES`` lines (an old warning must not label a later failure), in
order; the first that matches decides the error class and writes its message from what it matched (an
RTSP method and status are kept: "the camera answered PLAY with RTSP 460 (Only aggregate operation
allowed)"). Whether the input had opened (the camera answered RTSP and its stream was described) and the
exit status tell apart what FFmpeg prints the same way: ``Failed reading RTSP data: End of file`` is a
camera that ended its session (after the input opened, or with exit status 0) or a server that does not
speak RTSP (before it opened). FFmpeg's noise (``Last message repeated``, ``[h264 @ 0x…]`` tags, its
statistics, its generic "Error opening input" tails) never becomes a message. Messages are built from
fixed text and the matched groups only; stderr has been masked before it gets here.

Cases as FFmpeg 9 prints them (measured with the relay, probe and snapshot argvs; tests/test_errors.py):

=====================================  ====  ===============================================================
case                                   exit  the lines that tell it
=====================================  ====  ===============================================================
camera stopped mid-stream              0     ``Failed reading RTSP data: End of file``
wrong user or password (basic, digest) 8     ``method DESCRIBE failed: 401 (Unauthorized)``
wrong path                             8     ``method DESCRIBE failed: 404 (Not Found)``
UDP-only camera, TCP forced            163   ``method SETUP failed: 461 (Unsupported transport)``
``rtsps://`` to a plain RTSP server    251   ``[tls @ 0x…] error:…:SSL routines::wrong version number``
silent port                            183   ``Failed reading RTSP data: Connection timed out``
an HTTP server, junk bytes             183   ``Failed reading RTSP data: End of file`` / ``… reset by peer``
another RTSP status (460 on PLAY)      8     ``method PLAY failed: 460 (Only aggregate operation allowed)``
unresolvable host                      251   ``Failed to resolve hostname camera.invalid: Name or …``
=====================================  ====  ===============================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import (
    AuthError,
    CameraNotFoundError,
    DisconnectedError,
    FFmpegExitError,
    SourceError,
    SourceTimeoutError,
    TransportRefusedError,
    UnreachableError,
    UnsupportedError,
)

__all__ = ["CLASSIFY_LINES", "classify_stderr", "meaningful_line"]

CLASSIFY_LINES = 8

_TAG = re.compile(r"^\s*\[[^\]]*\]\s*")  # "[in#0/rtsp @ 0x55d…] " and the like
_ADDRESS = re.compile(r"\s*@\s*0x[0-9a-fA-F]+")
_NOISE = re.compile(
    r"Last message repeated|^frame=|^Input #|^Output #|^Stream mapping|^Press \[q\]|muxing overhead"
    r"|No filtered frames|^Error opening input|^Error opening output|Output file is empty"
    r"|corrupt decoded frame|^Metadata:|^Duration:|^Stream #|^Side data|^encoder\s*:|^title\s*:"
    r"|^comment\s*:|concealing|^error while|decode_slice_header|^Exiting normally|Conversion failed"
    r"|^Terminating",
    re.I,
)

Message = Callable[["re.Match[str]", bool], str]
Kind = type[SourceError] | Callable[["re.Match[str]"], type[SourceError]]


def _status_class(match: re.Match[str]) -> type[SourceError]:
    status = int(match.group("status"))
    return UnreachableError if status >= 500 else UnsupportedError


# (pattern, class or a function of the match, message or a function of (match, opened))
_RULES: list[tuple[re.Pattern[str], Kind, str | Message]] = [
    (re.compile(r"\b461\b.*Unsupported transport|Unsupported transport", re.I), TransportRefusedError,
     "the camera refused this RTP transport (RTSP 461 Unsupported transport): try transport 'udp'"),
    (re.compile(r"401 Unauthorized|\b401\b \(Unauthorized\)|authori[sz]ation failed", re.I), AuthError,
     "the camera refused the user name or password (RTSP 401 Unauthorized)"),
    (re.compile(r"403 Forbidden|\b403\b \(Forbidden\)", re.I), AuthError,
     "the camera refused access to this stream (RTSP 403 Forbidden)"),
    (re.compile(r"404 Not Found|\b404\b \(Not Found\)|Stream not found|454 Session Not Found", re.I),
     CameraNotFoundError, "the camera has no stream at this path (RTSP 404 Not Found)"),
    (re.compile(r"method (?P<method>[A-Z_]+) failed: (?P<status>\d{3})(?: \((?P<reason>[^)]*)\))?"),
     _status_class,
     lambda m, _opened: f"the camera answered {m.group('method')} with RTSP {m.group('status')}"
     + (f" ({m.group('reason')})" if m.group("reason") else "")),
    (re.compile(r"SSL routines|wrong version number|TLS handshake|tls @|certificate verify failed", re.I),
     UnsupportedError,
     "the TLS handshake failed: the camera may not support rtsps:// (try rtsp://), or its certificate was "
     "refused"),
    (re.compile(r"Connection refused", re.I), UnreachableError,
     "the camera refused the connection: check the host and port"),
    (re.compile(r"Failed to resolve hostname|Name or service not known|Temporary failure in name resolution"
                r"|nodename nor servname", re.I), UnreachableError,
     "the camera's host name cannot be resolved: check the address"),
    (re.compile(r"No route to host|Network is unreachable|Host is unreachable|Cannot assign requested", re.I),
     UnreachableError, "the camera cannot be reached: no route to its address"),
    (re.compile(r"timed out", re.I), SourceTimeoutError,
     lambda _m, opened: "the camera stopped sending in the middle of the stream" if opened
     else "the camera accepted the connection but never answered RTSP"),
    (re.compile(r"Failed reading RTSP data: (End of file|Connection reset by peer)|Connection reset by peer"
                r"|End of file", re.I),
     lambda _m: DisconnectedError, "the camera ended the session (it stopped or restarted)"),
    (re.compile(r"Unknown codec|unsupported|not supported|Could not find codec parameters"
                r"|Decoder \(codec .*\) not found|no decoder", re.I), UnsupportedError,
     "the camera's video format is not supported"),
]  # fmt: skip

_NOT_RTSP = (
    "the server at this address does not speak RTSP (it closed the connection or answered something else)"
)


def meaningful_line(line: str) -> str:
    """A stderr line without its ``[component @ 0x…]`` tag, or "" when it is FFmpeg's noise."""
    text = _ADDRESS.sub("", _TAG.sub("", line)).strip()
    return "" if not text or _NOISE.search(text) else text


def classify_stderr(stderr: str, returncode: int | None, *, opened: bool = False) -> SourceError:
    """The error that FFmpeg's (already masked) stderr and exit status describe, from its newest lines.

    ``opened``: FFmpeg had opened its input (the camera answered RTSP) before it ended.
    """
    lines = [line for line in stderr.splitlines() if line.strip()]
    newest = "\n".join(lines[-CLASSIFY_LINES:])
    for pattern, kind, text in _RULES:
        match = pattern.search(newest)
        if match is None:
            continue
        cls: type[SourceError] = kind if isinstance(kind, type) else kind(match)
        if cls is DisconnectedError and not opened and returncode not in (0, None):
            return UnsupportedError(_NOT_RTSP, detail=stderr)  # it closed on us before any RTSP answer
        message = text if isinstance(text, str) else text(match, opened)
        return cls(message, detail=stderr)
    if returncode == 0:
        return DisconnectedError("the camera ended the stream", detail=stderr)
    last = next((text for line in reversed(lines) if (text := meaningful_line(line))), "")
    status = "was killed" if returncode is not None and returncode < 0 else f"exited with code {returncode}"
    return FFmpegExitError(f"FFmpeg {status}" + (f": {last}" if last else ""), detail=stderr)
