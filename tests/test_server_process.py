"""A real ``jupyter server`` process with the extension enabled by the installed config: it lists the
extension, relays a camera, and leaves no FFmpeg behind when stopped by SIGTERM or SIGINT."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import psutil
import pytest

from .harness.helpers import wait_until_sync
from .harness.server import Server


def test_the_installed_config_enables_the_extension():
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_server", "extension", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = out.stdout + out.stderr
    assert "rtsp_notebook \x1b[32menabled" in text or "rtsp_notebook enabled" in text, text
    assert "rtsp_notebook 0.1.0 \x1b[32mOK" in text or "rtsp_notebook 0.1.0 OK" in text, text


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_server_exit_leaves_no_ffmpeg(camera, tmp_path, sig):
    server = Server(tmp_path)
    try:
        assert server.call("GET", "health")["status"] == "healthy"
        server.call("POST", "streams", {"url": camera.url, "options": {"keep_alive": True}})
        server.call(
            "POST",
            "streams",
            {"url": "demo://smptebars?size=640x360&fps=25", "options": {"keep_alive": True}},
        )

        # each keep-alive stream plays its grid tile: the source relay (the only one that opens the
        # camera) and the grid's MPEG-1 transcode fed from it on stdin, an FFmpeg each
        def pids():
            rows = server.call("GET", "stats")
            found = {
                (row["stream_id"], r["profile"]): r["pid"]
                for row in rows
                for r in row["relays"]
                if r["pid"] and r["state"] == "playing"
            }
            return found if len(found) == 4 else None

        found = wait_until_sync(pids, 30, "two streams' source and grid relays playing")
        assert sorted(profile for _, profile in found) == ["grid", "grid", "source", "source"], found
        ffmpegs = [psutil.Process(pid) for pid in found.values()]
        assert all("ffmpeg" in p.name() for p in ffmpegs)
        server.proc.send_signal(sig)
        assert server.proc.wait(30) is not None
        log = server.proc.stderr.read().decode() if server.proc.stderr else ""
        # SIGTERM runs Jupyter's cleanup (stop_extension); SIGINT without a terminal skips it, and the
        # extension's exit hook kills what is left: a transcode whose stdin closed as the server fell may
        # have ended on its own by then (killed 3 in one CI run of 4 FFmpegs)
        expected = {
            signal.SIGTERM: r"rtsp-notebook: stopped 4 relays and their FFmpeg processes",
            signal.SIGINT: r"rtsp-notebook: killed [1-4] FFmpeg processes at exit",
        }[sig]
        assert re.search(expected, log), log[-2000:]
        _, alive = psutil.wait_procs(ffmpegs, timeout=1)
        assert not alive, f"FFmpeg left behind after {sig.name}: {alive}"
    finally:
        server.stop()


def test_relay_warnings_go_to_the_servers_log(tmp_path):
    """A relay's warning is a record of the server's log (its handler and format, "[W <time> ServerApp]"),
    not a bare line from Python's last-resort handler on stderr."""
    server = Server(tmp_path)
    try:
        with socket.socket() as probe:  # a port nobody listens on: the camera refuses the connection
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        server.call(
            "POST", "streams", {"url": f"rtsp://127.0.0.1:{closed_port}/x", "options": {"keep_alive": True}}
        )

        def refused():
            rows = server.call("GET", "stats")
            return any(row["last_error_code"] == "UNREACHABLE" for row in rows)

        wait_until_sync(refused, 30, "the relay's UNREACHABLE error")
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) is not None
        log = server.proc.stderr.read().decode() if server.proc.stderr else ""
        lines = [line for line in log.splitlines() if "the camera refused the connection" in line]
        assert lines, log[-2000:]
        assert all(re.match(r"\[W [^\]]*\] relay ", line) for line in lines), lines
    finally:
        server.stop()
