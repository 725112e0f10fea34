"""pandas DataFrames of the API's JSON answers, with explicit dtypes: strings as ``string``, states
and kinds as categoricals over every value they can take, times as tz-aware UTC."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..media.events import EventKind, RelayState

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["clips_frame", "events_frame", "stats_frame", "streams_frame"]

STATES = [s.value for s in RelayState]
KINDS = [k.value for k in EventKind]

STREAM_COLUMNS = {
    "id": "string", "label": "string", "url": "string", "sub_url": "string", "state": "state",
    "viewers": "int64", "last_error": "string", "transport": "string", "keep_alive": "bool",
    "created_at": "time", "updated_at": "time",
}  # fmt: skip
STATS_COLUMNS = {
    "stream_id": "string", "label": "string", "state": "state", "viewers": "int64", "uptime_s": "float64",
    "restarts": "int64", "fps": "float64", "kbps": "float64", "bytes_out": "int64",
    "dropped_bytes": "int64", "last_frame_age_s": "float64", "last_error": "string",
    "last_error_code": "string", "prebuffer_s": "float64", "prebuffer_bytes": "int64",
}  # fmt: skip
EVENT_COLUMNS = {
    "time": "epoch", "stream_id": "string", "profile": "string", "kind": "kind", "state": "state",
    "code": "string", "message": "string", "attempt": "Int64", "retry_in_s": "float64",
}  # fmt: skip

CLIP_STATUSES = ["recording", "done", "failed"]
CLIP_COLUMNS = {
    "id": "string", "label": "string", "stream_id": "string", "status": "status", "file": "string",
    "started_at": "epoch", "before": "float64", "after": "float64", "seconds": "float64", "frames": "int64",
    "bytes": "int64", "codec": "string", "transcoded": "boolean", "complete": "boolean", "ended": "string",
    "error": "string", "error_code": "string",
}  # fmt: skip


def _frame(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    data: dict[str, Any] = {}
    for name, kind in columns.items():
        values = [row.get(name) for row in rows]
        if kind == "state":
            data[name] = pd.Categorical(values, categories=STATES)
        elif kind == "kind":
            data[name] = pd.Categorical(values, categories=KINDS)
        elif kind == "status":
            data[name] = pd.Categorical(values, categories=CLIP_STATUSES)
        elif kind == "time":
            times = pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601")
            data[name] = times.dt.as_unit("us")
        elif kind == "epoch":
            data[name] = pd.to_datetime(pd.Series(values, dtype="float64"), unit="s", utc=True).dt.as_unit(
                "us"
            )
        else:
            data[name] = pd.Series(values, dtype=kind)
    return pd.DataFrame(data, columns=list(columns))


def streams_frame(streams: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per stream; an option that does not apply to a stream's source (``transport`` of a
    ``demo://`` stream: the API leaves it out) is missing (``<NA>``), not a default."""
    rows = [
        {**s, "transport": (s.get("options") or {}).get("transport"),
         "keep_alive": bool((s.get("options") or {}).get("keep_alive", False))}
        for s in streams
    ]  # fmt: skip
    return _frame(rows, STREAM_COLUMNS)


def stats_frame(stats: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per stream; ``prebuffer_s`` (seconds kept for clips) and ``prebuffer_bytes`` are 0 for a
    stream without a prebuffer (or from a server that does not report them)."""
    rows = [
        {**s, "prebuffer_s": s.get("prebuffer_s") or 0.0, "prebuffer_bytes": s.get("prebuffer_bytes") or 0}
        for s in stats
    ]
    return _frame(rows, STATS_COLUMNS)


def events_frame(events: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{**e, "time": e.get("at")} for e in events]
    return _frame(rows, EVENT_COLUMNS)


def clips_frame(clips: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per clip job the service remembers (oldest first); ``transcoded``, ``complete`` and ``ended``
    are missing while it records."""
    return _frame(clips, CLIP_COLUMNS)
