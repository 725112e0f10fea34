"""Probing a source before it is stored: connect, decode one frame, report codec, size and rate.

FFmpeg's build in imageio-ffmpeg has no ffprobe, so FFmpeg itself reads the source and its stderr
(``Stream #0:0: Video: h264 ..., 1280x720 ..., 25 fps``) says what it found.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass
from typing import Any

from .._compat import timeout as _timeout
from ..errors import SourceTimeoutError, TransportRefusedError, UnsupportedError
from .ffmpeg import input_args, transport_order
from .process import FFmpegProcess
from .sources import Source

__all__ = ["ProbeResult", "parse_probe", "probe", "probe_argv"]

_VIDEO_RE = re.compile(
    r"Stream #0:\d+[^:]*: Video: (?P<codec>[\w-]+)[^\n]*?(?P<w>\d{2,5})x(?P<h>\d{2,5})"
    r"(?:[^\n]*?(?P<fps>\d+(?:\.\d+)?) fps)?"
)


@dataclass(frozen=True)
class ProbeResult:
    codec: str
    width: int
    height: int
    fps: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe_argv(ffmpeg: str, source: Source, transport: str = "tcp", *, decode: bool = False) -> list[str]:
    """Open ``source`` and print the stream's description. Without ``decode`` FFmpeg stops as soon as
    the input is open (``-t 0``): codec and size come from the camera's SDP (its SPS), with no wait for a
    keyframe, which can be 10 s away; with ``decode`` it reads until one video frame is decoded."""
    # -c:v copy: with no decoder, FFmpeg does not wait for the camera's next keyframe before it stops
    until = ["-frames:v", "1"] if decode else ["-c:v", "copy", "-t", "0"]
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
        *input_args(source, transport), "-an", *until, "-f", "null", "-",
    ]  # fmt: skip


def parse_probe(stderr: str) -> ProbeResult | None:
    """The first input video stream FFmpeg describes on stderr, or None."""
    head = stderr.split("Stream mapping:", 1)[0]
    match = _VIDEO_RE.search(head)
    if match is None:
        return None
    fps = match.group("fps")
    return ProbeResult(
        match.group("codec"), int(match.group("w")), int(match.group("h")), float(fps) if fps else None
    )


async def probe(ffmpeg: str, source: Source, *, transport: str = "tcp", timeout: float = 5.0) -> ProbeResult:
    """Connect to ``source`` within ``timeout`` seconds; raises the SourceError that explains a failure.

    ``transport`` ``auto`` tries TCP, then UDP when the camera refuses TCP (RTSP 461). When the camera's
    SDP does not give the picture size, one frame is decoded within what is left of ``timeout``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    order = transport_order(transport)
    try:
        result = await _probe_once(ffmpeg, source, order[0], deadline, decode=False)
    except TransportRefusedError:
        if order[1] is None:
            raise
        result = await _probe_once(ffmpeg, source, order[1], deadline, decode=False)
        order = (order[1], None)
    if result is None:
        result = await _probe_once(ffmpeg, source, order[0], deadline, decode=True)
    if result is None:
        raise UnsupportedError("the source has no video stream FFmpeg can read")
    return result


async def _probe_once(
    ffmpeg: str, source: Source, transport: str, deadline: float, *, decode: bool
) -> ProbeResult | None:
    argv = probe_argv(ffmpeg, source, transport, decode=decode)
    if source.scheme == "demo":
        argv.remove("-re")
    timeout = max(0.1, deadline - asyncio.get_running_loop().time())
    proc = await FFmpegProcess.spawn(argv, name="probe", secrets=source.secrets)
    try:
        async with _timeout(timeout):
            await proc.wait()
    except asyncio.TimeoutError:
        if proc.opened.is_set():
            raise SourceTimeoutError(
                "the camera answered but sent no picture within the probe's time"
            ) from None
        raise SourceTimeoutError("the camera never answered RTSP within the probe's time") from None
    finally:
        await proc.stop(0.5)
    result = parse_probe(proc.stderr_tail())
    if proc.returncode != 0:
        raise proc.error()
    return result
