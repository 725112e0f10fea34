"""Fault injection beyond the relay's own tests (tests/test_relay.py: camera dropped and back, SIGSTOPped
camera, FFmpeg SIGKILLed, slow and stuck readers; tests/test_store.py: kill -9 mid-write): many
viewers coming and going leave nothing behind, and a server stopped with ten relays running leaves
no orphan."""

from __future__ import annotations

import asyncio
import json
import signal

import psutil
import pytest
from traitlets.config import Config

from .harness.helpers import ffmpeg_children, ffmpeg_roles, wait_until, wait_until_sync
from .harness.server import Server

CYCLES = 200


def server_tasks() -> int:
    """Tasks of this loop but the test's own WebSocket clients' frame loops (tornado ends those
    lazily after the close handshake; the server's side is what must not leak)."""

    def client(task: asyncio.Task) -> bool:
        owner = getattr(task.get_coro(), "cr_frame", None)
        handler = getattr(owner.f_locals.get("self"), "handler", None) if owner else None
        return type(handler).__name__ == "WebSocketClientConnection"

    return sum(not client(t) for t in asyncio.all_tasks())


@pytest.fixture
def jp_server_config(tmp_path):
    return Config({
        "ServerApp": {"jpserver_extensions": {"rtsp_notebook": True}},
        "RtspNotebookApp": {"store_path": str(tmp_path / "streams.db"), "idle_timeout": 0.3},
    })  # fmt: skip


async def test_200_viewers_come_and_go_leaving_no_process_fd_or_task(jp_fetch, jp_ws_fetch, camera):
    response = await jp_fetch("rtsp", "api", "streams", method="POST", body=json.dumps({"url": camera.url}))
    sid = json.loads(response.body)["id"]
    me = psutil.Process()

    async def cycle(read_video: bool) -> None:
        conn = await jp_ws_fetch("rtsp", "ws", "stream", params={"id": sid})
        try:
            while read_video:  # wait for video on some cycles, hang up at once on the others
                message = await conn.read_message()
                assert message is not None, "the server closed the socket"
                if isinstance(message, bytes):
                    break
        finally:
            conn.close()

    await cycle(True)  # warm: the relay, its FFmpeg and the server's lazily made objects exist
    await wait_until(lambda: not ffmpeg_children(), 10, "the relay to stop after its idle timeout")
    fds, tasks = me.num_fds(), server_tasks()
    for i in range(CYCLES):
        await cycle(read_video=i % 10 == 0)
    # the camera's one session (the source relay) and one grid transcode fed from it, however many came
    roles = ffmpeg_roles()
    assert roles["camera"] <= 1 and roles["stdin"] <= 1, f"one FFmpeg of each at most, not {roles}"
    await wait_until(lambda: not ffmpeg_children(), 10, "no FFmpeg once the last viewer left")
    await wait_until(lambda: server_tasks() <= tasks, 10, "the viewers' tasks to end")
    # the clients' sockets are this process's too: each one closed must be gone
    await wait_until(lambda: me.num_fds() <= fds + 2, 10, f"file descriptors back near {fds}")
    stats = json.loads((await jp_fetch("rtsp", "api", "stats", method="GET")).body)
    assert stats[0]["viewers"] == 0


def test_sigterm_with_ten_relays_running_leaves_no_orphan(tmp_path):
    server = Server(tmp_path)
    try:
        patterns = ["testsrc2", "smptebars", "mandelbrot", "life", "cellauto", "rgbtestsrc", "yuvtestsrc",
                    "pal75bars", "gradients", "colorspectrum"]  # fmt: skip
        for pattern in patterns:
            server.call("POST", "streams", {
                "url": f"demo://{pattern}?size=320x180&fps=10", "options": {"keep_alive": True},
            })  # fmt: skip

        def pids():
            """The FFmpegs of every stream's two relays once all play: its source relay (the demo picture
            encoded once) and the keep-alive grid transcode fed from it."""
            rows = server.call("GET", "stats")
            playing = [(r["profile"], r["pid"]) for row in rows for r in row["relays"]
                       if r["pid"] and r["state"] == "playing"]  # fmt: skip
            every = sorted(["grid", "source"] * len(patterns))
            return [pid for _, pid in playing] if sorted(p for p, _ in playing) == every else None

        ffmpegs = [psutil.Process(pid) for pid in wait_until_sync(pids, 60, "twenty playing relays")]
        assert len(ffmpegs) == 2 * len(patterns)
        everything = psutil.Process(server.proc.pid).children(recursive=True)
        assert set(ffmpegs) <= set(everything)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) is not None
        _, alive = psutil.wait_procs(everything, timeout=2)
        assert not alive, f"left behind after SIGTERM: {alive}"
        log = server.proc.stderr.read().decode() if server.proc.stderr else ""
        assert "rtsp-notebook: stopped 20 relays and their FFmpeg processes" in log, log[-2000:]
    finally:
        server.stop()
