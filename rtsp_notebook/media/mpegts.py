"""MPEG-TS as FFmpeg writes it: whole packets, PSI, and the pictures a decoder can start at.

The relay cuts its byte stream into :class:`Segment` s, each a run of whole 188-byte packets; a segment
flagged ``keyframe`` begins with the first packet of a picture a decoder can start at: an MPEG-1 I-frame
(the transcodes for JSMpeg), or an H.264 IDR / HEVC IRAP access unit (the camera's own video, copied;
:mod:`.nal` reads them). A viewer that joins or that lost data resumes at such a segment, preceded by the
latest PAT and PMT packets. FFmpeg's muxer writes one picture (access unit) per PES.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from . import nal

__all__ = ["PACKET_SIZE", "PacketAligner", "Segment", "TsAnalyzer", "VideoInfo"]

log = logging.getLogger(__name__)

PACKET_SIZE = 188
SYNC_BYTE = 0x47
PAT_PID = 0
# PMT stream_type -> the codec of the video PID
VIDEO_STREAM_TYPES = {0x01: "mpeg1video", 0x02: "mpeg2video", 0x1B: "h264", 0x24: "hevc"}
PICTURE_START = b"\x00\x00\x01\x00"
SEQUENCE_HEADER = b"\x00\x00\x01\xb3"
PICTURE_TYPE_I = 1
PICTURE_TYPE_P = 2  # or any picture a decoder cannot start at
# MPEG-1 frame_rate_code → frames per second (9..13 are the unofficial rates FFmpeg writes under
# ``-strict unofficial``).
FRAME_RATES = {
    1: 24000 / 1001, 2: 24.0, 3: 25.0, 4: 30000 / 1001, 5: 30.0, 6: 50.0, 7: 60000 / 1001, 8: 60.0,
    9: 15.0, 10: 5.0, 11: 10.0, 12: 12.0, 13: 15.0,
}  # fmt: skip
# How many video packets of one PES to look through for its picture header before giving up.
# An H.264 / HEVC access unit may carry kilobytes of SEI before its first slice (x265 writes its settings,
# about 2 KB, before the first IDR; some cameras more): look further for those.
_PICTURE_SCAN_PACKETS = 8
_NAL_SCAN_PACKETS = 64


@dataclass(frozen=True)
class Segment:
    data: bytes
    keyframe: bool


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float  # 0.0 when the stream does not say
    codec: str = "mpeg1video"  # mpeg1video, h264 or hevc
    codec_string: str | None = None  # the WebCodecs / RFC 6381 name, e.g. avc1.64001f (H.264, HEVC)


class PacketAligner:
    """Turns a byte stream into runs of whole, sync-checked TS packets.

    Bytes that do not fit a whole packet wait for the next call; after corruption the aligner skips
    to the next offset where two packets in a row start with the sync byte, and counts it.
    """

    def __init__(self) -> None:
        self._rest = b""
        self.resyncs = 0
        self.skipped_bytes = 0

    def feed(self, data: bytes) -> bytes:
        buf = self._rest + data if self._rest else data
        out: list[bytes] = []
        pos = 0
        while True:
            whole = (len(buf) - pos) // PACKET_SIZE * PACKET_SIZE
            if whole == 0:
                break
            sync = buf[pos : pos + whole : PACKET_SIZE]
            if sync.count(SYNC_BYTE) == len(sync):
                out.append(buf[pos : pos + whole])
                pos += whole
                break
            good = next(i for i, b in enumerate(sync) if b != SYNC_BYTE) * PACKET_SIZE
            if good:
                out.append(buf[pos : pos + good])
                pos += good
            nxt = self._resync(buf, pos + 1)
            if nxt is None:
                # keep a tail that may hold the start of the next good packet
                keep = max(pos, len(buf) - PACKET_SIZE)
                self.skipped_bytes += keep - pos
                pos = keep
                break
            self.resyncs += 1
            self.skipped_bytes += nxt - pos
            pos = nxt
        self._rest = buf[pos:]
        return b"".join(out) if len(out) != 1 else out[0]

    @staticmethod
    def _resync(buf: bytes, start: int) -> int | None:
        i = buf.find(SYNC_BYTE, start)
        while i != -1 and i + PACKET_SIZE < len(buf):
            if buf[i + PACKET_SIZE] == SYNC_BYTE:
                return i
            i = buf.find(SYNC_BYTE, i + 1)
        return None


def _payload_offset(buf: bytes, i: int) -> int | None:
    """Offset of the payload of the packet at ``i``, or None when it has none."""
    control = (buf[i + 3] >> 4) & 0x3
    if control == 1:
        return i + 4
    if control == 3:
        offset = i + 5 + buf[i + 4]
        return offset if offset < i + PACKET_SIZE else None
    return None


def _section(buf: bytes, i: int) -> bytes | None:
    """The PSI section that starts in the packet at ``i`` (PUSI set), cut to the packet."""
    start = _payload_offset(buf, i)
    if start is None:
        return None
    pointer = buf[start]
    section = buf[start + 1 + pointer : i + PACKET_SIZE]
    if len(section) < 3:
        return None
    length = ((section[1] & 0x0F) << 8) | section[2]
    return section[: 3 + length]


# byte 1 of a packet → 1 when its payload_unit_start_indicator (0x40) is set, else 0 (bytes.translate)
_UNIT_START: Final = bytes(1 if b & 0x40 else 0 for b in range(256))


class TsAnalyzer:
    """Follows PAT → PMT → the video PID and spots the pictures a decoder can start at.

    ``feed`` takes whole packets and returns segments; it holds back packets from the start of a
    PES whose picture type is not known yet (its picture header is in a packet still to come).
    """

    def __init__(self) -> None:
        self.pat: bytes | None = None
        self.pmt: bytes | None = None
        self.pmt_pid: int | None = None
        self.video_pid: int | None = None
        self.codec: str | None = None  # of the video PID, from the PMT
        self.stream_types: tuple[int, ...] = ()  # of every stream in the PMT
        self._nal: nal.Codec | None = None  # the same, when its pictures are NAL units
        self._sps = b""  # the parameter set the current ``video`` was read from
        self.frames = 0
        self.keyframes = 0
        self.video: VideoInfo | None = None
        self.psi = b""  # the latest PAT and PMT packets, or nothing before both were seen
        self._held = b""

    def _update_psi(self) -> None:
        self.psi = self.pat + self.pmt if self.pat and self.pmt else b""

    def feed(self, packets: bytes) -> list[Segment]:
        buf = self._held + packets if self._held else packets
        self._held = b""
        out: list[Segment] = []
        seg_start = 0
        seg_key = False
        n = len(buf)
        # only packets that start a PES or a section matter: find them at C speed (one flag a packet, from
        # the byte that holds payload_unit_start_indicator), not by a Python loop over every packet
        starts = buf[1:n:PACKET_SIZE].translate(_UNIT_START)
        k = starts.find(1)
        while k != -1:
            i = k * PACKET_SIZE
            pid = ((buf[i + 1] & 0x1F) << 8) | buf[i + 2]
            if pid == self.video_pid:
                kind = self._picture_kind(buf, i)
                if kind is None:  # header still to come: hold this PES back
                    self._held = buf[i:]
                    n = i
                    break
                self.frames += 1
                if kind == PICTURE_TYPE_I:
                    self.keyframes += 1
                    if i > seg_start:
                        out.append(Segment(buf[seg_start:i], seg_key))
                    seg_start, seg_key = i, True
            elif pid == PAT_PID:
                self._on_pat(buf, i)
            elif pid == self.pmt_pid:
                self._on_pmt(buf, i)
            k = starts.find(1, k + 1)
        if n > seg_start:
            out.append(Segment(buf[seg_start:n], seg_key))
        return out

    def _on_pat(self, buf: bytes, i: int) -> None:
        section = _section(buf, i)
        if section is None or section[0] != 0x00:
            return
        self.pat = buf[i : i + PACKET_SIZE]
        self._update_psi()
        for pos in range(8, len(section) - 4 - 3, 4):
            program = (section[pos] << 8) | section[pos + 1]
            if program != 0:
                self.pmt_pid = ((section[pos + 2] & 0x1F) << 8) | section[pos + 3]
                return

    def _on_pmt(self, buf: bytes, i: int) -> None:
        section = _section(buf, i)
        if section is None or section[0] != 0x02 or len(section) < 16:
            return
        self.pmt = buf[i : i + PACKET_SIZE]
        self._update_psi()
        pos = 12 + (((section[10] & 0x0F) << 8) | section[11])
        end = len(section) - 4
        types: list[int] = []
        while pos + 5 <= end:
            stream_type = section[pos]
            types.append(stream_type)
            self.stream_types = tuple(types)
            pid = ((section[pos + 1] & 0x1F) << 8) | section[pos + 2]
            if stream_type in VIDEO_STREAM_TYPES:
                self.video_pid, self.codec = pid, VIDEO_STREAM_TYPES[stream_type]
                self._nal = "h264" if self.codec == "h264" else "hevc" if self.codec == "hevc" else None
                return
            pos += 5 + (((section[pos + 3] & 0x0F) << 8) | section[pos + 4])

    def _picture_kind(self, buf: bytes, i: int) -> int | None:
        """Picture coding type of the PES starting at ``i``; 0 if there is none; None if unknown yet."""
        es = bytearray()
        seen = 0
        j = i
        limit = _PICTURE_SCAN_PACKETS if self._nal is None else _NAL_SCAN_PACKETS
        while j < len(buf) and seen < limit:
            b1 = buf[j + 1]
            if ((b1 & 0x1F) << 8) | buf[j + 2] == self.video_pid:
                if seen and b1 & 0x40:
                    return 0  # the next PES began: this one has no picture header
                start = _payload_offset(buf, j)
                if start is not None:
                    if not seen:  # skip the PES header
                        if buf[start : start + 3] != b"\x00\x00\x01":
                            return 0
                        start += 9 + buf[start + 8]
                    es += buf[start : j + PACKET_SIZE]
                seen += 1
                kind = self._kind_of(es)
                if kind is not None:
                    return kind
            j += PACKET_SIZE
        return None if seen < limit else 0

    def _kind_of(self, es: bytearray) -> int | None:
        """The picture type of a PES whose elementary stream begins with ``es``; None: not known yet."""
        codec = self._nal
        if codec is not None:
            kind = nal.access_unit_kind(es, codec)
            if kind is None:
                return None
            if kind is nal.Kind.KEY:
                self._on_parameter_sets(es, codec)
                return PICTURE_TYPE_I
            return PICTURE_TYPE_P
        pic = es.find(PICTURE_START)
        if pic != -1 and pic + 6 <= len(es):
            self._on_sequence_header(es[:pic])
            return (es[pic + 5] >> 3) & 0x7
        return None

    def _on_parameter_sets(self, es: bytearray, codec: nal.Codec) -> None:
        """The picture size and codec string from the SPS before a keyframe (parsed when it changed)."""
        sets = nal.find_parameter_sets(es, codec)
        if not sets.sps or sets.sps[0] == self._sps:
            return
        sps = sets.sps[0]
        try:
            if codec == "h264":
                avc = nal.parse_h264_sps(sps)
                info = VideoInfo(avc.width, avc.height, round(avc.fps or 0.0, 3), codec, avc.codec_string)
            else:
                hevc = nal.parse_hevc_sps(sps)
                info = VideoInfo(hevc.width, hevc.height, 0.0, codec, hevc.codec_string)
        except ValueError as exc:
            log.warning("video: cannot read the %s SPS: %s", codec, exc)
            return
        self._sps = sps
        if info != self.video:
            log.debug("video: %s %dx%d (%s)", codec, info.width, info.height, info.codec_string)
            self.video = info

    def _on_sequence_header(self, es: bytearray) -> None:
        at = es.find(SEQUENCE_HEADER)
        if at == -1 or at + 8 > len(es):
            return
        b = es[at + 4 : at + 8]
        width = (b[0] << 4) | (b[1] >> 4)
        height = ((b[1] & 0x0F) << 8) | b[2]
        fps = FRAME_RATES.get(b[3] & 0x0F, 0.0)
        info = VideoInfo(width, height, round(fps, 3))
        if info != self.video:
            log.debug("video: %dx%d at %s fps", width, height, info.fps)
            self.video = info
