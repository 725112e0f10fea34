"""FFmpeg: finding the binary and building its command lines.

Every argv comes from a pure function of (binary, source, profile, options); the defaults live in
this module and nowhere else, and the tests pin them case by case without running FFmpeg.

Choices, measured against the GStreamer test camera with a keyframe every 0.2 s, so that the figures
are FFmpeg's own start-up (median of 5, first I-frame on stdout; command in BENCHMARKS.md):

* ``-analyzeduration 100000`` (0.1 s of probing) without ``-fflags nobuffer``: 274 ms. With
  ``nobuffer`` the same start took 669 ms (0.2 s probing), 0.2 s probing alone 354 ms, FFmpeg's default
  probing 1472 ms, and ``-analyzeduration 0`` 1231 ms. ``-flags low_delay`` costs nothing at start.
* ``-flush_packets 1`` keeps frames from waiting in FFmpeg's output buffer.
* MPEG-1 only knows a few frame rates. The ``grid`` profile runs at 15 fps, which MPEG-1 only allows
  with ``-strict unofficial`` (JSMpeg plays it: it decodes a stream as it arrives).
* One GOP per second bounds the keyframe cache a new viewer receives, and the wait of a cold start.
* MPEG-1 has a bitrate ceiling per profile (:func:`rate_args`; ``EngineConfig.mpeg1_grid_kbps`` /
  ``mpeg1_full_kbps``, 1500 and 4000 kb/s) instead of the fixed quantiser (``-q:v 6`` / ``5``) that let
  a busy picture take what it wanted: 2.6 Mb/s for a grid tile of a 720p25 camera's noise, 11.6 to 12.8
  Mb/s in the full profile. Measured with ``python -m bench.mpeg1_bitrate`` (BENCHMARKS.md, "MPEG-1
  bitrate ceilings"): ``-maxrate`` at the ceiling with ``-b:v`` at 90 % of it (at 100 % FFmpeg's MPEG-1
  rate control ran 2-4 % over the ceiling on average); ``-bufsize`` half a second of it, of which
  ``-rc_init_occupancy`` a quarter (FFmpeg's three quarters let the first I-frame be up to 2.4x larger and
  the first second reach 1.2-1.3x the ceiling); ``-qmin`` the old quantiser, so a picture under the ceiling
  costs and looks as before instead of being refined up to the target (FFmpeg's qmin 2: a still grid
  tile 184 → 320 kb/s, a scrolling one 862 → 1493); ``-qmax 31``, FFmpeg's, so that nothing but the
  ceiling bounds a busy picture.
* The protocol whitelist admits only what RTSP over the chosen transport needs (``rtsp,tcp`` for TCP).

One camera, one RTSP session (DESIGN §2): the *source* relay copies the camera's own video into MPEG-TS
(:func:`source_argv`, ``-c:v copy``: no decode, no encode); the MPEG-1 profiles for JSMpeg are FFmpegs fed
from its bytes on stdin (:func:`transcode_argv`). A ``demo://`` source has no camera video to copy: its
source relay encodes the test picture as H.264 once (x264, ultrafast, zero latency, a keyframe a second),
so it behaves like a camera.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import FFmpegNotFoundError
from .sources import Source

__all__ = [
    "PROFILES",
    "FFmpegInfo",
    "Profile",
    "ProfileSpec",
    "check_kbps",
    "find_ffmpeg",
    "input_args",
    "rate_args",
    "relay_argv",
    "snapshot_argv",
    "source_argv",
    "transcode_argv",
    "transport_order",
]

log = logging.getLogger(__name__)


class Profile(str, enum.Enum):
    """What a relay makes: the camera's own video (``source``; ``sub``: its substream, for tiles), or
    MPEG-1 for small tiles or the expanded view. Viewers ask for ``grid`` or ``full`` (:meth:`parse`);
    the engine picks the relay."""

    GRID = "grid"
    FULL = "full"
    SOURCE = "source"
    SUB = "sub"

    @property
    def copied(self) -> bool:
        """A copy of a camera stream (one RTSP session), not a transcode."""
        return self in (Profile.SOURCE, Profile.SUB)

    @classmethod
    def parse(cls, value: object) -> Profile:
        """A profile a viewer may ask for (``grid`` or ``full``)."""
        if isinstance(value, Profile) and not value.copied:
            return value
        if value in ("grid", "full"):
            return cls(value)
        raise ValueError(f"unknown profile {value!r}: use one of grid, full")


@dataclass(frozen=True)
class ProfileSpec:
    max_width: int | None  # None keeps the source size
    fps_expr: str  # an FFmpeg ``fps`` filter expression that only yields MPEG-1 rates
    max_kbps: int  # the default bitrate ceiling (EngineConfig.mpeg1_<profile>_kbps)
    qmin: int  # the finest mpeg1video quantiser (2 best .. 31 worst): what a quiet picture gets


PROFILES: dict[Profile, ProfileSpec] = {
    # at most 640 px wide, at most 15 fps
    Profile.GRID: ProfileSpec(max_width=640, fps_expr="if(lte(source_fps,10),10,15)", max_kbps=1500, qmin=6),
    # source size, at most 30 fps, rounded to a rate MPEG-1 can carry
    Profile.FULL: ProfileSpec(
        max_width=None,
        fps_expr="if(lte(source_fps,15),15,if(lte(source_fps,25),25,30))",
        max_kbps=4000,
        qmin=5,
    ),
}
# MPEG-1 rate control around a profile's ceiling (measured: the module's docstring).
TARGET_SHARE = 0.9  # -b:v, of the ceiling (-maxrate)
BUFFER_S = 0.5  # -bufsize, in seconds at the ceiling
START_FILL = 0.25  # -rc_init_occupancy, of the buffer: how much the first pictures may spend
QMAX = 31
# Ceilings a setting may ask for, in kb/s: below 200 a busy 640x360 picture at 15 fps passes the ceiling
# even at the coarsest quantiser (202 kb/s measured) and FFmpeg warns at every picture; above 30000 the
# half-second buffer no longer fits MPEG-1's VBV field (16368 kbit).
MIN_KBPS, MAX_KBPS = 200, 30_000

# Input side: probing and socket deadlines.
ANALYZE_DURATION_US = 100_000
PROBE_SIZE = 1_000_000
SOCKET_TIMEOUT_US = 10_000_000
# A one-shot picture is never wider than this (a 4K camera's frame would be 25 MB as PPM).
SNAPSHOT_MAX_WIDTH = 1920
# Output side: one keyframe per second of output (in frames at the profile's highest rate).
GOP_FRAMES = {Profile.GRID: 15, Profile.FULL: 30}
# A transcode reads the source relay's MPEG-TS, which starts at a keyframe with its PSI: a short probe.
# Fed at 25 fps with a 720p H.264 source, the first MPEG-1 picture leaves 174 ms after the first input
# picture with these and ``-flags low_delay``, 250 ms without low_delay, 1.2 s with ``-fflags nobuffer``
# (it adds a second to every picture), and never within 5 s with FFmpeg's default probing.
TRANSCODE_ANALYZE_US = 40_000
TRANSCODE_PROBE_SIZE = 100_000

_PROTOCOLS = {
    ("rtsp", "tcp"): "rtsp,tcp",
    ("rtsp", "udp"): "rtsp,rtp,udp,tcp",
    ("rtsps", "tcp"): "rtsps,tls,tcp",
    ("rtsps", "udp"): "rtsps,tls,tcp,rtp,udp,srtp",
}


@dataclass(frozen=True)
class FFmpegInfo:
    path: str
    version: str


_VERSION_RE = re.compile(r"ffmpeg version (\S+)")


def _version_of(path: str) -> str | None:
    try:
        out = subprocess.run(
            [path, "-hide_banner", "-version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION_RE.search(out.stdout)
    return match.group(1) if out.returncode == 0 and match else None


def find_ffmpeg(configured: str | os.PathLike[str] | None = None) -> FFmpegInfo:
    """Find FFmpeg: the configured path, else ``ffmpeg`` on PATH, else imageio-ffmpeg's binary.

    Blocking (it runs ``ffmpeg -version``): call it at start-up or through ``asyncio.to_thread``.
    A configured path that does not work is an error, not a reason to look elsewhere.
    """
    if configured:
        path = os.fspath(configured)
        version = _version_of(path)
        if version is None:
            raise FFmpegNotFoundError(f"the configured FFmpeg at {path!r} does not run")
        return FFmpegInfo(path, version)
    candidates: list[str] = []
    on_path = shutil.which("ffmpeg")
    if on_path:
        candidates.append(on_path)
    try:
        import imageio_ffmpeg

        candidates.append(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        log.debug("imageio-ffmpeg has no binary: %s", exc)
    for path in candidates:
        version = _version_of(path)
        if version is not None:
            return FFmpegInfo(path, version)
        log.warning("FFmpeg at %s does not run; trying the next one", path)
    raise FFmpegNotFoundError(
        "no FFmpeg found: install imageio-ffmpeg, put ffmpeg on PATH, or configure its path"
    )


def input_args(source: Source, transport: str = "tcp") -> list[str]:
    """The input half of an argv: how FFmpeg reads ``source``."""
    if source.scheme == "demo":
        width, height = source.demo_size
        graph = f"{source.pattern}=size={width}x{height}:rate={source.demo_fps}"
        return ["-re", "-f", "lavfi", "-i", graph]
    if transport not in ("tcp", "udp"):  # "auto" is resolved by the caller: see transport_order()
        raise ValueError(f"unknown transport {transport!r}: use tcp or udp")
    return [
        "-rtsp_transport", transport,
        "-timeout", str(SOCKET_TIMEOUT_US),
        "-flags", "low_delay",
        "-analyzeduration", str(ANALYZE_DURATION_US),
        "-probesize", str(PROBE_SIZE),
        "-protocol_whitelist", _PROTOCOLS[(source.scheme, transport)],
        "-i", source.url,
    ]  # fmt: skip


def transport_order(option: str, remembered: str | None = None) -> tuple[str, str | None]:
    """(transport to try first, fallback after RTSP 461 or None) for a stream's ``transport`` option.

    ``auto``: TCP first (it crosses NAT and firewalls, and loses nothing), UDP when the camera refuses TCP;
    or what worked last time for this stream (``remembered``), with the other as its fallback.
    ``tcp`` / ``udp`` force one transport, with no fallback.
    """
    if option in ("tcp", "udp"):
        return option, None
    if option != "auto":
        raise ValueError(f"unknown transport {option!r}: use auto, tcp or udp")
    first = remembered if remembered in ("tcp", "udp") else "tcp"
    return first, "udp" if first == "tcp" else "tcp"


def _video_filter(spec: ProfileSpec) -> str:
    filters = [f"fps=fps='{spec.fps_expr}'"]
    if spec.max_width is not None:
        filters.append(f"scale=w='trunc(min({spec.max_width},iw)/2)*2':h=-2")
    return ",".join(filters)


def check_kbps(value: object, name: str = "max_kbps") -> int:
    """``value`` as a bitrate ceiling in kb/s, or ValueError naming ``name`` and what is allowed."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_KBPS <= value <= MAX_KBPS:
        raise ValueError(
            f"{name} must be a whole number of kb/s from {MIN_KBPS} to {MAX_KBPS}, not {value!r}"
        )
    return value


def rate_args(profile: Profile, max_kbps: int | None = None) -> list[str]:
    """MPEG-1 rate control: at most ``max_kbps`` (default: the profile's), a quiet picture at the
    profile's finest quantiser."""
    spec = PROFILES[profile]
    ceiling = spec.max_kbps if max_kbps is None else check_kbps(max_kbps)
    return [
        "-b:v", f"{round(ceiling * TARGET_SHARE)}k",
        "-maxrate", f"{ceiling}k",
        "-bufsize", f"{round(ceiling * BUFFER_S)}k",
        "-rc_init_occupancy", f"{round(ceiling * BUFFER_S * START_FILL)}k",
        "-qmin", str(spec.qmin),
        "-qmax", str(QMAX),
    ]  # fmt: skip


def output_args(profile: Profile, max_kbps: int | None = None) -> list[str]:
    """The output half: MPEG-1 video in MPEG-TS on stdout, no audio, flushed packet by packet, at most
    ``max_kbps`` (:func:`rate_args`)."""
    spec = PROFILES[profile]
    return [
        "-an", "-sn", "-dn",
        "-vf", _video_filter(spec),
        "-c:v", "mpeg1video",
        "-strict", "unofficial",
        "-pix_fmt", "yuv420p",
        *rate_args(profile, max_kbps),
        "-g", str(GOP_FRAMES[profile]),
        "-bf", "0",
        *_mpegts_out(),
    ]  # fmt: skip


COPY_TIMESTAMPS = "setts=pts='if(eq(PTS,NOPTS),DTS,PTS)':dts='if(eq(DTS,NOPTS),PTS,DTS)'"


def _mpegts_out(*extra: str) -> list[str]:
    return ["-f", "mpegts", *extra, "-muxdelay", "0", "-muxpreload", "0", "-flush_packets", "1", "pipe:1"]


def source_argv(ffmpeg: str, source: Source, *, transport: str = "tcp") -> list[str]:
    """The argv of a stream's source relay: the camera's first video stream copied into MPEG-TS on
    stdout (a ``demo://`` picture encoded once as H.264). Logged at ``info``, as :func:`relay_argv`."""
    if source.scheme == "demo":
        codec = [
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-pix_fmt", "yuv420p", "-g", str(source.demo_fps), "-bf", "0",
        ]  # fmt: skip
    else:
        # a camera with B-frames may give its first packet no DTS (RTP): the MPEG-TS muxer refuses it and
        # FFmpeg exits (183), so a missing timestamp takes the other one
        codec = ["-c:v", "copy", "-bsf:v", COPY_TIMESTAMPS]
    return [
        *base_args(ffmpeg, "info"), *input_args(source, transport),
        "-map", "0:v:0", "-an", "-sn", "-dn", *codec,
        # a PES that says its length ends at its last packet: a demuxer need not wait for the next picture
        *_mpegts_out("-omit_video_pes_length", "0"),
    ]  # fmt: skip


def transcode_argv(ffmpeg: str, profile: Profile, *, max_kbps: int | None = None) -> list[str]:
    """The argv of an MPEG-1 profile fed from the source relay: MPEG-TS on stdin, as in :func:`output_args`
    on stdout. ``Input #0`` on stderr (``info``) says the source's bytes were understood."""
    if profile.copied:
        raise ValueError(f"the {profile.value} profile is not transcoded")
    return [
        *base_args(ffmpeg, "info"),
        "-flags", "low_delay",
        "-analyzeduration", str(TRANSCODE_ANALYZE_US), "-probesize", str(TRANSCODE_PROBE_SIZE),
        "-f", "mpegts", "-i", "pipe:0",
        *output_args(profile, max_kbps),
    ]  # fmt: skip


def base_args(ffmpeg: str, loglevel: str = "warning") -> list[str]:
    return [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", loglevel]


def relay_argv(
    ffmpeg: str, source: Source, profile: Profile, *, transport: str = "tcp", max_kbps: int | None = None
) -> list[str]:
    """The argv of a relay's FFmpeg: ``source`` to MPEG-1 in MPEG-TS on stdout for ``profile``.

    Logged at ``info``: its few start-up lines (``Input #0``, ``Stream mapping:``) tell the relay that the
    camera answered before the first picture, which waits for the camera's next keyframe (up to a GOP,
    10 s on some cameras); ``-nostats`` keeps it quiet afterwards.
    """
    return [*base_args(ffmpeg, "info"), *input_args(source, transport), *output_args(profile, max_kbps)]


def snapshot_argv(ffmpeg: str, source: Source, transport: str = "tcp") -> list[str]:
    """The argv of a one-shot grab: connect like a relay, write the first picture as one PPM on stdout.

    The picture is RGB (binary PPM, P6) at the source size, scaled down to at most
    ``SNAPSHOT_MAX_WIDTH`` pixels wide with its aspect ratio kept; FFmpeg exits after it.
    """
    return [
        *base_args(ffmpeg, "info"),  # "Input #0": the camera answered (a timeout can say what it lacked)
        *input_args(source, transport),
        "-an", "-sn", "-dn",
        "-vf", f"scale=w='min({SNAPSHOT_MAX_WIDTH},iw)':h=-1",
        "-frames:v", "1",
        "-f", "image2pipe",
        "-c:v", "ppm",
        "pipe:1",
    ]  # fmt: skip


def argv_for_display(argv: Sequence[str], source: Source) -> str:
    """An argv as one masked line for logs."""
    return " ".join(source.masked if arg == source.url else arg for arg in argv)
