"""The TS analyzer on real FFmpeg output: packet alignment, PSI, I-frames and video info."""

from __future__ import annotations

import random
import subprocess

import pytest

from rtsp_notebook.media.ffmpeg import Profile, relay_argv
from rtsp_notebook.media.mpegts import PACKET_SIZE, PacketAligner, TsAnalyzer, VideoInfo
from rtsp_notebook.media.sources import parse_source

from .harness.helpers import ffmpeg_info


def encode(url: str, profile: Profile, seconds: float) -> bytes:
    argv = relay_argv(ffmpeg_info().path, parse_source(url), profile)
    argv.remove("-re")  # as fast as possible
    argv[argv.index("pipe:1") : argv.index("pipe:1")] = ["-t", str(seconds)]
    return subprocess.run(argv, capture_output=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def grid_ts() -> bytes:
    return encode("demo://testsrc2?size=1280x720&fps=25", Profile.GRID, 4)


def run(data: bytes, chunk: int):
    aligner, analyzer = PacketAligner(), TsAnalyzer()
    segments = []
    for i in range(0, len(data), chunk):
        segments += analyzer.feed(aligner.feed(data[i : i + chunk]))
    return analyzer, segments


@pytest.mark.parametrize("chunk", [1, 187, 188, 1000, 65536])
def test_segments_cover_the_stream_and_start_at_iframes(grid_ts, chunk):
    analyzer, segments = run(grid_ts, chunk)
    assert b"".join(s.data for s in segments) == grid_ts[: len(grid_ts) // PACKET_SIZE * PACKET_SIZE]
    assert all(len(s.data) % PACKET_SIZE == 0 and s.data[0] == 0x47 for s in segments)
    assert analyzer.frames == 60 and analyzer.keyframes == 4  # 4 s at 15 fps, one GOP per second
    assert sum(s.keyframe for s in segments) == 4
    assert analyzer.video == VideoInfo(640, 360, 15.0)
    assert analyzer.pat is not None and analyzer.pmt is not None and analyzer.video_pid is not None
    for seg in segments:
        if seg.keyframe:
            assert ((seg.data[1] & 0x1F) << 8 | seg.data[2]) == analyzer.video_pid and seg.data[1] & 0x40


def test_full_profile_keeps_the_source_size_and_rate():
    analyzer, _ = run(encode("demo://smptebars?size=1280x720&fps=25", Profile.FULL, 2), 4096)
    assert analyzer.video == VideoInfo(1280, 720, 25.0)
    assert analyzer.keyframes == 2 and analyzer.frames == 50


def test_aligner_resyncs_after_garbage(grid_ts):
    rng = random.Random(7)
    garbage = bytes(rng.randrange(256) for _ in range(1000)).replace(b"\x47", b"\x00")
    data = grid_ts[: 300 * PACKET_SIZE] + garbage[:77] + grid_ts[300 * PACKET_SIZE :]
    aligner = PacketAligner()
    out = b"".join(aligner.feed(data[i : i + 5000]) for i in range(0, len(data), 5000))
    assert aligner.resyncs == 1 and aligner.skipped_bytes == 77
    assert out == grid_ts[: len(grid_ts) // PACKET_SIZE * PACKET_SIZE]


def copied(encoder: list[str], size: str, seconds: int, gop: int) -> bytes:
    """A camera's own video as the copy relay gets it: an encoder's stream copied into MPEG-TS."""
    argv = [ffmpeg_info().path, "-hide_banner", "-loglevel", "error", "-f", "lavfi"]
    argv += ["-i", f"testsrc2=size={size}:rate=25", "-t", str(seconds), *encoder, "-g", str(gop)]
    argv += ["-pix_fmt", "yuv420p", "-f", "mpegts", "-muxdelay", "0", "pipe:1"]
    return subprocess.run(argv, capture_output=True, check=True, timeout=120).stdout


@pytest.mark.parametrize(
    ("encoder", "size", "video"),
    [
        (
            ["-c:v", "libx264", "-profile:v", "high", "-bf", "2"],
            "854x480",
            VideoInfo(854, 480, 25.0, "h264", "avc1.64001e"),
        ),
        (
            ["-c:v", "libx264", "-profile:v", "baseline"],
            "640x360",
            VideoInfo(640, 360, 25.0, "h264", "avc1.42c01e"),
        ),
        (
            ["-c:v", "libx265", "-x265-params", "log-level=error"],
            "1280x720",
            VideoInfo(1280, 720, 0.0, "hevc", "hvc1.1.6.L93.90"),
        ),
    ],
    ids=["h264-high-bframes-odd-size", "h264-baseline", "hevc"],
)
def test_h264_and_hevc_keyframes_and_video_info(encoder, size, video):
    data = copied(encoder, size, seconds=3, gop=25)
    for chunk in (188, 5000):
        analyzer, segments = run(data, chunk)
        assert analyzer.codec == video.codec
        assert analyzer.frames == 75 and analyzer.keyframes == 3  # 3 s at 25 fps, an IDR every second
        assert [s.keyframe for s in segments].count(True) == 3
        assert analyzer.video == video
        assert b"".join(s.data for s in segments) == data
