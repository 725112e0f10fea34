"""Pictures from a relay's own bytes: an I-frame (PSI + its packets) decoded by a one-shot FFmpeg.

Decoding the relay's keyframe needs no second RTSP session to the camera (many cameras allow only a
few). The FFmpeg is supervised like every other: own process group, a deadline, always reaped.
"""

from __future__ import annotations

import asyncio

from .errors import SourceTimeoutError
from .process import FFmpegProcess

__all__ = ["decode_keyframe_argv", "decode_keyframe_jpeg"]


def decode_keyframe_argv(ffmpeg: str, width: int | None = None, quality: int = 4) -> list[str]:
    """argv of an FFmpeg that reads MPEG-TS on stdin and writes its first picture as JPEG on stdout."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "mpegts", "-i", "pipe:0"]
    if width is not None:
        argv += ["-vf", f"scale={int(width)}:-2"]
    return [*argv, "-frames:v", "1", "-q:v", str(quality), "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"]


async def decode_keyframe_jpeg(
    ffmpeg: str, ts: bytes, *, width: int | None = None, timeout: float = 5.0
) -> bytes:
    """The first picture of ``ts`` (whole TS packets starting with PSI and an I-frame) as JPEG bytes."""
    proc = await FFmpegProcess.spawn(decode_keyframe_argv(ffmpeg, width), name="keyframe decoder", stdin=True)
    try:
        out = await asyncio.wait_for(proc.communicate(ts), timeout)
    except asyncio.TimeoutError:
        raise SourceTimeoutError(f"decoding a picture took longer than {timeout:g} s") from None
    finally:
        await proc.stop(0.5)
    if not out:
        raise proc.error()
    return out
