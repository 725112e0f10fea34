"""The relay against the real GStreamer camera and the real FFmpeg."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from rtsp_notebook.errors import LimitError, StreamNotFoundError
from rtsp_notebook.media.events import EventKind, RelayState
from rtsp_notebook.media.ffmpeg import Profile
from rtsp_notebook.media.mpegts import PACKET_SIZE, PICTURE_TYPE_I

from .harness.helpers import Reader, analyze, engine_for, ffmpeg_children, packets, pid_of, wait_until

pytestmark = pytest.mark.camera


async def test_twenty_simultaneous_joins_start_one_ffmpeg(camera, tmp_path):
    async with engine_for(tmp_path, idle_timeout=0.3) as engine:
        stream = await engine.add_stream(camera.url, "door")
        subs = await asyncio.gather(*(engine.subscribe(stream.id) for _ in range(20)))
        readers = [Reader(s) for s in subs]
        await asyncio.gather(*(r.wait_event(EventKind.VIDEO_START) for r in readers))
        await asyncio.gather(*(r.wait_bytes(PACKET_SIZE * 50) for r in readers))
        # one source relay (the camera's one session) and one grid transcode fed from it: no duplicate
        relay, source = engine.relay(stream.id), engine.relay(stream.id, "source")
        assert relay is not None and relay.spawns == 1
        assert source is not None and source.spawns == 1
        assert relay.process is not None and source.process is not None
        assert sorted(p.pid for p in ffmpeg_children()) == sorted([relay.process.pid, source.process.pid])
        assert set(engine.relays) == {(stream.id, Profile.GRID), (stream.id, Profile.SOURCE)}
        assert relay.stats().viewers == 20
        assert source.stats().viewers == 1, "the transcode's feed only"
        assert engine.describe(stream)["viewers"] == 20
        for reader in readers:
            await reader.stop()
        await wait_until(lambda: engine.relay(stream.id) is None, 5, "the idle relay to go")
        await wait_until(lambda: not ffmpeg_children(), 5, "FFmpeg to exit")


async def test_warm_join_gets_psi_then_an_iframe_first(camera, tmp_path):
    async with engine_for(tmp_path) as engine:
        stream = await engine.add_stream(camera.url)
        first = Reader(await engine.subscribe(stream.id))
        await first.wait_event(EventKind.VIDEO_START)
        relay = engine.relay(stream.id)
        assert relay is not None
        # join in the middle of a GOP: after at least one P-frame followed the latest I-frame
        await wait_until(lambda: len(relay.warm_start()) > 4 * PACKET_SIZE, 5, "a cached GOP")
        cached = relay.warm_start()
        second = Reader(relay.subscribe())  # synchronous: joins the relay as it is now
        await second.wait_bytes(len(cached))
        data = bytes(second.data)
        # no wait for the camera's next keyframe: the first bytes are the keyframe cache (the time it
        # takes is bench.first_video's "warm" figure)
        assert data[: len(cached)] == cached
        assert len(data) % PACKET_SIZE == 0
        parsed = analyze(data)
        pkts = packets(data)
        assert pid_of(pkts[0]) == 0, "PAT first"
        assert pid_of(pkts[1]) == parsed.pmt_pid, "PMT second"
        assert pid_of(pkts[2]) == parsed.video_pid and pkts[2][1] & 0x40, "then the start of a picture"
        assert parsed._picture_kind(data, 2 * PACKET_SIZE) == PICTURE_TYPE_I, "an I-frame"
        assert [e.kind for e in second.events[:2]] == [EventKind.STATE, EventKind.VIDEO_START]
        await first.stop()
        await second.stop()


async def test_a_reader_that_never_reads_does_not_slow_the_others(camera_factory, tmp_path):
    camera = camera_factory(pattern="snow", width=640, height=360)
    budget = 256 * 1024
    async with engine_for(tmp_path, subscriber_budget=budget, stuck_timeout=60) as engine:
        stream = await engine.add_stream(camera.url)
        lone = Reader(await engine.subscribe(stream.id))
        await lone.wait_event(EventKind.VIDEO_START)
        await lone.wait_bytes(budget)

        window = 45  # frames: three seconds of the grid profile
        stuck = await engine.subscribe(stream.id)  # never read
        relay = engine.relay(stream.id)
        assert relay is not None
        in_before, got_before = relay.bytes_in, len(lone.data)
        await lone.wait_frames(window, timeout=30)
        produced, received = relay.bytes_in - in_before, len(lone.data) - got_before
        assert stuck.drops >= 1 and stuck.dropped_bytes > 0
        assert stuck.peak_queued_bytes <= budget
        # The reader beside the stuck one gets everything the relay produced in the same window (a
        # viewer that keeps up gets all of it; the rate it gets is bench.throughput's figure).
        assert abs(received - produced) <= 0.10 * produced, (received, produced)
        assert lone.closed is None and lone.sub.drops == 0
        assert relay.stats().drops == stuck.drops
        stuck.close()
        await lone.stop()


async def test_a_stuck_reader_is_disconnected(camera, tmp_path):
    async with engine_for(tmp_path, subscriber_budget=64 * 1024, stuck_timeout=1.0) as engine:
        stream = await engine.add_stream(camera.url)
        reader = Reader(await engine.subscribe(stream.id))
        stuck = await engine.subscribe(stream.id)
        await wait_until(lambda: stuck.closed, 15, "the stuck subscriber to be closed")
        assert stuck.closed_reason and "too slow" in stuck.closed_reason
        assert stuck.queued_bytes <= 64 * 1024
        await reader.wait_bytes(PACKET_SIZE * 10)
        assert reader.closed is None
        await reader.stop()


async def test_ffmpeg_killed_comes_back_for_the_same_subscribers(camera, tmp_path):
    async with engine_for(tmp_path, backoff_initial=0.1) as engine:
        stream = await engine.add_stream(camera.url)
        reader = Reader(await engine.subscribe(stream.id))
        await reader.wait_event(EventKind.VIDEO_START)
        relay = engine.relay(stream.id)
        assert relay is not None and relay.process is not None
        os.kill(relay.process.pid, signal.SIGKILL)
        await reader.wait_event(EventKind.ERROR, code="FFMPEG_EXIT")
        await reader.wait_event(EventKind.VIDEO_START, count=2)
        await reader.wait_bytes(PACKET_SIZE * 20)
        assert relay.restarts == 1 and relay.spawns == 2
        assert reader.closed is None
        assert relay.stats().state is RelayState.PLAYING
        await reader.stop()


async def test_camera_restarted_on_the_same_port_comes_back(camera, tmp_path):
    async with engine_for(tmp_path, backoff_initial=0.2, backoff_max=1.0) as engine:
        stream = await engine.add_stream(camera.url)
        reader = Reader(await engine.subscribe(stream.id))
        await reader.wait_event(EventKind.VIDEO_START)
        camera.stop()
        await reader.wait_event(EventKind.STATE, state=RelayState.RECONNECTING)
        camera.start()
        await reader.wait_event(EventKind.VIDEO_START, count=2, timeout=20)
        await reader.wait_bytes(PACKET_SIZE * 20)
        assert reader.closed is None
        await reader.stop()


async def test_first_start_failure_is_retried_with_backoff(camera, tmp_path):
    camera.stop()
    async with engine_for(tmp_path, backoff_initial=0.2, backoff_max=1.0) as engine:
        stream = await engine.add_stream(camera.url)
        reader = Reader(await engine.subscribe(stream.id))
        error = await reader.wait_event(EventKind.ERROR)
        assert error.code == "UNREACHABLE"
        retry = await reader.wait_event(EventKind.STATE, state=RelayState.RECONNECTING, count=2)
        assert retry.attempt == 2 and retry.retry_in_s is not None and 0.3 <= retry.retry_in_s <= 0.5
        camera.start()
        await reader.wait_event(EventKind.VIDEO_START, timeout=20)
        await reader.wait_bytes(PACKET_SIZE * 20)
        await reader.stop()


async def test_a_sigstopped_camera_is_found_as_a_stall(camera, tmp_path):
    async with engine_for(
        tmp_path, stall_timeout=1.5, start_timeout=3, backoff_initial=0.2, backoff_max=1
    ) as engine:
        stream = await engine.add_stream(camera.url)
        reader = Reader(await engine.subscribe(stream.id))
        await reader.wait_event(EventKind.VIDEO_START)
        camera.pause()
        error = await reader.wait_event(EventKind.ERROR, timeout=10)
        # found by the stall timeout (how soon is bench.outage's figure)
        assert (error.code, error.message) == ("TIMEOUT", "no video from the camera for 1.5 s; retrying")
        camera.resume()
        await reader.wait_event(EventKind.VIDEO_START, count=2, timeout=20)
        await reader.stop()


async def test_a_wrong_password_is_refused_with_auth(camera_factory, tmp_path):
    camera = camera_factory(user="viewer", password="s3cret-Pw")
    async with engine_for(tmp_path, backoff_initial=5) as engine:
        wrong = await engine.add_stream(camera.url_with("viewer", "wrong-Pw9"))
        reader = Reader(await engine.subscribe(wrong.id))
        error = await reader.wait_event(EventKind.ERROR)
        assert error.code == "AUTH"
        await reader.wait_event(EventKind.STATE, state=RelayState.ERROR)
        relay = engine.relay(wrong.id)
        assert relay is not None and relay.last_error is not None
        for text in (error.message, relay.last_error.detail, repr(engine.stats())):
            assert "wrong-Pw9" not in text
        await reader.stop()

        right = await engine.add_stream(camera.url)
        good = Reader(await engine.subscribe(right.id))
        await good.wait_event(EventKind.VIDEO_START)
        await good.stop()


async def test_closing_the_engine_stops_every_ffmpeg(camera, tmp_path):
    async with engine_for(tmp_path) as engine:
        one = await engine.add_stream(camera.url)
        two = await engine.add_stream("demo://testsrc2?size=640x360&fps=25")
        readers = [Reader(await engine.subscribe(s.id, p)) for s in (one, two) for p in ("grid", "full")]
        await asyncio.gather(*(r.wait_event(EventKind.VIDEO_START) for r in readers))
        # per camera: its source relay and the two MPEG-1 transcodes fed from it
        relays = engine.relays.values()
        assert sorted(r.profile.value for r in relays) == ["full", "full", "grid", "grid", "source", "source"]
        pids = sorted(r.process.pid for r in relays if r.process is not None)
        assert len(pids) == 6 and sorted(p.pid for p in ffmpeg_children()) == pids
        await engine.close()
        assert not ffmpeg_children()
        await wait_until(lambda: all(r.closed for r in readers), 2, "subscriptions to close")
        with pytest.raises(RuntimeError, match="closed"):
            await engine.subscribe(one.id)


async def test_limits_and_unknown_streams(camera, tmp_path):
    async with engine_for(tmp_path, max_relays=1, max_viewers=2) as engine:
        stream = await engine.add_stream(camera.url)
        with pytest.raises(StreamNotFoundError):
            await engine.subscribe("0123456789ab")
        a = await engine.subscribe(stream.id)
        b = await engine.subscribe(stream.id)
        with pytest.raises(LimitError, match="this stream already has 2 viewers, the most allowed"):
            await engine.subscribe(stream.id)
        b.close()
        with pytest.raises(
            LimitError,
            match=r"^1 cameras are playing, the most this server runs at once "
            r"\(max_relays\): waiting for one to stop\. Pause or close a tile, or raise "
            r"RtspNotebookApp\.max_relays$",
        ):
            await engine.subscribe(stream.id, "full")
        a.close()


async def test_keep_alive_runs_without_viewers_and_removal_ends_viewers(camera, tmp_path):
    async with engine_for(tmp_path, idle_timeout=0.2) as engine:
        stream = await engine.add_stream(camera.url, options={"keep_alive": True})
        relay = engine.relay(stream.id)
        assert relay is not None
        await wait_until(lambda: relay.state is RelayState.PLAYING, 10, "the keep-alive relay to play")
        reader = Reader(await engine.subscribe(stream.id))
        await reader.wait_bytes(PACKET_SIZE * 3)
        await reader.stop()
        assert not relay.subscriptions and relay._idle_handle is None, "no idle timer with keep_alive"
        assert engine.relay(stream.id) is relay and relay.state is RelayState.PLAYING
        viewer = Reader(await engine.subscribe(stream.id))
        await engine.remove_stream(stream.id)
        await viewer.wait_event(EventKind.ENDED)
        await wait_until(lambda: viewer.closed == "ended", 2, "the viewer to be ended")
        assert engine.relay(stream.id) is None


async def test_udp_transport_plays_within_the_protocol_whitelist(camera, tmp_path):
    async with engine_for(tmp_path) as engine:
        stream = await engine.add_stream(camera.url, options={"transport": "udp"})
        reader = Reader(await engine.subscribe(stream.id, "full"))
        started = await reader.wait_event(EventKind.VIDEO_START)
        assert started.video is not None and (started.video.width, started.video.height) == (640, 360)
        # the source relay is the one that opens the camera: over UDP, within the whitelist; the transcode
        # reads the source's bytes on stdin and opens nothing
        source = engine.relay(stream.id, "source")
        assert source is not None and "rtsp,rtp,udp,tcp" in source.argv
        assert source.argv[source.argv.index("-rtsp_transport") + 1] == "udp"
        relay = engine.relay(stream.id, "full")
        assert relay is not None and "-rtsp_transport" not in relay.argv and "pipe:0" in relay.argv
        await reader.wait_bytes(PACKET_SIZE * 20)
        await reader.stop()
