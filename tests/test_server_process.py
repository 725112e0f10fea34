"""A real ``jupyter server`` process with the extension enabled by the installed config: it lists the
extension, relays a camera, and leaves no FFmpeg behind when stopped by SIGTERM or SIGINT."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from .helpers import wait_until_sync


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


class Server:
    def __init__(self, tmp: Path, extra: list[str] | None = None) -> None:
        self.runtime = tmp / "runtime"
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(self.runtime), "RTSP_NOTEBOOK_DB": str(tmp / "s.db")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--ip=127.0.0.1", "--port=0", "--no-browser",
             "--allow-root", "--IdentityProvider.token=secret-token", f"--ServerApp.root_dir={tmp}",
             "--ServerApp.base_url=/user/test/", *(extra or [])],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            info = wait_until_sync(self._info, 60, "the server's runtime file")
            self.base = info["url"].rstrip("/") + "/"
            # the runtime file can appear before the server listens (measured: 2 starts in 12)
            wait_until_sync(self._answers, 30, "the server to accept connections")
        except BaseException:
            self.stop()  # a server that did not come up is not left running
            raise

    def _answers(self) -> bool:
        try:
            return self.call("GET", "health")["status"] == "healthy"
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError):
                raise
            assert self.proc.poll() is None, "the server exited"
            return False

    def _info(self):
        for path in self.runtime.glob(f"jpserver-{self.proc.pid}.json"):
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:  # seen once in CI: the file exists but is not written yet
                return None
        assert self.proc.poll() is None, self.proc.stderr.read().decode() if self.proc.stderr else ""
        return None

    def call(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + "rtsp/api/" + path, data=data, method=method)
        request.add_header("Authorization", "token secret-token")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.proc.stderr:
            self.proc.stderr.close()


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

        def pids():
            rows = server.call("GET", "stats")
            found = [r["pid"] for row in rows for r in row["relays"] if r["pid"] and r["state"] == "playing"]
            return found if len(found) == 2 else None

        ffmpegs = [psutil.Process(pid) for pid in wait_until_sync(pids, 30, "two playing relays")]
        assert all("ffmpeg" in p.name() for p in ffmpegs)
        server.proc.send_signal(sig)
        assert server.proc.wait(30) is not None
        log = server.proc.stderr.read().decode() if server.proc.stderr else ""
        # SIGTERM runs Jupyter's cleanup (stop_extension); SIGINT without a terminal skips it, and the
        # extension's exit hook kills what is left
        expected = {
            signal.SIGTERM: "rtsp-notebook: stopped 2 relays and their FFmpeg processes",
            signal.SIGINT: "rtsp-notebook: killed 2 FFmpeg processes at exit",
        }[sig]
        assert expected in log, log[-2000:]
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
