"""Relay figures (issue 11: "stats() reported 32 fps for a 25 fps camera"): the rate meter measures over a
sliding window of picture timestamps, checked with an injected clock, and a relay's stats against cameras
of known rate."""

from __future__ import annotations

import pytest

from rtsp_notebook.media.ffmpeg import Profile
from rtsp_notebook.media.stats import RateMeter

from .harness.helpers import Reader, engine_for, wait_until


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def feed(
    meter: RateMeter, clock: Clock, fps: float, seconds: float, *, nbytes: int = 0, per_chunk: int = 1
) -> None:
    """Pictures at ``fps`` for ``seconds``, ``per_chunk`` of them arriving together."""
    step = per_chunk / fps
    for _ in range(round(seconds / step)):
        clock.now += step
        meter.add(nbytes, per_chunk)


def test_steady_pictures_give_their_rate_from_the_second_picture_on():
    clock = Clock()
    meter = RateMeter(clock=clock)
    assert meter.rates() == (0.0, 0.0)
    feed(meter, clock, 25, 0.2)
    assert meter.rates()[0] == pytest.approx(25, abs=0.01)
    feed(meter, clock, 25, 9.8)
    assert meter.rates()[0] == pytest.approx(25, abs=0.01)
    clock.now += 0.02  # asked between two pictures: still the pictures' rate
    assert meter.rates()[0] == pytest.approx(25, abs=0.01)


def test_the_wait_for_the_first_picture_does_not_count():
    clock = Clock()
    meter = RateMeter(clock=clock)  # made when the relay starts: the camera answers 3 s later
    clock.now += 3.0
    feed(meter, clock, 15, 1.0)
    assert meter.rates()[0] == pytest.approx(15, abs=0.01)


def test_a_burst_in_one_chunk_at_the_start_is_not_a_rate():
    clock = Clock()
    meter = RateMeter(clock=clock)
    meter.add(50_000, 12)  # a keyframe cache's worth at once
    feed(meter, clock, 25, 1.0)
    assert meter.rates()[0] == pytest.approx(25, abs=0.01)


def test_pictures_held_back_at_the_start_barely_move_the_rate():
    clock = Clock()
    meter = RateMeter(clock=clock)
    for _ in range(4):  # FFmpeg's first pictures, written together after its start, in separate chunks
        clock.now += 0.002
        meter.add(5_000, 1)
    feed(meter, clock, 25, 1.5)
    # 40 pictures in 1.5 s as counted, but 25 a second as they come
    assert meter.rates()[0] == pytest.approx(25, abs=0.5)


def test_pictures_arriving_in_pairs_keep_the_rate():
    clock = Clock()
    meter = RateMeter(clock=clock)
    feed(meter, clock, 25, 3.0, per_chunk=2)
    assert meter.rates()[0] == pytest.approx(25, abs=0.01)


def test_old_pictures_leave_the_window():
    clock = Clock()
    meter = RateMeter(window=5, clock=clock)
    feed(meter, clock, 30, 10.0)
    feed(meter, clock, 10, 5.0)
    assert meter.rates()[0] == pytest.approx(10, abs=0.01)


def test_a_stall_brings_the_rate_down_to_zero():
    clock = Clock()
    meter = RateMeter(window=5, clock=clock)
    feed(meter, clock, 25, 5.0)
    clock.now += 1.0  # no picture for a second
    assert 15 < meter.rates()[0] < 22
    clock.now += 4.5
    assert meter.rates()[0] < 3
    clock.now += 1.0
    assert meter.rates() == (0.0, 0.0)


def test_kbps_over_the_window():
    clock = Clock()
    meter = RateMeter(window=5, clock=clock)
    feed(meter, clock, 25, 1.0, nbytes=5_000)  # 125 kB/s = 1000 kb/s
    assert meter.rates()[1] == pytest.approx(1000, rel=0.02)
    feed(meter, clock, 25, 9.0, nbytes=2_500)
    assert meter.rates()[1] == pytest.approx(500, rel=0.02)


@pytest.mark.parametrize(
    ("camera_fps", "rates"), [(25, {"full": 25, "grid": 15}), (15, {"full": 15, "grid": 15})]
)
async def test_relay_fps_is_the_rate_it_sends(camera_factory, tmp_path, camera_fps, rates):
    """Every reading from 1.5 s after the first picture on is within 1.5 of the rate (the full profile keeps
    a 25 or 15 fps camera's rate; the grid profile is at most 15 fps)."""
    camera = camera_factory(fps=camera_fps)
    async with engine_for(tmp_path) as engine:
        stream = await engine.add_stream(camera.url, "door")
        readers = [
            Reader(await engine.subscribe(stream.id, profile)) for profile in (Profile.FULL, Profile.GRID)
        ]
        readings: dict[str, list[float]] = {"full": [], "grid": []}

        def record() -> bool:
            """Reads both relays' fps once they have played for 1.5 s; done after 4 s of playing."""
            done = True
            for profile in readings:
                relay = engine.relay(stream.id, profile)
                assert relay is not None
                stats = relay.stats()
                if stats.uptime_s >= 1.5:
                    readings[profile].append(stats.fps)
                done = done and stats.uptime_s >= 4.0
            return done

        await wait_until(record, 20, "4 s of video on both profiles")
        for reader in readers:
            await reader.stop()
    for profile, expected in rates.items():
        values = readings[profile]
        assert len(values) > 10, values
        assert all(abs(v - expected) <= 1.5 for v in values), f"{profile}: {values}"
