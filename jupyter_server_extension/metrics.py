"""Relay figures for Prometheus on Jupyter's own ``/metrics`` (jupyter-server already serves the default
prometheus_client registry there, behind its authentication).

A collector reads the engine's counters when a scrape comes (on the server's event loop, like every
handler): nothing is updated on the video path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rtsp_notebook.engine import Engine
from rtsp_notebook.media.events import RelayState

__all__ = ["RelayCollector", "register", "unregister"]

LABELS = ["stream_id", "profile"]


class RelayCollector(Collector):
    """Per relay (stream, profile): viewers, bytes, drops, restarts, state, age of the last picture.

    A stream's source relay (the camera's own video, its one RTSP session) has ``profile="source"``; its
    subscriptions are its ``codec=h264`` viewers and the MPEG-1 transcodes (``grid``, ``full``) it feeds.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[Metric]:
        return []  # no collect() at registration time

    def collect(self) -> Iterator[Metric]:
        stats = self.engine.stats()
        relays = GaugeMetricFamily(
            "rtsp_notebook_relays", "Relays, an FFmpeg each (a stream's source relay and its MPEG-1 profiles)"
        )
        relays.add_metric([], len(stats))
        yield relays
        families = {
            field: kind(f"rtsp_notebook_{name}", help_text, labels=LABELS)
            for field, (kind, name, help_text) in _PER_RELAY.items()
        }
        state = GaugeMetricFamily(
            "rtsp_notebook_state", "1 for the relay's current state, 0 for others", labels=[*LABELS, "state"]
        )
        for s in stats:
            key = [s.stream_id, s.profile]
            for field, family in families.items():
                value = getattr(s, field)
                if value is not None:
                    family.add_metric(key, value)
            for each in RelayState:
                state.add_metric([*key, each.value], 1.0 if s.state is each else 0.0)
        yield from families.values()
        yield state


_PER_RELAY: dict[str, tuple[type[GaugeMetricFamily] | type[CounterMetricFamily], str, str]] = {
    "viewers": (
        GaugeMetricFamily,
        "viewers",
        "Subscriptions to the relay (a source relay's include the MPEG-1 transcodes it feeds)",
    ),
    "fps": (GaugeMetricFamily, "fps", "Pictures a second the relay receives"),
    "kbps": (GaugeMetricFamily, "kbps", "Kilobits a second the relay receives"),
    "bytes_in": (CounterMetricFamily, "bytes_in", "MPEG-TS bytes read from FFmpeg"),
    "bytes_out": (CounterMetricFamily, "bytes_out", "MPEG-TS bytes handed to viewers"),
    "dropped_bytes": (CounterMetricFamily, "dropped_bytes", "Bytes dropped for viewers over their budget"),
    "drops": (CounterMetricFamily, "drops", "Times a viewer dropped to the next I-frame"),
    "restarts": (CounterMetricFamily, "restarts", "FFmpeg restarts of the relay"),
    "last_frame_age_s": (
        GaugeMetricFamily,
        "last_frame_age_seconds",
        "Seconds since the relay's last picture",
    ),
}


def register(engine: Engine) -> RelayCollector:
    collector = RelayCollector(engine)
    REGISTRY.register(collector)
    return collector


def unregister(collector: RelayCollector) -> None:
    with contextlib.suppress(KeyError):  # never registered, or already gone
        REGISTRY.unregister(collector)
