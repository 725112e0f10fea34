"""H.264 and HEVC access units and SPSs on real FFmpeg output (libx264, libx265).

Each case is encoded into MPEG-TS, then copied (``-c:v copy``) by FFmpeg's HLS muxer: its segments are TS as
the relay gets it (one access unit per PES, an AUD first), and its master playlist holds FFmpeg's own codec
string (CODECS) and size (RESOLUTION). FFmpeg's other views are the input's stream line (profile, size, fps)
and the random-access indicator its TS muxer sets on the PES of each packet it calls a keyframe.
"""

from __future__ import annotations

import math
import random
import re
import subprocess
from dataclasses import astuple, dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtsp_notebook.media.nal import (
    H264_AUD,
    HEVC_AUD,
    AvcInfo,
    Codec,
    HevcInfo,
    Kind,
    ParameterSets,
    access_unit_kind,
    find_parameter_sets,
    nal_units,
    parse_h264_sps,
    parse_hevc_sps,
)

VIDEO_PID = 0x100  # -mpegts_start_pid


@dataclass(frozen=True)
class Case:
    id: str
    codec: Codec
    size: str
    rate: str
    frames: int
    gop: int
    encoder: tuple[str, ...]
    codec_string: str  # what FFmpeg 9's HLS muxer writes for it (also checked against FFmpeg at test time)
    keys: int | None = None  # KEY access units, when not one per GOP


def x264(profile: str, *more: str, pix_fmt: str = "yuv420p") -> tuple[str, ...]:
    # -sc_threshold 0: keyframes every -g frames and nowhere else
    encoder = ("-c:v", "libx264", "-preset", "veryfast", "-profile:v", profile, "-sc_threshold", "0")
    return (*encoder, "-pix_fmt", pix_fmt, *more)


def x265(*params: str) -> tuple[str, ...]:
    # scenecut=0: keyframes every -g frames and nowhere else
    x265_params = ":".join(("log-level=error", "scenecut=0", *params))
    return ("-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-x265-params", x265_params)


CASES = [
    Case("baseline-640x360", "h264", "640x360", "15", 45, 15, x264("baseline"), "avc1.42c016"),
    Case("main-1280x720", "h264", "1280x720", "25", 30, 12, x264("main"), "avc1.4d401f"),
    Case("high-1920x1080", "h264", "1920x1080", "30000/1001", 16, 10, x264("high"), "avc1.640028"),
    Case("high-854x480", "h264", "854x480", "25", 50, 25, x264("high"), "avc1.64001e"),
    Case("bframes-gop250", "h264", "640x360", "25", 275, 250, x264("high", "-bf", "2"), "avc1.64001e"),
    Case("scaling-lists", "h264", "854x480", "25", 25, 25,
         x264("high", "-x264-params", "cqm=jvt"), "avc1.64001e"),
    Case("interlaced", "h264", "1280x720", "25", 25, 25,
         x264("high", "-flags", "+ildct+ilme"), "avc1.640020"),
    Case("high444-854x480", "h264", "854x480", "25", 25, 25,
         x264("high444", pix_fmt="yuv444p"), "avc1.f4001e"),
    # open GOP: the I-frames after the first carry a recovery-point SEI, not an IDR: FFmpeg calls them
    # keyframes, access_unit_kind does not (see the module's docstring)
    Case("open-gop", "h264", "640x360", "25", 100, 25,
         x264("high", "-x264-params", "open-gop=1"), "avc1.64001e", keys=1),
    Case("hevc-1280x720", "hevc", "1280x720", "25", 30, 12, x265(), "hvc1.1.6.L93.90"),
    Case("hevc-854x480", "hevc", "854x480", "25", 30, 12, x265(), "hvc1.1.6.L90.90"),
    # sps_max_sub_layers_minus1 > 0: the profile_tier_level() of the sub-layers
    Case("hevc-sub-layers", "hevc", "640x360", "25", 30, 12, x265("temporal-layers=3"), "hvc1.1.6.L63.90"),
]  # fmt: skip


@dataclass
class Encoded:
    case: Case
    aus: list[bytes]  # the PES payloads of the video PID
    ffmpeg_keys: list[bool]  # the random-access indicator of each PES
    codecs: str  # FFmpeg's HLS CODECS
    resolution: str  # FFmpeg's HLS RESOLUTION
    stream_line: str  # FFmpeg's "Stream #0:0[0x100]: Video: ..." of the copied input


def pes_payloads(ts: bytes) -> tuple[list[bytes], list[bool]]:
    """The payload of each PES of VIDEO_PID and whether its first packet has the random-access indicator."""
    aus: list[bytearray] = []
    keys: list[bool] = []
    for i in range(0, len(ts) - 187, 188):
        packet = ts[i : i + 188]
        assert packet[0] == 0x47
        if ((packet[1] & 0x1F) << 8) | packet[2] != VIDEO_PID:
            continue
        control = (packet[3] >> 4) & 3
        start = 4 if control == 1 else 5 + packet[4] if control == 3 else 188
        if packet[1] & 0x40:
            keys.append(control == 3 and packet[4] > 0 and bool(packet[5] & 0x40))
            start += 9 + packet[start + 8]  # the PES header
            aus.append(bytearray())
        if aus:
            aus[-1] += packet[start:]
    return [bytes(au) for au in aus], keys


def ffmpeg(ffmpeg_path: str, *args: str, cwd: Path) -> str:
    argv = [ffmpeg_path, "-hide_banner", "-nostdin", "-y", *args]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True, timeout=90).stderr


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def encoded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, ffmpeg_path: str
) -> Encoded:
    case: Case = request.param
    tmp = tmp_path_factory.mktemp(case.id)
    source = f"testsrc2=size={case.size}:rate={case.rate}"
    ffmpeg(
        ffmpeg_path, "-loglevel", "error", "-f", "lavfi", "-i", source, "-frames:v", str(case.frames),
        *case.encoder, "-g", str(case.gop),
        "-f", "mpegts", "-mpegts_start_pid", str(VIDEO_PID), "enc.ts", cwd=tmp,
    )  # fmt: skip
    tag = ["-tag:v", "hvc1"] if case.codec == "hevc" else []
    stderr = ffmpeg(
        ffmpeg_path, "-i", "enc.ts", "-c:v", "copy", *tag,
        "-f", "hls", "-hls_time", "1000", "-hls_list_size", "0", "-hls_segment_filename", "seg%d.ts",
        "-master_pl_name", "master.m3u8", "index.m3u8", cwd=tmp,
    )  # fmt: skip
    segments = sorted(tmp.glob("seg*.ts"), key=lambda p: int(p.stem[3:]))
    aus, keys = pes_payloads(b"".join(p.read_bytes() for p in segments))
    master = (tmp / "master.m3u8").read_text()
    codecs = re.search(r'CODECS="([^"]+)"', master)
    resolution = re.search(r"RESOLUTION=(\d+x\d+)", master)
    line = re.search(r"Stream #0:0\[0x100\]: Video: .*", stderr)
    assert codecs and resolution and line, (master, stderr)
    return Encoded(case, aus, keys, codecs[1], resolution[1], line[0])


def sps_info(e: Encoded) -> AvcInfo | HevcInfo:
    sets = find_parameter_sets(e.aus[0], e.case.codec)
    assert len(sets.sps) == 1 and len(sets.pps) == 1 and len(sets.vps) == (e.case.codec == "hevc")
    return parse_h264_sps(sets.sps[0]) if e.case.codec == "h264" else parse_hevc_sps(sets.sps[0])


PROFILE_NAMES = {
    "Constrained Baseline": 66,
    "Baseline": 66,
    "Main": 77,
    "High": 100,
    "High 4:4:4 Predictive": 244,
}


def test_the_sps_says_what_ffmpeg_says(encoded: Encoded) -> None:
    info = sps_info(encoded)
    assert info.codec_string.lower() == encoded.codecs.lower() == encoded.case.codec_string.lower()
    assert f"{info.width}x{info.height}" == encoded.resolution == encoded.case.size
    assert f", {encoded.case.size}" in encoded.stream_line
    if isinstance(info, AvcInfo):
        name = re.search(r"Video: h264 \(([^)]+)\)", encoded.stream_line)
        assert name and PROFILE_NAMES[name[1]] == info.profile
        fps = re.search(r", ([\d.]+) fps", encoded.stream_line)
        num, _, den = encoded.case.rate.partition("/")
        assert fps and info.fps == pytest.approx(float(fps[1]), abs=0.01)
        assert info.fps == round(int(num) / int(den or 1), 3)
    else:
        assert "Video: hevc (Main)" in encoded.stream_line


def test_exactly_the_idr_access_units_are_key(encoded: Encoded) -> None:
    case = encoded.case
    kinds = [access_unit_kind(au, case.codec) for au in encoded.aus]
    assert len(kinds) == case.frames and None not in kinds
    assert sum(k is Kind.KEY for k in kinds) == (case.keys or math.ceil(case.frames / case.gop))
    assert kinds[0] is Kind.KEY
    keyframe_types = {5} if case.codec == "h264" else set(range(16, 22))
    for au, kind in zip(encoded.aus, kinds, strict=True):
        types = [t for t, _, _ in nal_units(au, case.codec)]
        assert types[0] == (H264_AUD if case.codec == "h264" else HEVC_AUD)  # the TS muxer puts it first
        assert (kind is Kind.KEY) == bool(keyframe_types & set(types))
        if kind is Kind.KEY:  # parameter sets travel with every keyframe
            assert find_parameter_sets(au, case.codec).sps
    if case.keys is None:  # FFmpeg's keyframes are the same access units
        assert encoded.ffmpeg_keys == [k is Kind.KEY for k in kinds]
    else:  # an open GOP: FFmpeg also starts at the recovery points (I-slices after an SEI), KEY only at IDRs
        assert sum(encoded.ffmpeg_keys) == math.ceil(case.frames / case.gop) > case.keys
        for au, kind, ffmpeg_key in zip(encoded.aus[1:], kinds[1:], encoded.ffmpeg_keys[1:], strict=True):
            if ffmpeg_key:
                sei_payloads = [
                    au[s + 1] for t, s, _ in nal_units(au) if t == 6
                ]  # each SEI's first payloadType
                assert kind is Kind.DELTA and 6 in sei_payloads  # 6: recovery point


def test_a_prefix_of_an_access_unit_is_unknown_until_the_first_slice_header(encoded: Encoded) -> None:
    codec = encoded.case.codec
    vcl = range(1, 6) if codec == "h264" else range(32)
    key = next(i for i, au in enumerate(encoded.aus) if access_unit_kind(au, codec) is Kind.KEY)
    for au in (encoded.aus[key], encoded.aus[key + 1], encoded.aus[-1]):
        full = access_unit_kind(au, codec)
        first_slice = next(s for t, s, _ in nal_units(au, codec) if t in vcl)
        for n in range(first_slice + 1):
            assert access_unit_kind(au[:n], codec) is None, n
        for n in range(first_slice + 1, min(len(au), first_slice + 400)):
            assert access_unit_kind(au[:n], codec) is full, n
        sets = find_parameter_sets(au, codec)
        assert find_parameter_sets(au[: first_slice + 1], codec) == sets
        for n in range(first_slice):  # never a unit cut short
            part = find_parameter_sets(au[:n], codec)
            assert all(
                got == whole[: len(got)] for got, whole in zip(astuple(part), astuple(sets), strict=True)
            )
        # as the TS analyzer sees it, one 184-byte packet payload at a time
        chunks = [access_unit_kind(au[:n], codec) for n in range(184, len(au) + 184, 184)]
        assert set(chunks) <= {None, full} and chunks[-1] is full


def test_a_truncated_sps_raises_value_error_or_parses_whole(encoded: Encoded) -> None:
    codec = encoded.case.codec
    sps = find_parameter_sets(encoded.aus[0], codec).sps[0]
    parse = parse_h264_sps if codec == "h264" else parse_hevc_sps
    full = parse(sps)
    needed = 0
    for n in range(len(sps)):
        try:
            info = parse(sps[:n])
        except ValueError as e:
            assert "truncated" in str(e) or "Exp-Golomb" in str(e), e
            needed = n + 1
        else:
            assert info == full
    assert 4 < needed <= len(sps)


def test_parameter_sets_in_annex_b(encoded: Encoded) -> None:
    sets = find_parameter_sets(encoded.aus[0], encoded.case.codec)
    out = sets.annex_b()
    assert out.startswith(b"\x00\x00\x00\x01")
    last_left_out = ParameterSets(sets.vps, sets.sps)  # nothing after the PPS says where it ends
    assert find_parameter_sets(out, encoded.case.codec) == last_left_out
    assert find_parameter_sets(out + encoded.aus[1], encoded.case.codec) == sets
    assert find_parameter_sets(encoded.aus[1], encoded.case.codec) == ParameterSets()


def test_nal_units_split_on_three_and_four_byte_start_codes() -> None:
    es = b"\x00\x00\x00\x01\x09\xf0\x00\x00\x01\x67\x42\x00\x00\x00\x00\x01\x65\x88\x84\x00"
    assert list(nal_units(es)) == [(9, 4, 6), (7, 9, 11), (5, 16, 19)]
    hevc = b"\x00\x00\x00\x01\x46\x01\x50\x00\x00\x01\x26\x01\xaf"
    assert list(nal_units(hevc, "hevc")) == [(35, 4, 7), (19, 10, 13)]
    assert list(nal_units(b"")) == list(nal_units(b"\x00\x00\x01")) == []
    assert access_unit_kind(b"\x00\x00\x01\x09\xf0\x00\x00\x01", "h264") is None
    assert access_unit_kind(b"\x00\x00\x01\x09\xf0\x00\x00\x01\x41", "h264") is Kind.DELTA
    assert access_unit_kind(bytearray(b"\x00\x00\x01\x65"), "h264") is Kind.KEY
    assert access_unit_kind(b"\x00\x00\x01\x2a\x01", "hevc") is Kind.KEY  # CRA_NUT (21)
    assert access_unit_kind(b"\x00\x00\x01\x02\x01", "hevc") is Kind.DELTA  # TRAIL_R (1)


def test_errors_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"codec must be 'h264' or 'hevc', not 'vp8'"):
        access_unit_kind(b"", "vp8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"codec must be 'h264' or 'hevc', not 'h265'"):
        list(nal_units(b"\x00\x00\x01\x09", "h265"))  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"^H.264 SPS truncated: 0 bytes, no payload after the NAL unit header$"
    ):
        parse_h264_sps(b"")
    with pytest.raises(
        ValueError, match=r"^not an H.264 SPS: NAL unit type 8 \(first byte 0x68\), expected 7; "
    ):
        parse_h264_sps(b"\x68\xee\x3c\x80")
    with pytest.raises(ValueError, match=r"without a start code"):
        parse_h264_sps(b"\x00\x00\x00\x01\x67\x42\xc0\x1e")
    with pytest.raises(ValueError, match=r"^H.264 SPS truncated: level_idc at bit 16 of 16$"):
        parse_h264_sps(b"\x67\x42\xc0")
    with pytest.raises(ValueError, match=r"^not an HEVC SPS: NAL unit type 32 "):
        parse_hevc_sps(b"\x40\x01\x0c\x01")


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["h264", "hevc"]))
def test_random_bytes_never_crash(data: bytes, codec: Codec) -> None:
    assert access_unit_kind(data, codec) in (None, Kind.KEY, Kind.DELTA)
    previous_end = 0
    for _, start, end in nal_units(data, codec):
        assert 3 <= start <= end <= len(data) and start >= previous_end
        previous_end = end
    find_parameter_sets(data, codec)
    for parse, header in ((parse_h264_sps, b"\x67"), (parse_hevc_sps, b"\x42\x01")):
        for nal in (data, header + data):
            try:
                info = parse(nal)
            except ValueError:
                continue
            assert info.width > 0 and info.height > 0


REAL_SPS = {
    # libx264 high 1920x1080 at 25 fps (1088 coded, cropped), libx265 main 854x480 (conformance window)
    "h264": bytes.fromhex("67640028acd940780227e5c044000003000400000300c83c60c658"),
    "hevc": bytes.fromhex(
        "42010101600000030090000003000003005aa006b201e1d796566924caf0168080000003008000000c84"
    ),
}


@FUZZ
@given(
    st.sampled_from(["h264", "hevc"]),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4),
)
def test_damaged_sps_parses_or_raises_value_error(codec: Codec, damage: list[tuple[int, int]]) -> None:
    sps = bytearray(REAL_SPS[codec])
    for at, value in damage:
        sps[at % len(sps)] = value
    parse = parse_h264_sps if codec == "h264" else parse_hevc_sps
    try:
        info = parse(sps)
    except ValueError:
        return
    assert info.width > 0 and info.height > 0 and info.codec_string[:5] in ("avc1.", "hvc1.")


def test_garbage_sps_of_every_length_parses_or_raises_value_error() -> None:
    rng = random.Random(14)
    for n in range(64):
        for first in (0x67, 0x27):
            nal = bytes([first, *(rng.randrange(256) for _ in range(n))])
            try:
                info = parse_h264_sps(nal)
            except ValueError:
                continue
            assert info.width > 0 and info.height > 0
