"""Pictures from a relay's own bytes: an I-frame (PSI + its packets) decoded by a one-shot FFmpeg.

Decoding the relay's keyframe needs no second RTSP session to the camera (many cameras allow only a
few). The FFmpeg is supervised like every other: own process group, a deadline, always reaped.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from .._compat import timeout as _timeout
from ..errors import SourceTimeoutError
from .process import FFmpegProcess

__all__ = ["decode_keyframe", "decode_keyframe_argv", "decode_keyframe_jpeg", "decode_keyframe_ppm"]

ImageCodec = Literal["mjpeg", "ppm"]


def decode_keyframe_argv(
    ffmpeg: str, width: int | None = None, quality: int = 4, *, codec: ImageCodec = "mjpeg"
) -> list[str]:
    """argv of an FFmpeg that reads MPEG-TS on stdin and writes its first picture on stdout.

    ``codec``: ``mjpeg`` (one JPEG of ``quality``, 2 best .. 31 worst) or ``ppm`` (one binary RGB
    PPM image, lossless, for Pillow).
    """
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "mpegts", "-i", "pipe:0"]
    if width is not None:
        argv += ["-vf", f"scale={int(width)}:-2"]
    argv += ["-frames:v", "1"]
    if codec == "mjpeg":
        argv += ["-q:v", str(quality)]
    return [*argv, "-f", "image2pipe", "-c:v", codec, "pipe:1"]


async def decode_keyframe(argv: list[str], ts: bytes, *, timeout: float = 5.0) -> bytes:
    """Run a ``decode_keyframe_argv`` FFmpeg on ``ts`` and return its stdout (the picture)."""
    proc = await FFmpegProcess.spawn(argv, name="keyframe decoder", stdin=True)
    try:
        async with _timeout(timeout):
            out = await proc.communicate(ts)
    except asyncio.TimeoutError:
        raise SourceTimeoutError(f"decoding a picture took longer than {timeout:g} s") from None
    finally:
        await proc.stop(0.5)
    if not out:
        raise proc.error()
    return out


async def decode_keyframe_jpeg(
    ffmpeg: str, ts: bytes, *, width: int | None = None, timeout: float = 5.0
) -> bytes:
    """The first picture of ``ts`` (whole TS packets starting with PSI and an I-frame) as JPEG bytes."""
    return await decode_keyframe(decode_keyframe_argv(ffmpeg, width), ts, timeout=timeout)


async def decode_keyframe_ppm(ffmpeg: str, ts: bytes, *, timeout: float = 5.0) -> bytes:
    """The first picture of ``ts`` at its own size as a binary PPM (P6, RGB) image."""
    return await decode_keyframe(decode_keyframe_argv(ffmpeg, codec="ppm"), ts, timeout=timeout)
