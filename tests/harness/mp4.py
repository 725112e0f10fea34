"""MP4 files read back with FFmpeg, the way the recording tests check them: ``showinfo`` gives every decoded
picture's time and type, ``framecrc`` every packet in the file."""

from __future__ import annotations

import itertools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

FPS = 25  # the test cameras' rate unless a test says otherwise

_SHOWINFO = re.compile(r"n:\s*(\d+) pts:\s*(-?\d+) pts_time:(-?[\d.]+) .*iskey:(\d) type:(\w)")


@dataclass(frozen=True)
class Picture:
    n: int
    pts_time: float
    key: bool
    type: str


def showinfo(ffmpeg: str, path: Path) -> str:
    """FFmpeg's log of decoding ``path`` through ``showinfo`` (a line a picture, and the input's
    description); fails on a decoding error."""
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "info", "-i", str(path), "-map", "0:v:0",
         "-vf", "showinfo", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    bad = re.compile(r"error|non-existing|missing", re.I)
    errors = [line for line in out.stderr.splitlines() if bad.search(line)]
    assert not errors, errors[:5]
    return out.stderr


def pictures(ffmpeg: str, path: Path) -> list[Picture]:
    """Every picture FFmpeg decodes from ``path``, in order; fails on a decoding error."""
    return [
        Picture(int(m[1]), float(m[3]), m[4] == "1", m[5]) for m in _SHOWINFO.finditer(showinfo(ffmpeg, path))
    ]


def packets(ffmpeg: str, path: Path) -> int:
    """How many video packets the file holds (``framecrc``: one line a packet)."""
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:v:0",
         "-c", "copy", "-f", "framecrc", "-"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return sum(1 for line in out.stdout.splitlines() if line and not line.startswith("#"))


def check_mp4(ffmpeg: str, path: Path, fps: float = FPS) -> list[Picture]:
    """The file plays from its first picture: a keyframe, every packet decoded, times strictly increasing
    with no gap over two picture intervals."""
    assert path.read_bytes()[4:8] == b"ftyp"
    pics = pictures(ffmpeg, path)
    assert pics and pics[0].key and pics[0].type == "I", pics[:3]
    assert len(pics) == packets(ffmpeg, path), "a packet that did not decode"
    times = [p.pts_time for p in pics]
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0 < s <= 2.5 / fps for s in steps), max(steps, default=0)
    return pics


def duration(pics: list[Picture], fps: float = FPS) -> float:
    return pics[-1].pts_time - pics[0].pts_time + 1 / fps
