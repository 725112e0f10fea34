"""H.264 and HEVC elementary streams: NAL units, access-unit kinds and sequence parameter sets.

Pure functions over the payload of one PES packet as FFmpeg's MPEG-TS muxer writes it with ``-c:v copy``:
one access unit (AU), Annex-B start codes (``00 00 01`` or ``00 00 00 01``), an access unit delimiter
first. The relay's TS analyzer calls :func:`access_unit_kind` on the first packets of each PES, so every
function here takes a *prefix* of an AU as well as a whole one: a kind that the bytes do not show yet is
``None`` (give more bytes), never a guess.

Speed: start codes are found with ``bytes.find`` (they cannot occur inside a NAL unit: emulation prevention
forbids ``00 00 0x`` there), :func:`access_unit_kind` stops at the first slice's one-byte header (it never
scans the slice data), and only an SPS is parsed bit by bit.

KEY means an instantaneous decoder refresh: H.264 ``nal_unit_type`` 5 (IDR), HEVC IRAP 16..21 (BLA, IDR,
CRA; a decoder starting at a CRA drops its RASL leading pictures, as FFmpeg and Chromium do). An H.264
I-slice after a recovery-point SEI (open GOPs, intra refresh) is DELTA on purpose, although FFmpeg's
decoder can start there: WebCodecs in Chromium refuses a ``key`` chunk without an IDR slice ("A key frame
is required after configure() or flush()", w3c/webcodecs#650), and a viewer that joins at a KEY must be
able to decode it in the browser. Errors in an SPS are ``ValueError`` with what was wrong and where.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AvcInfo",
    "Codec",
    "HevcInfo",
    "Kind",
    "ParameterSets",
    "access_unit_kind",
    "find_parameter_sets",
    "nal_units",
    "parse_h264_sps",
    "parse_hevc_sps",
]

Codec = Literal["h264", "hevc"]
Bytes = bytes | bytearray

START_CODE = b"\x00\x00\x01"
# H.264 nal_unit_type (byte & 0x1F)
H264_VCL = range(1, 6)  # non-IDR slice, data partitions A/B/C, IDR slice
H264_IDR = range(5, 6)
H264_SPS = 7
H264_PPS = 8
H264_AUD = 9
# HEVC nal_unit_type ((byte >> 1) & 0x3F)
HEVC_VCL = range(32)
HEVC_IRAP = range(16, 22)  # BLA_W_LP .. CRA_NUT (22, 23 are reserved IRAP types)
HEVC_VPS = 32
HEVC_SPS = 33
HEVC_PPS = 34
HEVC_AUD = 35

# profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling lists (7.3.2.1.1)
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
_MAX_SPS_BYTES = 4096  # far above any real SPS; bounds the work on garbage
_MAX_SIZE = 1 << 16  # luma samples per side
_SIDES = ("left", "right", "top", "bottom")
_PARAMETER_SETS: dict[str, dict[int, str]] = {
    "h264": {H264_SPS: "sps", H264_PPS: "pps"},
    "hevc": {HEVC_VPS: "vps", HEVC_SPS: "sps", HEVC_PPS: "pps"},
}


class Kind(str, enum.Enum):
    """What an access unit is to a decoder that starts there; the values are WebCodecs' chunk types."""

    KEY = "key"
    DELTA = "delta"


@dataclass(frozen=True)
class AvcInfo:
    codec_string: str  # RFC 6381 as FFmpeg writes it (HLS CODECS): avc1.PPCCLL, e.g. avc1.64001f
    profile: int  # profile_idc: 66 baseline, 77 main, 100 high, ...
    level: int  # level_idc: 31 is level 3.1
    width: int  # after frame cropping
    height: int
    fps: float | None  # from VUI timing info, rounded to 3 decimals; None when the SPS has none


@dataclass(frozen=True)
class HevcInfo:
    codec_string: str  # ISO/IEC 14496-15 E.3, e.g. hvc1.1.6.L93.B0
    width: int  # after the conformance window
    height: int


@dataclass(frozen=True)
class ParameterSets:
    """The parameter-set NAL units of an AU (without start codes), each kind in stream order."""

    vps: tuple[bytes, ...] = ()
    sps: tuple[bytes, ...] = ()
    pps: tuple[bytes, ...] = ()

    def annex_b(self) -> bytes:
        """VPS, SPS and PPS NAL units, each after a 4-byte start code: what a decoder needs first."""
        return b"".join(b"\x00\x00\x00\x01" + nal for nal in (*self.vps, *self.sps, *self.pps))


def _type_of(codec: Codec) -> tuple[int, int]:
    """(shift, mask) that take the nal_unit_type out of a NAL unit's first byte."""
    if codec == "h264":
        return 0, 0x1F
    if codec == "hevc":
        return 1, 0x3F
    raise ValueError(f"codec must be 'h264' or 'hevc', not {codec!r}")


def nal_units(es: Bytes, codec: Codec = "h264") -> Iterator[tuple[int, int, int]]:
    """``(nal_unit_type, start, end)`` of each NAL unit in ``es``: ``es[start:end]`` is the unit from its
    header byte on, without start codes or trailing zero bytes. The last unit runs to the end of ``es``
    (in a prefix of an AU it may be cut short)."""
    shift, mask = _type_of(codec)
    n = len(es)
    pos = es.find(START_CODE)
    while pos != -1:
        start = pos + 3
        if start >= n:
            return
        pos = es.find(START_CODE, start)
        end = n if pos == -1 else pos
        while end > start and es[end - 1] == 0:  # zero_byte of a 4-byte start code, trailing_zero_8bits
            end -= 1
        yield (es[start] >> shift) & mask, start, end


def access_unit_kind(es: Bytes, codec: Codec) -> Kind | None:
    """KEY or DELTA from the AU's first slice NAL unit; None while ``es`` has no slice header byte yet
    (a prefix of the AU: call again with more bytes). An AU with no slice at all also stays None."""
    shift, mask = _type_of(codec)
    vcl, key = (H264_VCL, H264_IDR) if codec == "h264" else (HEVC_VCL, HEVC_IRAP)
    n = len(es)
    pos = es.find(START_CODE)
    while pos != -1 and pos + 3 < n:
        nal_type = (es[pos + 3] >> shift) & mask
        if nal_type in vcl:
            return Kind.KEY if nal_type in key else Kind.DELTA
        pos = es.find(START_CODE, pos + 4)
    return None


def find_parameter_sets(es: Bytes, codec: Codec) -> ParameterSets:
    """The VPS (HEVC), SPS and PPS NAL units of an AU, as bytes without start codes.

    Only whole units: one that runs to the end of ``es`` may be cut short and is left out, so a prefix of
    an AU that reaches its first slice gives them all (encoders put them before it). Scans the whole of
    ``es`` (about 1 µs per kB): call it on keyframes, not on every AU.
    """
    kinds = _PARAMETER_SETS.get(codec, {})
    found: dict[str, list[bytes]] = {"vps": [], "sps": [], "pps": []}
    for nal_type, start, end in nal_units(es, codec):
        kind = kinds.get(nal_type)
        if kind is not None and es.find(START_CODE, end) != -1:
            found[kind].append(bytes(es[start:end]))
    return ParameterSets(tuple(found["vps"]), tuple(found["sps"]), tuple(found["pps"]))


class _Bits:
    """An RBSP (emulation prevention removed) read MSB first, as one big integer: no per-bit loops."""

    def __init__(self, rbsp: bytes, what: str) -> None:
        self.value = int.from_bytes(rbsp, "big")
        self.size = len(rbsp) * 8
        self.pos = 0
        self.what = what

    def _truncated(self, field: str) -> ValueError:
        return ValueError(f"{self.what} truncated: {field} at bit {self.pos} of {self.size}")

    def u(self, bits: int, field: str) -> int:
        end = self.pos + bits
        if end > self.size:
            raise self._truncated(field)
        self.pos = end
        return (self.value >> (self.size - end)) & ((1 << bits) - 1)

    def skip(self, bits: int, field: str) -> None:
        self.u(bits, field)

    def ue(self, field: str, limit: int = (1 << 32) - 2) -> int:
        left = self.size - self.pos
        rest = self.value & ((1 << left) - 1)
        if rest == 0:
            raise self._truncated(field)
        zeros = left - rest.bit_length()
        if zeros > 31:
            raise ValueError(f"{self.what}: {field} at bit {self.pos} is not an Exp-Golomb code")
        self.pos += zeros
        value = self.u(zeros + 1, field) - 1
        if value > limit:
            raise ValueError(f"{self.what}: {field} = {value} is out of range (at most {limit})")
        return value

    def se(self, field: str) -> int:
        k = self.ue(field)
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _rbsp(nal: Bytes, nal_type: int, header: int, codec: Codec, what: str) -> bytes:
    if len(nal) <= header:
        raise ValueError(f"{what} truncated: {len(nal)} bytes, no payload after the NAL unit header")
    shift, mask = _type_of(codec)
    got = (nal[0] >> shift) & mask
    if nal[0] & 0x80 or got != nal_type:
        raise ValueError(
            f"not an {what}: NAL unit type {got} (first byte 0x{nal[0]:02x}), expected {nal_type}; "
            "pass the NAL unit from its header byte, without a start code"
        )
    # emulation prevention: 00 00 03 → 00 00 (a 00 00 00..03 sequence never occurs inside a NAL unit)
    return bytes(nal[header : header + _MAX_SPS_BYTES]).replace(b"\x00\x00\x03", b"\x00\x00")


def _cropped(size: int, unit: int, first: int, second: int, side: str, what: str) -> int:
    out = size - unit * (first + second)
    if out <= 0:
        raise ValueError(
            f"{what}: the cropping leaves no {side} ({size} coded, {unit * (first + second)} cut)"
        )
    return out


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            delta = bits.se("delta_scale")
            if not -128 <= delta <= 127:
                raise ValueError(f"{bits.what}: delta_scale = {delta} is out of range (-128..127)")
            next_scale = (last + delta + 256) % 256
        last = next_scale or last


def parse_h264_sps(nal: Bytes) -> AvcInfo:
    """Profile, level, displayed size and frame rate from an H.264 SPS NAL unit (type 7, no start code).

    Raises ValueError for anything that is not a whole, valid SPS up to its VUI timing information.
    """
    what = "H.264 SPS"
    bits = _Bits(_rbsp(nal, H264_SPS, 1, "h264", what), what)
    profile = bits.u(8, "profile_idc")
    constraints = bits.u(8, "constraint_set flags")
    level = bits.u(8, "level_idc")
    bits.ue("seq_parameter_set_id", 31)
    chroma_format_idc = 1
    separate_planes = 0
    if profile in _HIGH_PROFILES:
        chroma_format_idc = bits.ue("chroma_format_idc", 3)
        if chroma_format_idc == 3:
            separate_planes = bits.u(1, "separate_colour_plane_flag")
        bits.ue("bit_depth_luma_minus8", 6)
        bits.ue("bit_depth_chroma_minus8", 6)
        bits.skip(1, "qpprime_y_zero_transform_bypass_flag")
        if bits.u(1, "seq_scaling_matrix_present_flag"):
            for i in range(8 if chroma_format_idc != 3 else 12):
                if bits.u(1, "seq_scaling_list_present_flag"):
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    bits.ue("log2_max_frame_num_minus4", 12)
    poc_type = bits.ue("pic_order_cnt_type", 2)
    if poc_type == 0:
        bits.ue("log2_max_pic_order_cnt_lsb_minus4", 12)
    elif poc_type == 1:
        bits.skip(1, "delta_pic_order_always_zero_flag")
        bits.se("offset_for_non_ref_pic")
        bits.se("offset_for_top_to_bottom_field")
        for _ in range(bits.ue("num_ref_frames_in_pic_order_cnt_cycle", 255)):
            bits.se("offset_for_ref_frame")
    bits.ue("max_num_ref_frames", 16)
    bits.skip(1, "gaps_in_frame_num_value_allowed_flag")
    width_mbs = bits.ue("pic_width_in_mbs_minus1", _MAX_SIZE // 16) + 1
    height_map_units = bits.ue("pic_height_in_map_units_minus1", _MAX_SIZE // 16) + 1
    frame_mbs_only = bits.u(1, "frame_mbs_only_flag")
    if not frame_mbs_only:
        bits.skip(1, "mb_adaptive_frame_field_flag")
    bits.skip(1, "direct_8x8_inference_flag")
    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_map_units * 16
    if bits.u(1, "frame_cropping_flag"):
        left, right, top, bottom = (bits.ue(f"frame_crop_{side}_offset", _MAX_SIZE) for side in _SIDES)
        chroma_array_type = 0 if separate_planes else chroma_format_idc
        # CropUnitX/Y (7-19..7-22): SubWidthC/SubHeightC for 4:2:0 2/2, 4:2:2 2/1, 4:4:4 1/1
        unit_x = 1 if chroma_array_type in (0, 3) else 2
        unit_y = (2 - frame_mbs_only) * (2 if chroma_array_type == 1 else 1)
        width = _cropped(width, unit_x, left, right, "width", what)
        height = _cropped(height, unit_y, top, bottom, "height", what)
    fps = _vui_fps(bits) if bits.u(1, "vui_parameters_present_flag") else None
    return AvcInfo(f"avc1.{profile:02x}{constraints:02x}{level:02x}", profile, level, width, height, fps)


def _vui_fps(bits: _Bits) -> float | None:
    """Frames per second from the VUI's timing info (E.1.1), up to which the VUI is read."""
    if bits.u(1, "aspect_ratio_info_present_flag") and bits.u(8, "aspect_ratio_idc") == 255:
        bits.skip(32, "sar_width, sar_height")
    if bits.u(1, "overscan_info_present_flag"):
        bits.skip(1, "overscan_appropriate_flag")
    if bits.u(1, "video_signal_type_present_flag"):
        bits.skip(4, "video_format, video_full_range_flag")
        if bits.u(1, "colour_description_present_flag"):
            bits.skip(24, "colour_primaries, transfer_characteristics, matrix_coefficients")
    if bits.u(1, "chroma_loc_info_present_flag"):
        bits.ue("chroma_sample_loc_type_top_field", 5)
        bits.ue("chroma_sample_loc_type_bottom_field", 5)
    if not bits.u(1, "timing_info_present_flag"):
        return None
    num_units_in_tick = bits.u(32, "num_units_in_tick")
    time_scale = bits.u(32, "time_scale")
    if not num_units_in_tick or not time_scale:
        return None
    # one frame is two ticks (E.2.1, with field-based ticks as encoders write them)
    return round(time_scale / (2 * num_units_in_tick), 3)


def parse_hevc_sps(nal: Bytes) -> HevcInfo:
    """Codec string and displayed size from an HEVC SPS NAL unit (type 33, no start code).

    Raises ValueError for anything that is not a whole, valid SPS up to its conformance window.
    """
    what = "HEVC SPS"
    bits = _Bits(_rbsp(nal, HEVC_SPS, 2, "hevc", what), what)
    bits.skip(4, "sps_video_parameter_set_id")
    max_sub_layers_minus1 = bits.u(3, "sps_max_sub_layers_minus1")
    if max_sub_layers_minus1 > 6:
        raise ValueError(f"{what}: sps_max_sub_layers_minus1 = {max_sub_layers_minus1} (at most 6)")
    bits.skip(1, "sps_temporal_id_nesting_flag")
    # profile_tier_level(1, sps_max_sub_layers_minus1) (7.3.3)
    profile_space = bits.u(2, "general_profile_space")
    tier = bits.u(1, "general_tier_flag")
    profile = bits.u(5, "general_profile_idc")
    compatibility = bits.u(32, "general_profile_compatibility_flags")
    constraints = bits.u(48, "general constraint flags").to_bytes(6, "big")
    level = bits.u(8, "general_level_idc")
    present = [
        (bits.u(1, "sub_layer_profile_present_flag"), bits.u(1, "sub_layer_level_present_flag"))
        for _ in range(max_sub_layers_minus1)
    ]
    if max_sub_layers_minus1:
        bits.skip(2 * (8 - max_sub_layers_minus1), "reserved_zero_2bits")
    for profile_present, level_present in present:
        bits.skip(88 * profile_present + 8 * level_present, "sub_layer profile and level")
    bits.ue("sps_seq_parameter_set_id", 15)
    chroma_format_idc = bits.ue("chroma_format_idc", 3)
    separate_planes = bits.u(1, "separate_colour_plane_flag") if chroma_format_idc == 3 else 0
    width = bits.ue("pic_width_in_luma_samples", _MAX_SIZE)
    height = bits.ue("pic_height_in_luma_samples", _MAX_SIZE)
    if not width or not height:
        raise ValueError(f"{what}: a picture of {width}x{height} luma samples")
    if bits.u(1, "conformance_window_flag"):
        left, right, top, bottom = (bits.ue(f"conf_win_{side}_offset", _MAX_SIZE) for side in _SIDES)
        chroma_array_type = 0 if separate_planes else chroma_format_idc
        unit_x = 1 if chroma_array_type in (0, 3) else 2
        unit_y = 2 if chroma_array_type == 1 else 1
        width = _cropped(width, unit_x, left, right, "width", what)
        height = _cropped(height, unit_y, top, bottom, "height", what)
    return HevcInfo(
        _hevc_codec_string(profile_space, tier, profile, compatibility, constraints, level), width, height
    )


def _hevc_codec_string(
    space: int, tier: int, profile: int, compatibility: int, constraints: bytes, level: int
) -> str:
    # ISO/IEC 14496-15 E.3: the compatibility flags in reverse bit order, in hex; the six constraint
    # bytes in hex with trailing zero bytes left out (the first one is always written)
    reversed_flags = int(f"{compatibility:032b}"[::-1], 2)
    kept = constraints.rstrip(b"\x00") or constraints[:1]
    return ".".join(
        [
            "hvc1",
            f"{'' if space == 0 else 'ABC'[space - 1]}{profile}",
            f"{reversed_flags:X}",
            f"{'H' if tier else 'L'}{level}",
            *(f"{b:02X}" for b in kept),
        ]
    )
