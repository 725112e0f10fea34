"""Budget, drop-to-keyframe, pause/resume and close of one subscription, with synthetic segments.

The relay is exercised end to end against the real camera in test_relay.py; here the segments are
made up so that every branch of the budget logic is hit exactly.
"""

from __future__ import annotations

import pytest

from rtsp_notebook.media.mpegts import Segment
from rtsp_notebook.media.relay import backoff_delay
from rtsp_notebook.media.subscription import CloseReason, Subscription, SubscriptionClosed

PSI = b"P" * 376


def seg(n: int, key: bool = False, fill: bytes = b"x") -> Segment:
    return Segment(fill * (188 * n), key)


def make(budget: int = 188 * 10, warm: bytes = b"", stuck: float = 60.0):
    closed = []
    sub = Subscription(1, budget, stuck, closed.append, lambda: (warm, True))
    return sub, closed


async def drain(sub: Subscription) -> bytes:
    out = b""
    while sub.queued_bytes:
        item = await sub.get()
        assert isinstance(item, bytes)
        out += item
    return out


async def test_over_budget_drops_everything_queued_and_resumes_at_the_next_iframe():
    sub, _ = make()
    sub.offer(seg(6, fill=b"a"), PSI)
    sub.offer(seg(4, fill=b"b"), PSI)  # exactly at the budget
    sub.offer(seg(1, fill=b"c"), PSI)  # over: drop all
    assert sub.queued_bytes == 0 and sub.drops == 1 and sub.dropped_bytes == 188 * 11
    sub.offer(seg(2, fill=b"d"), PSI)  # skipped: not a keyframe
    assert sub.queued_bytes == 0 and sub.dropped_bytes == 188 * 13
    sub.offer(seg(3, key=True, fill=b"k"), PSI)
    assert await drain(sub) == PSI + b"k" * 188 * 3
    assert sub.peak_queued_bytes == 188 * 10


async def test_a_keyframe_larger_than_the_budget_is_skipped_too():
    sub, _ = make()
    sub.offer(seg(11), PSI)
    sub.offer(seg(10, key=True), PSI)  # 10 packets + 2 of PSI > budget
    assert sub.queued_bytes == 0
    sub.offer(seg(5, key=True, fill=b"k"), PSI)
    assert await drain(sub) == PSI + b"k" * 188 * 5


async def test_joining_gets_the_warm_start_or_waits_for_a_keyframe():
    sub, _ = make()
    sub.join(PSI + b"w" * 188, playing=True)
    sub.offer(seg(1, fill=b"p"), PSI)
    assert await drain(sub) == PSI + b"w" * 188 + b"p" * 188
    late, _ = make(budget=188 * 2)
    late.join(PSI + b"w" * 188 * 5, playing=True)  # too big: wait for the next I-frame
    late.offer(seg(1, fill=b"p"), PSI)
    assert late.queued_bytes == 0
    early, _ = make()
    early.join(b"", playing=False)  # before the first picture: take the stream from its start
    early.offer(seg(1, fill=b"s"), PSI)
    assert await drain(early) == b"s" * 188


async def test_pause_drops_video_but_keeps_events_and_resume_starts_warm():
    sub, _ = make(warm=PSI + b"w" * 188)
    sub.offer(seg(2), PSI)
    sub.push_event("E1")  # type: ignore[arg-type]
    sub.pause()
    sub.offer(seg(2), PSI)
    assert sub.queued_bytes == 0 and sub.paused
    assert await sub.get() == "E1"
    sub.resume()
    assert await drain(sub) == PSI + b"w" * 188


async def test_a_stuck_subscription_is_closed_when_it_drops():
    sub, closed = make(stuck=0.0)
    sub.offer(seg(11), PSI)
    assert sub.closed and closed == [sub] and "too slow" in (sub.closed_reason or "")


async def test_close_lets_the_queue_drain_then_ends():
    sub, closed = make()
    sub.offer(seg(1, fill=b"z"), PSI)
    sub.close(CloseReason.CLOSED, "bye")
    sub.close(CloseReason.STOPPED, "again")
    assert closed == [sub] and sub.closed_reason == "bye"
    assert await sub.get() == b"z" * 188
    with pytest.raises(SubscriptionClosed, match="bye"):
        await sub.get()
    assert [item async for item in sub] == []


def test_backoff_doubles_with_jitter_and_caps():
    assert backoff_delay(1, 0.5, 30, lambda: 0.5) == 0.5
    assert backoff_delay(2, 0.5, 30, lambda: 0.5) == 1.0
    assert backoff_delay(7, 0.5, 30, lambda: 0.5) == 30.0
    assert backoff_delay(20, 0.5, 30, lambda: 1.0) == 30.0
    assert backoff_delay(1, 0.5, 30, lambda: 0.0) == pytest.approx(0.4)
    assert backoff_delay(3, 0.5, 30, lambda: 1.0) == pytest.approx(2.4)


async def test_a_close_reason_is_an_enum_and_the_detail_is_only_for_people():
    sub, _ = make(stuck=0.0)
    sub.offer(seg(11), PSI)
    with pytest.raises(SubscriptionClosed) as closed:
        await sub.get()
    assert closed.value.reason is CloseReason.TOO_SLOW and sub.close_reason is CloseReason.TOO_SLOW
    assert closed.value.message.startswith("viewer too slow: nothing read for ")
    assert str(closed.value) == closed.value.message == sub.closed_reason
    assert f"{CloseReason.ENDED}" == str(CloseReason.ENDED) == CloseReason.ENDED == "ended"
