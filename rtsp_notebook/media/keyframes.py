"""A relay's keyframe cache: where a joining viewer starts, and the newest whole I-frame for thumbnails.

``warm_start`` is PAT + PMT + everything since the latest I-frame (bounded: a longer GOP is not cached), so
a viewer that joins or resumes decodes a picture at once instead of waiting for the camera's next
keyframe. ``last_keyframe`` is PSI + the newest *complete* I-frame, kept across restarts: an I-frame spans
several stdout chunks, so it is gathered from its first packet up to the next picture (the next PES of the
video PID) and published whole; the previous one stays readable until then.
"""

from __future__ import annotations

import time

from .mpegts import PACKET_SIZE, Segment

__all__ = ["KeyframeCache"]


class KeyframeCache:
    def __init__(self, limit: int) -> None:
        self.limit = limit  # bytes of a GOP (and of one I-frame) kept at most
        self._gop: list[bytes] = []
        self._gop_bytes = 0
        self.last_keyframe = b""  # PSI + the latest whole I-frame (maybe a little after it)
        self.last_keyframe_at: float | None = None  # epoch seconds when its first packet arrived
        self._parts: list[bytes] = []  # the I-frame being gathered: PSI, then its packets
        self._parts_bytes = 0
        self._pid = -1  # the video PID, read from the I-frame's first packet
        self._started = 0.0

    def reset(self) -> None:
        """Forget the GOP (a new FFmpeg run starts its own); the last whole I-frame stays."""
        self._gop, self._gop_bytes = [], 0

    def warm_start(self, psi: bytes) -> bytes:
        """PSI + everything since the latest I-frame, or nothing before the first one."""
        return psi + b"".join(self._gop) if self._gop and psi else b""

    def add(self, segment: Segment, psi: bytes) -> None:
        data = segment.data
        if segment.keyframe:
            self._gop, self._gop_bytes = [data], len(data)
            self._parts, self._parts_bytes = [psi], len(psi)
            self._pid = ((data[1] & 0x1F) << 8) | data[2]
            self._started = time.time()
        elif self._gop:
            self._gop_bytes += len(data)
            if self._gop_bytes > self.limit:
                self._gop, self._gop_bytes = [], 0
            else:
                self._gop.append(data)
        if self._parts:
            self._gather(data, PACKET_SIZE if segment.keyframe else 0)

    def _gather(self, data: bytes, first: int) -> None:
        # the next picture starts with the next PES (payload unit start set) of the video PID
        pid = self._pid
        end = next(
            (
                i
                for i in range(first, len(data), PACKET_SIZE)
                if data[i + 1] & 0x40 and ((data[i + 1] & 0x1F) << 8 | data[i + 2]) == pid
            ),
            len(data),
        )
        self._parts.append(data[:end])
        self._parts_bytes += end
        if end < len(data) or self._parts_bytes > self.limit:
            self.last_keyframe = b"".join(self._parts)
            self.last_keyframe_at = self._started
            self._parts = []
