"""A real ``jupyter server`` process with the extension enabled by the installed config, under
``/user/test/`` with the token ``secret-token``, a fresh store in ``tmp``, and the rtsp API at hand::

    server = Server(tmp_path)             # returns once the server answers /rtsp/api/health
    server.call("POST", "streams", {"url": camera.url})
    server.stop()                         # SIGKILL; send SIGTERM/SIGINT to ``server.proc`` for a clean exit

Used by the tests of the server process and by the bench (fan-out CPU, the server's figures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .helpers import wait_until_sync


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
