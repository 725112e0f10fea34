"""FFmpeg discovery and the exact argv of every profile and source kind (no FFmpeg run for argv)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rtsp_notebook.errors import FFmpegNotFoundError
from rtsp_notebook.media.ffmpeg import (
    Profile,
    argv_for_display,
    find_ffmpeg,
    rate_args,
    relay_argv,
    snapshot_argv,
    source_argv,
    transcode_argv,
)
from rtsp_notebook.media.sources import parse_source

BASE = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning"]
# relays log at info: "Input #0" / "Stream mapping:" say the camera answered before its first keyframe
RELAY_BASE = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
RTSP_IN = [
    "-timeout", "10000000", "-flags", "low_delay",
    "-analyzeduration", "100000", "-probesize", "1000000",
]  # fmt: skip
OUT_HEAD = ["-an", "-sn", "-dn", "-vf"]
GRID_VF = "fps=fps='if(lte(source_fps,10),10,15)',scale=w='trunc(min(640,iw)/2)*2':h=-2"
FULL_VF = "fps=fps='if(lte(source_fps,15),15,if(lte(source_fps,25),25,30))'"


# MPEG-1 under a bitrate ceiling: target 90 % of it, half a second of buffer a quarter full at the start,
# the old fixed quantiser as the finest (grid 1500 kb/s from q6, full 4000 kb/s from q5)
GRID_RATE = [
    "-b:v", "1350k", "-maxrate", "1500k", "-bufsize", "750k", "-rc_init_occupancy", "188k",
    "-qmin", "6", "-qmax", "31",
]  # fmt: skip
FULL_RATE = [
    "-b:v", "3600k", "-maxrate", "4000k", "-bufsize", "2000k", "-rc_init_occupancy", "500k",
    "-qmin", "5", "-qmax", "31",
]  # fmt: skip


def out_tail(rate: list[str], gop: int) -> list[str]:
    return [
        "-c:v", "mpeg1video", "-strict", "unofficial", "-pix_fmt", "yuv420p", *rate,
        "-g", str(gop), "-bf", "0", "-f", "mpegts", "-muxdelay", "0", "-muxpreload", "0",
        "-flush_packets", "1", "pipe:1",
    ]  # fmt: skip


CASES = [
    (
        "rtsp://u:p%40ss@cam.local:8554/live",
        "tcp",
        Profile.GRID,
        [*BASE, "-rtsp_transport", "tcp", *RTSP_IN, "-protocol_whitelist", "rtsp,tcp",
         "-i", "rtsp://u:p%40ss@cam.local:8554/live", *OUT_HEAD, GRID_VF, *out_tail(GRID_RATE, 15)],
    ),
    (
        "rtsp://10.0.0.5/stream1",
        "udp",
        Profile.FULL,
        [*BASE, "-rtsp_transport", "udp", *RTSP_IN, "-protocol_whitelist", "rtsp,rtp,udp,tcp",
         "-i", "rtsp://10.0.0.5/stream1", *OUT_HEAD, FULL_VF, *out_tail(FULL_RATE, 30)],
    ),
    (
        "RTSPS://Cam.Example.com/x",
        "tcp",
        Profile.FULL,
        [*BASE, "-rtsp_transport", "tcp", *RTSP_IN, "-protocol_whitelist", "rtsps,tls,tcp",
         "-i", "rtsps://cam.example.com/x", *OUT_HEAD, FULL_VF, *out_tail(FULL_RATE, 30)],
    ),
    (
        "demo://mandelbrot?size=320x240&fps=10",
        "tcp",
        Profile.GRID,
        [*BASE, "-re", "-f", "lavfi", "-i", "mandelbrot=size=320x240:rate=10",
         *OUT_HEAD, GRID_VF, *out_tail(GRID_RATE, 15)],
    ),
    (
        "demo://testsrc2",
        "udp",
        Profile.FULL,
        [*BASE, "-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
         *OUT_HEAD, FULL_VF, *out_tail(FULL_RATE, 30)],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("url", "transport", "profile", "argv"), CASES, ids=[c[0] for c in CASES])
def test_relay_argv(url, transport, profile, argv):
    assert relay_argv("ffmpeg", parse_source(url), profile, transport=transport) == [*RELAY_BASE, *argv[6:]]


def test_unknown_transport_and_profile_are_refused():
    with pytest.raises(ValueError, match="unknown transport 'http': use tcp or udp"):
        relay_argv("ffmpeg", parse_source("rtsp://cam/x"), Profile.GRID, transport="http")
    with pytest.raises(ValueError, match="unknown profile 'huge': use one of grid, full"):
        Profile.parse("huge")


def test_argv_for_display_masks_the_password():
    source = parse_source("rtsp://admin:hunter2@cam/x")
    line = argv_for_display(relay_argv("ffmpeg", source, Profile.GRID), source)
    assert "hunter2" not in line and "rtsp://admin:***@cam/x" in line


def test_discovery_prefers_the_configured_path_then_path_then_imageio(tmp_path, monkeypatch):
    info = find_ffmpeg()
    assert Path(info.path).is_file() and info.version
    # on PATH: a wrapper script that runs the real binary wins over imageio-ffmpeg's
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\nexec "{info.path}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert find_ffmpeg().path == str(wrapper)
    assert find_ffmpeg(info.path).path == info.path
    broken = tmp_path / "not-ffmpeg"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(FFmpegNotFoundError, match="does not run"):
        find_ffmpeg(broken)
    # a broken ffmpeg on PATH is skipped for imageio-ffmpeg's binary
    wrapper.write_text("#!/bin/sh\nexit 1\n")
    assert find_ffmpeg().path != str(wrapper)


SNAPSHOT_OUT = [
    "-an", "-sn", "-dn", "-vf", "scale=w='min(1920,iw)':h=-1",
    "-frames:v", "1", "-f", "image2pipe", "-c:v", "ppm", "pipe:1",
]  # fmt: skip
SNAPSHOT_CASES = [
    (
        "rtsp://u:p%40ss@cam.local:8554/live",
        "tcp",
        [*BASE, "-rtsp_transport", "tcp", *RTSP_IN, "-protocol_whitelist", "rtsp,tcp",
         "-i", "rtsp://u:p%40ss@cam.local:8554/live", *SNAPSHOT_OUT],
    ),
    (
        "rtsps://cam.example.com/x",
        "udp",
        [*BASE, "-rtsp_transport", "udp", *RTSP_IN, "-protocol_whitelist", "rtsps,tls,tcp,rtp,udp,srtp",
         "-i", "rtsps://cam.example.com/x", *SNAPSHOT_OUT],
    ),
    (
        "demo://smptebars?size=320x240&fps=10",
        "tcp",
        [*BASE, "-re", "-f", "lavfi", "-i", "smptebars=size=320x240:rate=10", *SNAPSHOT_OUT],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("url", "transport", "argv"), SNAPSHOT_CASES, ids=[c[0] for c in SNAPSHOT_CASES])
def test_snapshot_argv(url, transport, argv):
    # logged at info like a relay: "Input #0" tells a camera that never answered from one with no picture
    assert snapshot_argv("ffmpeg", parse_source(url), transport) == [*RELAY_BASE, *argv[6:]]


def test_snapshot_argv_defaults_to_tcp_and_refuses_unknown_transports():
    source = parse_source("rtsp://10.0.0.5/stream1")
    assert snapshot_argv("ffmpeg", source)[len(BASE) : len(BASE) + 2] == ["-rtsp_transport", "tcp"]
    with pytest.raises(ValueError, match="unknown transport 'http': use tcp or udp"):
        snapshot_argv("ffmpeg", source, "http")


def test_source_argv_copies_the_cameras_video_into_mpegts():
    argv = source_argv("ffmpeg", parse_source("rtsp://u:p@cam/x"), transport="udp")
    assert argv[argv.index("-rtsp_transport") + 1] == "udp"
    tail = argv[argv.index("-i") + 2 :]
    assert tail[:6] == ["-map", "0:v:0", "-an", "-sn", "-dn", "-c:v"] and tail[6] == "copy"
    assert "-omit_video_pes_length" in tail and tail[-1] == "pipe:1" and "mpeg1video" not in tail


def test_a_demo_source_is_encoded_once_as_h264():
    argv = source_argv("ffmpeg", parse_source("demo://testsrc2?size=640x360&fps=25"))
    assert argv[argv.index("-c:v") + 1] == "libx264" and argv[argv.index("-g") + 1] == "25"


@pytest.mark.parametrize("profile", [Profile.GRID, Profile.FULL])
def test_transcodes_read_the_source_relay_on_stdin(profile):
    argv = transcode_argv("ffmpeg", profile)
    assert argv[argv.index("-i") - 2 : argv.index("-i") + 2] == ["-f", "mpegts", "-i", "pipe:0"]
    assert "nobuffer" not in argv  # it adds a second to every picture (measured)
    assert argv[argv.index("-c:v") + 1] == "mpeg1video"
    with pytest.raises(ValueError):
        transcode_argv("ffmpeg", Profile.SOURCE)


@pytest.mark.parametrize(
    ("profile", "kbps", "rate"),
    [
        (Profile.GRID, 800, ["720k", "800k", "400k", "100k", "6", "31"]),
        (Profile.FULL, 6000, ["5400k", "6000k", "3000k", "750k", "5", "31"]),
    ],
)
def test_a_configured_ceiling_reaches_both_mpeg1_argvs(profile, kbps, rate):
    def rate_of(argv: list[str]) -> list[str]:
        flags = ("-b:v", "-maxrate", "-bufsize", "-rc_init_occupancy", "-qmin", "-qmax")
        return [argv[argv.index(flag) + 1] for flag in flags]

    assert rate_of(transcode_argv("ffmpeg", profile, max_kbps=kbps)) == rate
    direct = relay_argv("ffmpeg", parse_source("rtsp://cam/x"), profile, max_kbps=kbps)  # an MJPEG camera
    assert rate_of(direct) == rate
    argv = transcode_argv("ffmpeg", profile, max_kbps=kbps)
    # what JSMpeg needs stays: MPEG-1 video, no B-frames, a keyframe a second, low delay, no fixed quantiser
    assert argv[argv.index("-bf") + 1] == "0" and argv[argv.index("-g") + 1] in ("15", "30")
    assert argv[argv.index("-c:v") + 1] == "mpeg1video" and "low_delay" in argv and "-q:v" not in argv


@pytest.mark.parametrize("bad", [0, 199, 30_001, -1500, 1500.5, "1500", True])
def test_a_ceiling_outside_200_to_30000_kbps_is_refused(bad):
    with pytest.raises(ValueError, match=r"^max_kbps must be a whole number of kb/s from 200 to 30000, not "):
        transcode_argv("ffmpeg", Profile.GRID, max_kbps=bad)


def test_the_bounds_of_a_ceiling_are_allowed():
    assert rate_args(Profile.FULL, 200)[:4] == ["-b:v", "180k", "-maxrate", "200k"]
    assert rate_args(Profile.GRID, 30_000)[:4] == ["-b:v", "27000k", "-maxrate", "30000k"]


def test_viewers_ask_for_grid_or_full_only():
    assert Profile.parse("full") is Profile.FULL
    with pytest.raises(ValueError, match="use one of grid, full"):
        Profile.parse("source")
