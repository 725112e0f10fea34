"""A camera that hangs, drops and comes back, under one viewer that stays attached (in-process relay).

    python -m bench.outage [--runs 3] [--json bench/results/outage.json]

The GStreamer test camera (640x360 at 25 fps, a keyframe a second); the relay has its default limits (stall
after 5 s without bytes, backoff 0.5 s → 30 s with ±20 % jitter). Each run has two outages, each under a
fresh relay (so its backoff starts from the beginning) and its one subscription:

* hung: the camera is frozen with SIGSTOP (its sockets stay open): the time from the freeze to the relay's
  error event, and from the relay's last picture to it; then the camera resumes (SIGCONT) at once and the
  time to the next ``video_start`` is taken;
* gone: the camera process is stopped (its port closes): the time to the relay's error event; the camera
  stays down for 2 s and starts again on the same port: the time from its READY line to ``video_start``.

The subscription must stay open through it all. Times are the relay's event times (``time.time()``).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench._common import Sink, median
from bench._report import arguments, report
from rtsp_notebook.media.events import EventKind, RelayEvent
from tests.harness.camera import TestCamera
from tests.harness.helpers import engine_for, wait_until

DOWN_S = 2.0
Phase = Callable[[TestCamera, Sink, Any], Awaitable[dict[str, Any]]]


async def next_event(sink: Sink, kind: EventKind, after: int, timeout: float) -> tuple[int, RelayEvent]:
    """The first event of ``kind`` from index ``after`` on in the sink's events, and its index."""

    def found() -> tuple[int, RelayEvent] | None:
        for i, (_, event) in enumerate(sink.events[after:], after):
            if event.kind is kind:
                return i, event
        return None

    return await wait_until(found, timeout, f"event {kind.value}")


async def hung(camera: TestCamera, sink: Sink, relay: Any) -> dict[str, Any]:
    mark = len(sink.events)
    paused = time.time()
    camera.pause()
    i, error = await next_event(sink, EventKind.ERROR, mark, 30)
    last_picture = relay.last_frame_at
    camera.resume()
    resumed = time.time()
    _, back = await next_event(sink, EventKind.VIDEO_START, i, 60)
    return {
        "stall_found_after_freeze_s": round(error.at - paused, 3),
        "stall_found_after_last_picture_s": round(error.at - last_picture, 3),
        "error_code": error.code,
        "video_again_after_resume_s": round(back.at - resumed, 3),
    }


async def gone(camera: TestCamera, sink: Sink, relay: Any) -> dict[str, Any]:
    mark = len(sink.events)
    stopped = time.time()
    camera.stop()
    i, error = await next_event(sink, EventKind.ERROR, mark, 30)
    await asyncio.sleep(DOWN_S - (time.time() - stopped))  # the camera stays down this long
    camera.start()
    ready = time.time()
    _, back = await next_event(sink, EventKind.VIDEO_START, i, 60)
    return {
        "drop_found_s": round(error.at - stopped, 3),
        "error_code": error.code,
        "down_s": round(ready - stopped, 3),
        "video_again_after_return_s": round(back.at - ready, 3),
        "retry_waits_s": [
            e.retry_in_s for _, e in sink.events[mark:] if e.kind is EventKind.STATE and e.retry_in_s
        ],
    }


async def phase(camera: TestCamera, tmp: Path, what: Phase) -> dict[str, Any]:
    """One outage under a fresh relay (its backoff starts from the beginning) and one viewer."""
    tmp.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a bench, not a server
    async with engine_for(tmp) as engine:
        stream = await engine.add_stream(camera.url)
        sink = Sink(await engine.subscribe(stream.id))
        try:
            await wait_until(lambda: sink.frames > 25, 20, "a second of pictures")
            result = await what(camera, sink, engine.relay(stream.id))
            return {**result, "viewer_attached": sink.closed is None}
        finally:
            await sink.stop()


async def measure(runs: int, tmp: Path) -> dict[str, Any]:
    camera = TestCamera(width=640, height=360, fps=25, keyint=25)
    samples: list[dict[str, Any]] = []
    try:
        camera.start()
        for run in range(runs):
            samples.append({
                "hung": await phase(camera, tmp / f"hung-{run}", hung),
                "gone": await phase(camera, tmp / f"gone-{run}", gone),
            })  # fmt: skip
    finally:
        camera.stop()

    def med(part: str, key: str) -> float:
        return round(median(s[part][key] for s in samples), 3)

    return {
        "camera": "GStreamer videotestsrc ball 640x360@25, keyframe every 25 frames",
        "relay": "default RelayConfig: stall 5 s, backoff 0.5 s → 30 s ±20 %",
        "median_s": {
            "hung_stall_found_after_freeze": med("hung", "stall_found_after_freeze_s"),
            "hung_stall_found_after_last_picture": med("hung", "stall_found_after_last_picture_s"),
            "hung_video_again_after_resume": med("hung", "video_again_after_resume_s"),
            "gone_drop_found": med("gone", "drop_found_s"),
            "gone_video_again_after_return": med("gone", "video_again_after_return_s"),
        },
        "viewer_attached": all(s[p]["viewer_attached"] for s in samples for p in ("hung", "gone")),
        "samples": samples,
    }


def run() -> None:
    args = arguments(__doc__, "outage", runs=3)
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(args.runs, Path(tmp)))
    report(result, {**result["median_s"], "viewer attached": result["viewer_attached"]}, args.json)


if __name__ == "__main__":
    run()
