"""Relay states and the events a relay emits (to its subscribers and to the engine's event log)."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from .mpegts import VideoInfo

__all__ = ["EventKind", "RelayEvent", "RelayState"]


class RelayState(str, enum.Enum):
    """A relay's life; the values are the wire names of DESIGN §3."""

    IDLE = "idle"
    CONNECTING = "connecting"
    PLAYING = "playing"
    RECONNECTING = "reconnecting"
    ERROR = "error"
    STOPPED = "stopped"


class EventKind(str, enum.Enum):
    STATE = "state"  # state changed (attempt / retry_in_s while reconnecting)
    VIDEO_START = "video_start"  # first video of a (re)start follows
    ERROR = "error"  # the source failed (code, message)
    RESTART = "restart"  # FFmpeg is started again
    ENDED = "ended"  # the stream was removed: the relay is gone for good


@dataclass(frozen=True)
class RelayEvent:
    kind: EventKind
    stream_id: str
    profile: str
    state: RelayState
    at: float = field(default_factory=time.time)
    code: str | None = None
    message: str | None = None
    attempt: int | None = None
    retry_in_s: float | None = None
    video: VideoInfo | None = None

    def as_dict(self) -> dict[str, Any]:
        """A flat, JSON-ready record (for event logs and DataFrames)."""
        return {
            "at": self.at,
            "stream_id": self.stream_id,
            "profile": self.profile,
            "kind": self.kind.value,
            "state": self.state.value,
            "code": self.code,
            "message": self.message,
            "attempt": self.attempt,
            "retry_in_s": self.retry_in_s,
        }
