"""Relays follow demand and survive errors (issue 11 §2), against the real GStreamer camera and FFmpeg.

One test per item of the change (f08f1fe): paused viewers free FFmpeg, a full grid can still expand,
an unexpected error restarts a relay, cancellation is never swallowed, long GOPs with B-frames, a
UDP-only camera, stderr classified from its newest lines, and probes bounded by ``max_probes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

import rtsp_notebook.api.service
from rtsp_notebook._compat import cancel_and_wait
from rtsp_notebook.api.service import StreamService
from rtsp_notebook.api.viewer import ViewerConnection
from rtsp_notebook.engine import Engine, EngineConfig
from rtsp_notebook.errors import (
    LimitError,
    ProbeFailedError,
    StoreError,
    TransportRefusedError,
    UnreachableError,
)
from rtsp_notebook.media.events import EventKind, RelayState
from rtsp_notebook.media.mpegts import PACKET_SIZE
from rtsp_notebook.media.probe import probe
from rtsp_notebook.media.process import classify_stderr
from rtsp_notebook.media.sources import parse_source
from rtsp_notebook.store import AsyncStore, StreamStore
from rtsp_notebook.thumbnails import ThumbnailService

from .harness.helpers import (
    MemoryChannel,
    Reader,
    engine_for,
    ffmpeg_children,
    ffmpeg_info,
    ffmpeg_roles,
    wait_until,
)

pytestmark = pytest.mark.camera

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MESSAGE = (
    "2 cameras are playing, the most this server runs at once (max_relays): waiting for one to stop. "
    "Pause or close a tile, or raise RtspNotebookApp.max_relays"
)
WAITING_FOR_KEYFRAME = "connected; waiting for the camera's next keyframe"


def rtsp_sessions(port: int | None) -> int:
    """The camera's established RTSP sessions (one TCP connection each, seen from the server's side)."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def transport_of(argv: list[str]) -> str:
    return argv[argv.index("-rtsp_transport") + 1]


def gone(pid: int) -> bool:
    """The process has ended (a zombie has ended too: only its exit status waits to be read)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@contextlib.contextmanager
def keeper(url: str):
    """A plain FFmpeg client that keeps the camera's shared pipeline (and its GOP clock) running."""
    proc = subprocess.Popen(
        [ffmpeg_info().path, "-hide_banner", "-nostdin", "-loglevel", "error",
         "-rtsp_transport", "tcp", "-i", url, "-c", "copy", "-f", "null", "-"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- 1 ----------------------------------------------------------------------------------------------
async def test_paused_viewers_do_not_hold_a_relay(camera, tmp_path):
    async with engine_for(tmp_path, idle_timeout=0.3) as engine:
        stream = await engine.add_stream(camera.url)
        reader = Reader(await engine.subscribe(stream.id))
        await reader.wait_event(EventKind.VIDEO_START)
        await reader.wait_bytes(PACKET_SIZE * 20)
        relay = engine.relay(stream.id)  # the grid transcode, fed by the stream's source relay
        assert relay is not None and relay.spawns == 1
        await wait_until(lambda: rtsp_sessions(camera.port) == 1, 5, "the source relay's RTSP session")
        assert ffmpeg_roles() == {"camera": 1, "stdin": 1}

        reader.sub.pause()
        await wait_until(lambda: not ffmpeg_children(), 5, "FFmpeg to stop for a paused viewer")
        await wait_until(lambda: relay.state is RelayState.IDLE, 5, "the relay to be idle")
        await wait_until(lambda: rtsp_sessions(camera.port) == 0, 5, "the camera's session to close")
        assert not reader.sub.closed and reader.closed is None, "the paused viewer stays subscribed"
        assert engine.relay(stream.id) is relay and reader.sub in relay.subscriptions
        assert not relay.running and engine.running_relays == 0
        assert engine.relay(stream.id, "source") is None, "the source relay went with its transcode"

        reader.sub.resume()
        await reader.wait_event(EventKind.VIDEO_START, count=2, timeout=15)
        await reader.wait_bytes(PACKET_SIZE * 20)
        assert relay.spawns == 2 and relay.state is RelayState.PLAYING
        assert ffmpeg_roles() == {"camera": 1, "stdin": 1} and rtsp_sessions(camera.port) == 1

        # one paused and one active viewer: the relay plays on, well past the idle timeout
        other = Reader(await engine.subscribe(stream.id))
        await other.wait_bytes(PACKET_SIZE * 3)
        reader.sub.pause()
        await other.wait_frames(15, timeout=10)  # about 1 s of the grid profile: > 3 idle timeouts
        assert relay.state is RelayState.PLAYING and relay.running and relay._idle_handle is None
        assert relay.spawns == 2 and ffmpeg_roles() == {"camera": 1, "stdin": 1}
        assert not reader.sub.closed
        await other.stop()
        await reader.stop()


# -- 2 ----------------------------------------------------------------------------------------------
async def test_a_full_grid_can_still_expand(camera_factory, tmp_path):
    cam_a, cam_b = camera_factory(), camera_factory()
    async with engine_for(tmp_path, max_relays=2) as engine:
        a = await engine.add_stream(cam_a.url, "A")
        b = await engine.add_stream(cam_b.url, "B")
        grid_a = Reader(await engine.subscribe(a.id))
        grid_b = Reader(await engine.subscribe(b.id))
        await asyncio.gather(*(r.wait_event(EventKind.VIDEO_START) for r in (grid_a, grid_b)))
        with pytest.raises(LimitError) as refused:
            await engine.subscribe(a.id, "full")
        assert refused.value.message == LIMIT_MESSAGE
        # each camera: its source relay and its grid transcode (max_relays counts the tiles)
        assert engine.relay(a.id, "full") is None and ffmpeg_roles() == {"camera": 2, "stdin": 2}

        relay_a = engine.relay(a.id)
        assert relay_a is not None
        grid_a.sub.pause()  # A's grid tile is paused: its relay gives its place up at once
        full_a = Reader(await engine.subscribe(a.id, "full"))
        await full_a.wait_event(EventKind.VIDEO_START, timeout=15)
        await full_a.wait_bytes(PACKET_SIZE * 20)
        await wait_until(lambda: relay_a.state is RelayState.IDLE, 5, "A's grid relay to sleep")
        assert not relay_a.running and engine.relay(a.id) is relay_a
        assert not grid_a.sub.closed and grid_a.sub in relay_a.subscriptions
        assert engine.running_relays == 2
        await wait_until(lambda: ffmpeg_roles() == {"camera": 2, "stdin": 2}, 5, "A's grid FFmpeg to stop")
        source_a = engine.relay(a.id, "source")
        assert source_a is not None and source_a.spawns == 1, "the expanded view fed from A's one session"
        assert rtsp_sessions(cam_a.port) == 1

        # the viewer level: LIMIT is not fatal, and the viewer subscribes once a place frees
        channel = MemoryChannel()
        viewer = ViewerConnection(engine, b.id, "full", channel)
        try:
            await viewer.start()
            errors = channel.of_type("error")
            assert errors == [{"type": "error", "code": "LIMIT", "message": LIMIT_MESSAGE, "fatal": False}]
            assert channel.closed is None and viewer.subscription is None
            assert engine.relay(b.id, "full") is None

            full_a.sub.pause()  # the only viewer of A's full relay pauses: a place frees at once
            # well before A's full relay would stop on its own (idle_timeout, 10 s)
            await wait_until(lambda: channel.of_type("video_start"), 5, "the waiting viewer's video_start")
            await wait_until(lambda: channel.binary_bytes >= PACKET_SIZE * 20, 10, "the viewer's video")
            assert channel.closed is None and viewer.subscription is not None
            start = channel.of_type("video_start")[0]
            assert (start["width"], start["height"]) == (640, 360)
            relay_full_a = engine.relay(a.id, "full")
            assert relay_full_a is not None
            await wait_until(lambda: relay_full_a.state is RelayState.IDLE, 5, "A's full relay to sleep")
            assert not full_a.sub.closed and engine.running_relays == 2
            # nobody watches A now: its source relay goes with its last transcode, and B's feeds both of B's
            await wait_until(lambda: ffmpeg_roles() == {"camera": 1, "stdin": 2}, 5, "A's FFmpegs to stop")
            assert engine.relay(a.id, "source") is None and engine.running_relays == 2
            await wait_until(lambda: rtsp_sessions(cam_a.port) == 0, 5, "A's camera session to close")
            assert rtsp_sessions(cam_b.port) == 1
        finally:
            await viewer.close()
        for reader in (grid_a, grid_b, full_a):
            await reader.stop()


# found by this file: the viewer took the engine's capacity event only once it waited, after sending LIMIT,
# so a place freed meanwhile was missed until the next, unrelated change (fixed in 12f26d3)
async def test_a_place_freed_while_the_viewer_is_told_limit_is_taken(camera, tmp_path):
    async with engine_for(tmp_path, max_relays=1, idle_timeout=30) as engine:
        stream = await engine.add_stream(camera.url)
        grid = Reader(await engine.subscribe(stream.id))
        await grid.wait_event(EventKind.VIDEO_START)

        class PausingChannel(MemoryChannel):
            """The grid tile's pause is handled while the LIMIT message is on its way to this viewer."""

            async def send_json(self, message: dict[str, Any]) -> None:
                if message.get("code") == "LIMIT":
                    grid.sub.pause()  # the only running relay is unwatched now: its place is free
                await super().send_json(message)

        channel = PausingChannel()
        viewer = ViewerConnection(engine, stream.id, "full", channel)
        try:
            await viewer.start()
            assert channel.of_type("error")[0]["code"] == "LIMIT" and channel.closed is None
            await wait_until(lambda: channel.of_type("video_start"), 5, "the waiting viewer's video_start")
        finally:
            await viewer.close()
            await grid.stop()


# -- 3 ----------------------------------------------------------------------------------------------
async def test_an_unexpected_error_in_the_run_loop_restarts_the_relay(camera, tmp_path, monkeypatch, caplog):
    async with engine_for(tmp_path, backoff_initial=0.1) as engine:
        stream = await engine.add_stream(camera.url)
        reader = Reader(await engine.subscribe(stream.id))
        await reader.wait_event(EventKind.VIDEO_START)
        relay, source = engine.relay(stream.id), engine.relay(stream.id, "source")
        assert relay is not None and relay.process is not None
        assert source is not None and source.process is not None
        first_pid = relay.process.pid

        # Fault injection: a bug in the relay's own code cannot be produced on purpose, so one call of
        # its fan-out raises as a bug would; every later call is the real one (the fault is gone).
        real_fan_out = relay._fan_out
        faults: list[str] = []

        def fan_out_with_a_bug(segment):
            if not faults:
                faults.append("raised")
                raise RuntimeError("injected fault")
            return real_fan_out(segment)

        monkeypatch.setattr(relay, "_fan_out", fan_out_with_a_bug)
        error = await reader.wait_event(EventKind.ERROR)
        assert error.message is not None
        assert error.message.startswith("the relay failed unexpectedly"), error.message
        assert "RuntimeError: injected fault" in error.message
        await reader.wait_event(EventKind.STATE, state=RelayState.RECONNECTING)
        await reader.wait_event(EventKind.VIDEO_START, count=2, timeout=15)
        await reader.wait_bytes(PACKET_SIZE * 20)
        assert relay.state is RelayState.PLAYING and relay.spawns == 2
        assert gone(first_pid), "the first run's FFmpeg was stopped"
        # the transcode's bug did not touch the camera's session: the same source relay fed its new run
        assert engine.relay(stream.id, "source") is source and source.spawns == 1
        assert sorted(p.pid for p in ffmpeg_children()) == sorted([relay.process.pid, source.process.pid])
        await relay.stop()  # does not raise
        assert gone(relay.process.pid) and reader.sub.closed
        await wait_until(lambda: not ffmpeg_children(), 5, "the source relay to go with its transcode")

    # Engine.close() closes the store even when a relay's stop raises (after really stopping it)
    (tmp_path / "second").mkdir()
    async with engine_for(tmp_path / "second") as engine:
        stream = await engine.add_stream(camera.url)
        reader = Reader(await engine.subscribe(stream.id))
        await reader.wait_event(EventKind.VIDEO_START)
        failing = engine.relay(stream.id)
        assert failing is not None
        real_stop = failing.stop

        async def stop_then_raise(*args, **kwargs):
            await real_stop(*args, **kwargs)
            raise RuntimeError("the stop failed")

        monkeypatch.setattr(failing, "stop", stop_then_raise)
        with caplog.at_level(logging.ERROR, logger="rtsp_notebook.engine"):
            await engine.close()  # does not raise
        assert "stopping a relay failed" in caplog.text and "the stop failed" in caplog.text
        with pytest.raises(StoreError, match="the stream store is closed"):
            engine.store.store.list()
        assert not ffmpeg_children()
        await reader.stop()


# -- 4 ----------------------------------------------------------------------------------------------
async def test_cancelling_never_swallows_the_callers_cancellation(camera, tmp_path):
    # cancel_and_wait: the waiting caller (A) can be cancelled while the task it cancels (B) finishes
    release, b_cleaning_up = asyncio.Event(), asyncio.Event()

    async def stubborn() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            b_cleaning_up.set()  # B ignores the first cancel for a while: a slow cleanup
            await release.wait()
        return "finished"

    b = asyncio.create_task(stubborn())
    await wait_until(lambda: not b.done() and b.get_coro().cr_await is not None, 2, "B to start")
    a = asyncio.create_task(cancel_and_wait(b))
    await wait_until(b_cleaning_up.is_set, 2, "B to get its cancel")
    a.cancel()
    with pytest.raises(asyncio.CancelledError):
        await a
    assert a.cancelled()
    assert not b.done(), "B goes on with its cleanup"
    release.set()
    assert await b == "finished"

    # Relay.stop() in a task that is cancelled: the CancelledError propagates, and FFmpeg still stops
    async with engine_for(tmp_path, kill_grace=2.0) as engine:
        stream = await engine.add_stream(camera.url)
        reader = Reader(await engine.subscribe(stream.id))
        await reader.wait_event(EventKind.VIDEO_START)
        relay = engine.relay(stream.id)  # the grid transcode (its kill grace is at most 0.3 s)
        assert relay is not None and relay.process is not None
        pid = relay.process.pid
        os.kill(pid, signal.SIGSTOP)  # a frozen FFmpeg ignores SIGTERM: the stop takes kill_grace
        stopper = asyncio.create_task(relay.stop())
        await wait_until(lambda: relay.state is RelayState.STOPPED, 2, "the stop to begin")
        assert not gone(pid), "the stop is under way"
        stopper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stopper
        assert stopper.cancelled()
        await wait_until(lambda: gone(pid), 5, "FFmpeg to be stopped all the same")
        # and the source relay it fed from goes with it (the cancelled stop released it)
        await wait_until(lambda: not ffmpeg_children(), 5, "FFmpeg to be reaped")
        assert engine.relay(stream.id, "source") is None
        await reader.stop()


# -- 5 ----------------------------------------------------------------------------------------------
CHILD = """
import asyncio, sys
from rtsp_notebook.media.ffmpeg import Profile, find_ffmpeg, relay_argv
from rtsp_notebook.media.process import FFmpegProcess
from rtsp_notebook.media.sources import parse_source

async def main():
    argv = relay_argv(find_ffmpeg().path, parse_source(sys.argv[1]), Profile.GRID, transport="tcp")
    proc = await FFmpegProcess.spawn(argv, name="owned by a child Python")
    print(proc.pid, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_camera_with_b_frames_and_a_10_s_gop(camera_factory, tmp_path):
    camera = camera_factory(keyint=250, bframes=2)
    with keeper(camera.url) as keep:
        await wait_until(lambda: rtsp_sessions(camera.port) == 1, 10, "the keeper's RTSP session")
        # start_timeout 5 s: the camera answers within it, its next keyframe comes later
        async with engine_for(tmp_path, start_timeout=5) as engine:
            relays = lambda: [p for p in ffmpeg_children() if p.pid != keep.pid]  # noqa: E731
            stream = await engine.add_stream(camera.url)

            grid = Reader(await engine.subscribe(stream.id))
            await grid.wait_event(EventKind.VIDEO_START, timeout=25)  # a keyframe: the next is 10 s away

            # (b) an expanded view started mid-GOP plays at once from the source relay's cached GOP
            # (B-frames and all): no second session, no wait for the camera's next keyframe
            asked = time.time()
            full = Reader(await engine.subscribe(stream.id, "full"))
            started = await full.wait_event(EventKind.VIDEO_START, timeout=5)
            await full.wait_bytes(PACKET_SIZE * 20)
            assert started.at - asked < 3, "the expanded view waited for the camera's next keyframe"
            assert not [e for e in full.kinds(EventKind.STATE) if e.message == WAITING_FOR_KEYFRAME]
            assert rtsp_sessions(camera.port) == 2, "the keeper's session and the source relay's"

            await engine.remove_stream(stream.id)
            assert grid.closed == full.closed == "ended"

            # a source relay started mid-GOP (the stream added again: a new session) says it waits for a
            # keyframe, and the tile it feeds is told the same; then it plays
            other = await engine.add_stream(camera.url)
            late = Reader(await engine.subscribe(other.id))
            waiting = await late.wait_event(EventKind.STATE, message=WAITING_FOR_KEYFRAME, timeout=5)
            assert waiting.state is RelayState.CONNECTING
            await late.wait_event(EventKind.VIDEO_START, timeout=25)
            await late.wait_bytes(PACKET_SIZE * 20)
            assert late.kinds(EventKind.VIDEO_START)[0].at - waiting.at > 5, "it waited past start_timeout"
            errors = [(e.profile, e.message) for r in (grid, full, late) for e in r.kinds(EventKind.ERROR)]
            assert not errors, errors

            # (c) the stream is deleted while its relay waits for a keyframe: no FFmpeg stays
            await engine.remove_stream(other.id)
            again = await engine.add_stream(camera.url)
            waiter = Reader(await engine.subscribe(again.id))
            await waiter.wait_event(EventKind.STATE, message=WAITING_FOR_KEYFRAME, timeout=5)
            # its source relay's FFmpeg only: the transcode starts its own at the source's first bytes
            assert not waiter.kinds(EventKind.VIDEO_START) and len(relays()) == 1
            await engine.remove_stream(again.id)
            await wait_until(lambda: not relays(), 3, "the waiting relay's FFmpeg to stop after the delete")
            await wait_until(lambda: waiter.closed == "ended", 3, "the waiting viewer to be ended")
            assert late.closed == "ended"

        # (d) no FFmpeg outlives its owner, even a SIGKILLed one, even an FFmpeg that has not written yet
        owner = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, camera.url, cwd=ROOT, stdout=asyncio.subprocess.PIPE
        )
        orphan: int | None = None
        try:
            assert owner.stdout is not None
            line = await asyncio.wait_for(owner.stdout.readline(), 20)
            orphan = int(line)
            await wait_until(lambda: rtsp_sessions(camera.port) == 2, 10, "the owned FFmpeg's session")
            assert not gone(orphan)
            owner.kill()
            await owner.wait()
            await wait_until(lambda: gone(orphan), 3, "the owner's FFmpeg to die with it")
            await wait_until(lambda: rtsp_sessions(camera.port) == 1, 5, "its session to close")
        finally:
            if owner.returncode is None:
                owner.kill()
                await owner.wait()
            if orphan is not None and not gone(orphan):
                os.kill(orphan, signal.SIGKILL)


async def test_a_camera_with_b_frames_and_a_10_s_gop_is_probed_mid_gop(camera_factory, tmp_path):
    camera = camera_factory(keyint=250, bframes=2)
    with keeper(camera.url):
        await wait_until(lambda: rtsp_sessions(camera.port) == 1, 10, "the keeper's RTSP session")
        async with engine_for(tmp_path) as engine:
            stream = await engine.add_stream(camera.url)
            reader = Reader(await engine.subscribe(stream.id))
            await reader.wait_event(EventKind.VIDEO_START, timeout=25)  # a keyframe: the next is 10 s away
            await reader.stop()
            # (a) codec and size come from the SDP, with no wait for the next keyframe
            result = await probe(ffmpeg_info().path, parse_source(camera.url), transport="auto", timeout=5)
            assert (result.codec, result.width, result.height) == ("h264", 640, 360)


# -- 6 ----------------------------------------------------------------------------------------------
async def test_a_udp_only_camera(camera_factory, tmp_path):
    camera = camera_factory(protocols="udp")
    result = await probe(ffmpeg_info().path, parse_source(camera.url), transport="auto", timeout=5)
    assert (result.codec, result.width, result.height) == ("h264", 640, 360)
    with pytest.raises(TransportRefusedError):
        await probe(ffmpeg_info().path, parse_source(camera.url), transport="tcp", timeout=5)

    async with engine_for(tmp_path, backoff_initial=0.2, backoff_max=1.0, idle_timeout=0.2) as engine:
        stream = await engine.add_stream(camera.url, options={"transport": "auto"})
        grid = Reader(await engine.subscribe(stream.id))
        await grid.wait_event(EventKind.VIDEO_START, timeout=20)
        await grid.wait_bytes(PACKET_SIZE * 20)
        source = engine.relay(stream.id, "source")  # the only relay that opens the camera
        assert source is not None and transport_of(source.argv) == "udp"
        assert engine._transports == {stream.id: "udp"}

        full = Reader(await engine.subscribe(stream.id, "full"))
        await full.wait_event(EventKind.VIDEO_START, timeout=20)
        assert engine.relay(stream.id, "source") is source, "the expanded view shares the camera's session"
        await full.stop()
        await grid.stop()
        await wait_until(lambda: not engine.relays, 5, "the idle relays to go")

        # the camera's next session (a new source relay) starts with what worked
        full = Reader(await engine.subscribe(stream.id, "full"))
        await full.wait_event(EventKind.VIDEO_START, timeout=20)
        source = engine.relay(stream.id, "source")
        assert source is not None and transport_of(source.argv) == "udp"
        assert source.spawns == 1 and not full.kinds(EventKind.ERROR), "UDP first: no 461 on the way"
        await full.stop()
        await engine.remove_stream(stream.id)

        forced = await engine.add_stream(camera.url, options={"transport": "tcp"})
        reader = Reader(await engine.subscribe(forced.id))
        error = await reader.wait_event(EventKind.ERROR, timeout=15)
        assert error.code == "UNSUPPORTED"
        assert error.message is not None and "RTSP 461" in error.message, error.message
        source = engine.relay(forced.id, "source")  # its error reaches the grid viewer word for word
        assert source is not None and isinstance(source.last_error, TransportRefusedError)
        assert transport_of(source.argv) == "tcp" and source.fallback_argv is None
        await reader.wait_event(EventKind.STATE, state=RelayState.ERROR)
        await reader.wait_event(EventKind.ERROR, count=2, timeout=15)  # retried, refused the same way
        messages = [e.message or "" for e in reader.kinds(EventKind.ERROR)]
        assert all("RTSP 461" in m and "video format is not supported" not in m for m in messages)
        assert not reader.kinds(EventKind.VIDEO_START)
        await reader.stop()


# -- 7 ----------------------------------------------------------------------------------------------
def test_error_classification_reads_the_newest_lines():
    old_warning = "[rtsp @ 0x55d0c8a0e400] RTCP feedback (AVPF) not supported, ignoring"
    chatter = [f"[h264 @ 0x55d0c8b1f000] concealing {n} DC, {n} AC, {n} MV errors" for n in range(10)]
    refused = [
        "[tcp @ 0x55d0c8a0f100] Connection to tcp://127.0.0.1:8554?timeout=0 failed: Connection refused",
        "[in#0 @ 0x55d0c8a0e000] Error opening input: Connection refused",
        "Error opening input file rtsp://127.0.0.1:8554/cam.",
        "Error opening input files: Connection refused",
    ]
    error = classify_stderr("\n".join([old_warning, *chatter, *refused]), 1)
    assert type(error) is UnreachableError and error.code == "UNREACHABLE"
    assert "refused the connection" in error.message

    # an old line that an earlier rule matches must not win either: the first 401 of a digest
    # handshake, then a camera that went away
    challenge = "[rtsp @ 0x55d0c8a0e400] method DESCRIBE failed: 401 Unauthorized"
    error = classify_stderr("\n".join([challenge, *chatter, *refused]), 1)
    assert type(error) is UnreachableError, error.message

    # an old warning and a last line no rule knows: FFmpeg's own words, not "not supported"
    ended = [*chatter, "[in#0 @ 0x55d0c8a0e000] Invalid data found when processing input"]
    error = classify_stderr("\n".join([old_warning, *ended]), 1)
    assert error.code == "FFMPEG_EXIT" and "video format" not in error.message
    # (without FFmpeg's "[in#0 @ 0x…]" tag: no memory address reaches a message)
    assert error.message == "FFmpeg exited with code 1: Invalid data found when processing input"

    transport = classify_stderr(
        "\n".join(
            [
                "[in#0 @ 0x5563984c2180] method SETUP failed: 461 (Unsupported transport)",
                "[in#0 @ 0x5563984c1e00] Error opening input: Protocol not supported",
                "Error opening input file rtsp://127.0.0.1:34963/cam.",
                "Error opening input files: Protocol not supported",
            ]
        ),
        163,
    )
    assert type(transport) is TransportRefusedError and transport.code == "UNSUPPORTED"
    assert "RTSP 461" in transport.message and "video format" not in transport.message


# -- 8 ----------------------------------------------------------------------------------------------
async def test_probes_are_bounded(tmp_path, monkeypatch):
    # 1 s instead of 5 s per probe: five probes in two slots take three rounds, all of them timeouts
    monkeypatch.setattr(rtsp_notebook.api.service, "PROBE_TIMEOUT", 1.0)
    accepted = 0
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        held.append(writer)
        await reader.read()  # never answers; returns when the client hangs up

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = Engine(
        AsyncStore(StreamStore(tmp_path / "streams.db")), ffmpeg_info(), EngineConfig(max_probes=2)
    )
    service = StreamService(engine, ThumbnailService(engine))
    peak, done = 0, asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, len(ffmpeg_children()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), 0.02)

    try:
        sampler = asyncio.create_task(sample())
        results = await asyncio.gather(
            *(service.add_stream({"url": f"rtsp://127.0.0.1:{port}/x{i}"}, check=True) for i in range(5)),
            return_exceptions=True,
        )
        done.set()
        await sampler
        assert all(isinstance(r, ProbeFailedError) and r.code == "TIMEOUT" for r in results), results
        assert peak == 2, f"{peak} probe FFmpegs at once"
        assert accepted == 5
        assert await engine.store.list() == []
    finally:
        done.set()
        await service.close()
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def test_a_relay_that_went_idle_leaves_before_the_next_one_starts(camera, tmp_path):
    """A viewer that comes back while the idle relays' FFmpegs are still stopping waits for them: the camera
    never has two of our sessions (source relays), nor a profile two transcodes (CI once saw two FFmpegs
    after viewers came and went). Found here: a transcode made a new source relay while the old one
    stopped."""
    async with engine_for(tmp_path, idle_timeout=0.1, kill_grace=1.0) as engine:
        stream = await engine.add_stream(camera.url)
        first = Reader(await engine.subscribe(stream.id))
        await first.wait_bytes(PACKET_SIZE * 10)
        relay, source = engine.relay(stream.id), engine.relay(stream.id, "source")
        assert relay is not None and relay.process is not None
        assert source is not None and source.process is not None
        old = [source.process.pid, relay.process.pid]
        for pid in old:  # stops that take the whole kill grace (SIGTERM waits, SIGKILL ends them)
            os.kill(pid, signal.SIGSTOP)
        try:
            await first.stop()
            await wait_until(lambda: not engine.relays, 5, "the idle relays to be forgotten")
            assert psutil.pid_exists(old[0]), "the old source FFmpeg (the camera's session) is still stopping"
            most = {"camera": 0, "stdin": 0}

            async def sample() -> None:
                while True:
                    for role, count in ffmpeg_roles().items():
                        most[role] = max(most[role], count)
                    await asyncio.sleep(0.01)  # a sampling interval, not a wait for a condition

            sampler = asyncio.get_running_loop().create_task(sample())
            second = Reader(await engine.subscribe(stream.id))
            await second.wait_bytes(PACKET_SIZE * 10)
            await cancel_and_wait(sampler)
            assert most == {"camera": 1, "stdin": 1}, f"FFmpegs at once for one camera and profile: {most}"
            assert all(gone(pid) for pid in old)
            await second.stop()
        finally:
            for pid in old:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


async def test_max_transcodes_limits_mpeg1_and_not_the_cameras_own_video(camera_factory, tmp_path):
    """A copy of a camera's H.264 costs ~0.01 core, an MPEG-1 transcode ~10x more: ``max_transcodes``
    bounds the transcodes only (issue 14), and a transcode nobody watches gives its place up."""
    cam_a, cam_b = camera_factory(), camera_factory()
    async with engine_for(tmp_path, max_transcodes=1) as engine:
        a = await engine.add_stream(cam_a.url, "A")
        b = await engine.add_stream(cam_b.url, "B")
        grid_a = Reader(await engine.subscribe(a.id))  # a JSMpeg tile: A's copy and its transcode
        await grid_a.wait_event(EventKind.VIDEO_START)
        with pytest.raises(LimitError) as refused:
            await engine.subscribe(b.id)
        assert refused.value.message == (
            "1 MPEG-1 transcodes are running, the most this server runs at once (max_transcodes): waiting "
            "for one to stop. Pause or close a tile that plays MPEG-1 (tiles that play H.264 need none), or "
            "raise RtspNotebookApp.max_transcodes"
        )
        h264_b = Reader(await engine.subscribe(b.id, "grid", "h264"))  # B's own video: no transcode
        await h264_b.wait_event(EventKind.VIDEO_START)
        assert engine.running_transcodes == 1 and engine.running_relays == 2
        grid_a.sub.pause()  # nobody watches A's transcode: it gives its place up
        grid_b = Reader(await engine.subscribe(b.id))
        await grid_b.wait_event(EventKind.VIDEO_START, timeout=15)
        assert engine.running_transcodes == 1
        for reader in (grid_a, h264_b, grid_b):
            await reader.stop()
