"""MPEG-1 for JSMpeg: the fixed quantiser used before against a bitrate ceiling per profile, in kb/s, CPU
and quality.

    python -m bench.mpeg1_bitrate [--seconds 6] [--runs 1] [--json bench/results/mpeg1_bitrate.json]

Inputs: 1280x720 at 25 fps, H.264 in MPEG-TS as a camera sends it (x264 ultrafast, zero latency, a
keyframe a second, at a camera's bitrate), made once by FFmpeg from lavfi pictures:

* ``scroll``: ``testsrc2`` scrolled 4 px a frame (the whole picture moves; camera at 4 Mb/s);
* ``noisy``: ``testsrc2`` with sensor noise on every frame (a camera at night; 4 Mb/s);
* ``snow``: grey under heavy noise, every pixel changes every frame (the test camera's ``snow``; 2 Mb/s);
* ``quiet``: one ``testsrc2`` picture held still (a parking lot at noon; 2 Mb/s).

Each goes through the transcode's own argv (:func:`~rtsp_notebook.media.ffmpeg.transcode_argv`: MPEG-TS on
stdin) for the ``grid`` and ``full`` profiles, with its rate-control flags swapped per variant: ``q6`` /
``q5``, the fixed quantiser used before (the reference); the default ceiling
(:func:`~rtsp_notebook.media.ffmpeg.rate_args`); the default with one of its choices undone; other
ceilings. The input is fed as fast as FFmpeg reads it: rate control works on timestamps, not on the clock.

Figures per run: kb/s on the wire (every TS packet, counted to the picture whose PES it follows, by PTS):
the mean, and the max over any 1 s window (sliding, picture by picture); FFmpeg's CPU (user + system of the
child) per second of video, i.e. cores at the real-time rate (the median of ``--runs``); PSNR (average, and
the worst picture) and SSIM of the output against the input decoded and put through the same ``fps`` and
``scale`` filters (a second FFmpeg, not counted).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._report import report
from rtsp_notebook.media.ffmpeg import (
    PROFILES,
    Profile,
    _video_filter,
    find_ffmpeg,
    rate_args,
    transcode_argv,
)

WIDTH, HEIGHT, FPS = 1280, 720, 25
SCROLL = 4 / WIDTH  # FFmpeg's scroll filter: a share of the width per frame
# name -> (lavfi graph, the camera's H.264 bitrate in kb/s)
INPUTS = {
    "scroll": (f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS},scroll=horizontal={SCROLL}", 4096),
    "noisy": (f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS},noise=alls=20:allf=t", 4096),
    "snow": (f"color=gray:size={WIDTH}x{HEIGHT}:rate={FPS},noise=alls=100:allf=t", 2048),
    "quiet": (f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}:duration=0.04,loop=loop=-1:size=1", 2048),
}
CAMERA_H264 = [
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
    "-g", str(FPS), "-bf", "0",
]  # fmt: skip
RATE_FLAGS = ("-q:v", "-b:v", "-maxrate", "-bufsize", "-rc_init_occupancy", "-qmin", "-qmax")
PTS_HZ = 90_000
PACKET = 188
BEFORE = {Profile.GRID: 6, Profile.FULL: 5}  # the fixed quantisers used before the ceilings
OTHER_CEILINGS = {Profile.GRID: (1000, 2000), Profile.FULL: (3000, 5000)}


def changed(flags: list[str], **changes: str | None) -> list[str]:
    """Rate-control ``flags`` with some changed (``b_v="1500k"`` for ``-b:v``) or left out (None)."""
    out = list(flags)
    for name, value in changes.items():
        flag = "-" + name.replace("_v", ":v")
        at = out.index(flag)
        out[at : at + 2] = [] if value is None else [flag, value]
    return out


def variants(profile: Profile) -> dict[str, list[str]]:
    """name -> rate-control flags: the fixed quantiser used before, the default, and the default with one
    choice undone."""
    default = rate_args(profile)
    kbps = PROFILES[profile].max_kbps
    return {
        f"q{BEFORE[profile]} (before)": ["-q:v", str(BEFORE[profile])],
        f"default {kbps}k": default,
        "qmin 2 (FFmpeg's)": changed(default, qmin="2"),
        "target = ceiling": changed(default, b_v=f"{kbps}k"),
        "buffer 1 s": changed(default, bufsize=f"{kbps}k", rc_init_occupancy=f"{kbps // 4}k"),
        "start fill 3/4": changed(default, rc_init_occupancy=None),
        **{f"ceiling {k}k": rate_args(profile, k) for k in OTHER_CEILINGS[profile]},
    }


def with_rate(argv: Sequence[str], flags: Sequence[str]) -> list[str]:
    """``argv`` with its rate-control flags replaced by ``flags``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in RATE_FLAGS:
            skip = True
        else:
            out.append(arg)
    at = out.index("-g")
    return [*out[:at], *flags, *out[at:]]


def make_input(ffmpeg: str, graph: str, kbps: int, seconds: float, path: Path) -> None:
    """``seconds`` of ``graph`` as the camera would send it: H.264 at ``kbps`` in MPEG-TS."""
    rate = ["-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k"]
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph, "-t", str(seconds),
         *CAMERA_H264, *rate, "-f", "mpegts", str(path)],
        check=True,
    )  # fmt: skip


def _pts(packet: bytes) -> int | None:
    """The PTS of a video PES that starts in this packet, else None."""
    if not packet[1] & 0x40:
        return None
    start = 4
    if packet[3] & 0x20:
        start += 1 + packet[4]
    pes = packet[start : start + 14]
    if len(pes) < 14 or pes[:3] != b"\x00\x00\x01" or not 0xE0 <= pes[3] <= 0xEF or not pes[7] & 0x80:
        return None
    p = pes[9:14]
    return ((p[0] >> 1) & 7) << 30 | p[1] << 22 | (p[2] >> 1) << 15 | p[3] << 7 | p[4] >> 1


def pictures(ts: bytes) -> list[tuple[int, int]]:
    """(PTS, bytes on the wire) of each picture: every packet counts for the latest video PES before it
    (the ones before the first picture count for the first)."""
    out: list[list[int]] = []
    pending = 0
    for i in range(0, len(ts) - PACKET + 1, PACKET):
        pts = _pts(ts[i : i + PACKET])
        if pts is not None:
            out.append([pts, pending])
            pending = 0
        if out:
            out[-1][1] += PACKET
        else:
            pending += PACKET
    return [(pts, size) for pts, size in out]


def rates(pics: list[tuple[int, int]]) -> dict[str, float]:
    """Mean kb/s and the max over any 1 s window that starts at a picture."""
    if len(pics) < 2:
        raise ValueError("fewer than 2 pictures out")
    step = (pics[-1][0] - pics[0][0]) / (len(pics) - 1)
    duration = (pics[-1][0] - pics[0][0] + step) / PTS_HZ
    total = sum(size for _, size in pics)
    peak, end, window = 0, 0, 0
    for start, (pts, _) in enumerate(pics):
        while end < len(pics) and pics[end][0] < pts + PTS_HZ:
            window += pics[end][1]
            end += 1
        if pics[-1][0] + step < pts + PTS_HZ:
            break  # the windows left are shorter than 1 s
        peak = max(peak, window)
        window -= pics[start][1]
    return {
        "kbps_mean": round(total * 8 / duration / 1000, 1),
        "kbps_max_1s": round(peak * 8 / 1000, 1),
        "seconds": round(duration, 2),
    }


def transcode(argv: Sequence[str], src: Path) -> tuple[bytes, float]:
    """Run one transcode on ``src``: its output, and its CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with src.open("rb") as stdin:
        done = subprocess.run(argv, stdin=stdin, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"FFmpeg exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.stdout, cpu


def quality(ffmpeg: str, out: Path, src: Path, profile: Profile) -> dict[str, float]:
    """PSNR (average, worst picture) and SSIM of ``out`` against ``src`` through the profile's filters."""
    graph = f"[1:v]{_video_filter(PROFILES[profile])},split[r0][r1];[0:v][r0]psnr[m];[m][r1]ssim"
    done = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(out), "-i", str(src),
         "-lavfi", graph, "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures: dict[str, float] = {}
    for text in done.stderr.splitlines():
        if "PSNR " in text and "average:" in text:
            fields = dict(f.split(":", 1) for f in text.split("PSNR ", 1)[1].split() if ":" in f)
            figures["psnr_db"] = round(float(fields["average"]), 2)
            figures["psnr_min_db"] = round(float(fields["min"]), 2)
        elif "SSIM " in text and "All:" in text:
            figures["ssim"] = round(float(text.split("All:", 1)[1].split()[0]), 4)
    return figures


def run(ffmpeg: str, seconds: float, runs: int, tmp: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, (graph, camera_kbps) in INPUTS.items():
        src = tmp / f"{name}.ts"
        make_input(ffmpeg, graph, camera_kbps, seconds, src)
        for profile in (Profile.GRID, Profile.FULL):
            base = transcode_argv(ffmpeg, profile)
            base[base.index("-loglevel") + 1] = "error"
            for variant, flags in variants(profile).items():
                argv = with_rate(base, flags)
                cpu = []
                for _ in range(runs):
                    data, used = transcode(argv, src)
                    cpu.append(used)
                out = tmp / "out.ts"
                out.write_bytes(data)
                figures = rates(pictures(data))
                row = {
                    "input": name,
                    "profile": profile.value,
                    "variant": variant,
                    "rate_flags": flags,
                    **figures,
                    "core": round(statistics.median(cpu) / figures["seconds"], 4),
                    **quality(ffmpeg, out, src, profile),
                }
                rows.append(row)
    return rows


def figures_of(row: dict[str, Any]) -> str:
    return (
        f"{row['kbps_mean']:6.0f} / {row['kbps_max_1s']:6.0f} kb/s  {row['core']:.3f} core  "
        f"PSNR {row['psnr_db']:5.2f} dB (worst {row['psnr_min_db']:5.2f})  SSIM {row['ssim']:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each input")
    parser.add_argument("--runs", type=int, default=1, help="transcodes of each variant (CPU: the median)")
    parser.add_argument("--json", type=Path, default=Path("bench/results/mpeg1_bitrate.json"))
    args = parser.parse_args()
    ffmpeg = find_ffmpeg().path
    with tempfile.TemporaryDirectory() as tmp:
        result = run(ffmpeg, args.seconds, args.runs, Path(tmp))
    sys.stdout.write(
        "input profile variant: kb/s mean / max over 1 s, FFmpeg CPU, quality against the input\n"
    )
    table = {f"{r['input']} {r['profile']} {r['variant']}": figures_of(r) for r in result}
    report({"seconds": args.seconds, "runs": args.runs, "rows": result}, table, args.json)


if __name__ == "__main__":
    main()
