"""The test camera, seen from the tests: a GStreamer RTSP server in a child process.

``camera_server.py`` (beside this module) runs under Debian's ``/usr/bin/python3`` (which has the GStreamer
bindings); this module starts it, waits for its ``READY`` line, and stops, restarts, pauses and resumes it::

    with TestCamera(width=1280, height=720, user="alice", password="s3cret") as cam:   # auth="digest" too
        cam.url                      # rtsp://alice:s3cret@127.0.0.1:<port>/cam
        cam.pause()                  # SIGSTOP: a camera that hangs
        cam.resume()
        cam.restart()                # same port
        cam.set_pattern("white")     # switch the picture now; returns when its first white picture left
        cam.clients()                # RTSP clients connected now (one per FFmpeg reading it)
        cam.peak_clients()           # the most connected at once since this start

    cam = TestCamera(user="alice", password="s3cret", request_log=tmp_path / "requests.log")
    cam.logins()                     # login attempts so far (DESCRIBE requests with credentials)
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import quote

__all__ = ["SYSTEM_PYTHON", "CameraError", "TestCamera", "camera_available"]

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).resolve().with_name("camera_server.py")
HOST = "127.0.0.1"
PASSWORD_ENV = "RTSP_TEST_CAMERA_PASSWORD"  # how the password reaches camera_server.py

_CHECK = (
    "import gi\n"
    "gi.require_version('Gst', '1.0')\n"
    "gi.require_version('GstRtspServer', '1.0')\n"
    "from gi.repository import Gst, GstRtspServer\n"
    "Gst.init(None)\n"
    "missing = [e for e in ('videotestsrc', 'timeoverlay', 'x264enc', 'rtph264pay')\n"
    "           if Gst.ElementFactory.find(e) is None]\n"
    "if missing:\n"
    "    raise SystemExit('missing GStreamer elements: ' + ', '.join(missing))\n"
)


class CameraError(RuntimeError):
    """The camera process could not be started."""


@functools.cache
def camera_available() -> tuple[bool, str]:
    """Whether the test camera can run here, and if not, why (cached for the process)."""
    if not Path(SYSTEM_PYTHON).exists():
        return False, f"{SYSTEM_PYTHON} not found (install python3-gi and the GStreamer RTSP server)"
    try:
        result = subprocess.run(
            [SYSTEM_PYTHON, "-c", _CHECK], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"cannot run {SYSTEM_PYTHON}: {exc}"
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        why = lines[-1] if lines else f"exit status {result.returncode}"
        return False, (
            f"GStreamer RTSP server not usable from {SYSTEM_PYTHON}: {why} (Debian packages: "
            "gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0 gstreamer1.0-plugins-*)"
        )
    return True, ""


class TestCamera:
    """A synthetic RTSP camera on 127.0.0.1, served by ``camera_server.py`` in its own process group."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(
        self,
        width: int = 640,
        height: int = 360,
        fps: int = 25,
        pattern: str = "ball",
        codec: str = "h264",
        user: str | None = None,
        password: str | None = None,
        auth: str = "basic",
        port: int = 0,
        keyint: int | None = None,
        bframes: int = 0,
        protocols: str = "tcp+udp",
        horizontal_speed: int = 0,
        mount: str = "/cam",
        start_timeout: float = 20.0,
        stop_timeout: float = 5.0,
        request_log: str | os.PathLike[str] | None = None,
    ) -> None:
        if (user is None) != (password is None):
            raise ValueError("user and password go together")
        if codec not in ("h264", "h265", "mjpeg"):
            raise ValueError(f"codec must be 'h264', 'h265' or 'mjpeg', not {codec!r}")
        if auth not in ("basic", "digest"):
            raise ValueError(f"auth must be 'basic' or 'digest', not {auth!r}")
        self.width = width
        self.height = height
        self.fps = fps
        self.pattern = pattern
        self.codec = codec
        self.user = user
        self.password = password
        self.auth = auth  # how the user logs in: "basic", or "digest" like most IP cameras
        self.keyint = keyint
        self.bframes = bframes  # B-frames between references (x264 without zerolatency), like many cameras
        self.protocols = protocols  # "udp": RTP over UDP only (VLC's server, older cameras) -> TCP gets 461
        self.horizontal_speed = horizontal_speed  # pixels a frame the pattern scrolls by
        self.mount = mount
        self.start_timeout = start_timeout
        self.request_log = Path(request_log) if request_log is not None else None  # see describes()
        self.stop_timeout = stop_timeout
        self._port = port  # 0 until the first start picks one; kept for every later start
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._out = b""  # what the server printed after READY and was not read yet
        self._talk = threading.Lock()  # one command and its answer at a time (set_pattern, clients)
        self._paused = False
        self.returncode: int | None = None
        self.start_seconds: float | None = None  # spawn -> READY of the last start

    # --- state ------------------------------------------------------------------------------------------

    @property
    def port(self) -> int | None:
        """The TCP port, once a start has bound one (``None`` before that, unless given)."""
        return self._port or None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def paused(self) -> bool:
        return self._paused and self.running

    @property
    def url(self) -> str:
        """The camera's URL, with its credentials when it has some."""
        return self.url_with(self.user, self.password)

    def url_with(self, user: str | None, password: str | None) -> str:
        """The camera's URL with other credentials (``None`` for none), e.g. to test a wrong password."""
        if not self._port:
            raise CameraError("the camera has no port yet: start it first")
        userinfo = ""
        if user is not None:
            userinfo = quote(user, safe="")
            if password is not None:
                userinfo += ":" + quote(password, safe="")
            userinfo += "@"
        return f"rtsp://{userinfo}{HOST}:{self._port}{self.mount}"

    def __repr__(self) -> str:
        state = "paused" if self.paused else "running" if self.running else "stopped"
        return (
            f"<TestCamera {self.codec} {self.width}x{self.height}@{self.fps} {self.pattern} "
            f"port={self.port} pid={self.pid} {state}>"
        )

    # --- life cycle -------------------------------------------------------------------------------------

    def _command(self) -> list[str]:
        cmd = [
            SYSTEM_PYTHON,
            str(SERVER_SCRIPT),
            f"--port={self._port}",
            f"--width={self.width}",
            f"--height={self.height}",
            f"--fps={self.fps}",
            f"--pattern={self.pattern}",
            f"--codec={self.codec}",
            f"--mount={self.mount}",
            "--exit-on-stdin-eof",  # we hold its stdin: if this process dies, the camera stops too
        ]
        if self.keyint is not None:
            cmd.append(f"--keyint={self.keyint}")
        if self.bframes:
            cmd.append(f"--bframes={self.bframes}")
        if self.protocols != "tcp+udp":
            cmd.append(f"--protocols={self.protocols}")
        if self.horizontal_speed:
            cmd.append(f"--horizontal-speed={self.horizontal_speed}")
        if self.request_log is not None:
            cmd.append(f"--request-log={self.request_log}")
        if self.user is not None:
            cmd.append(f"--user={self.user}")  # the password goes in the environment, out of argv
            cmd.append(f"--auth={self.auth}")
        return cmd

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
        if self.password is not None:
            env[PASSWORD_ENV] = self.password
        return env

    def start(self) -> TestCamera:
        """Spawn the server and wait for its READY line; raises :class:`CameraError` on failure."""
        if self.running:
            return self
        self._reap()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _reap)
        began = time.monotonic()
        self._proc = subprocess.Popen(
            self._command(),
            env=self._environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,  # its own process group: signals reach only the camera
        )
        self._paused = False
        self.returncode = None
        self._out = b""
        try:
            line = self._read_ready_line(began + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        prefix = f"READY rtsp://{HOST}:"
        if not line.startswith(prefix):
            self.stop()
            raise CameraError(f"unexpected first line from the camera: {line!r}")
        port = int(line[len(prefix) :].split("/", 1)[0])
        if self._port and port != self._port:
            self.stop()
            raise CameraError(f"the camera bound port {port}, not {self._port}")
        self._port = port
        return self

    def _read_ready_line(self, deadline: float) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CameraError(
                        f"the camera did not print READY within {self.start_timeout:g} s{self._stderr_tail()}"
                    )
                if not selector.select(remaining):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:  # EOF: the server ended (or closed its stdout) before it served
                    try:
                        status = f"exited with status {self._proc.wait(timeout=self.stop_timeout)}"
                    except subprocess.TimeoutExpired:
                        status = "closed its stdout without READY"
                    raise CameraError(f"the camera {status}{self._stderr_tail()}")
                buffer += chunk
        line, _, self._out = buffer.partition(b"\n")
        return line.decode("utf-8", "replace").strip()

    def stop(self) -> None:
        """Stop the camera (SIGCONT, SIGTERM, then SIGKILL after ``stop_timeout``) and reap it. Idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal(signal.SIGCONT)  # a stopped process would not act on SIGTERM
            self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait()
        self._reap()

    def restart(self) -> TestCamera:
        """Stop, then start again on the same port."""
        self.stop()
        return self.start()

    def pause(self) -> None:
        """Freeze the camera with SIGSTOP (its sockets stay open, it answers nothing): a hung camera.

        Returns once the kernel reports the process stopped.
        """
        if not self.running:
            raise CameraError("the camera is not running")
        if self._paused:
            return
        assert self._proc is not None
        self._signal(signal.SIGSTOP)
        _pid, status = os.waitpid(self._proc.pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):  # it ended meanwhile: this waitpid reaped it
            self._proc.returncode = os.waitstatus_to_exitcode(status)
            raise CameraError(f"the camera ended while pausing (status {self._proc.returncode})")
        self._paused = True

    def resume(self) -> None:
        """Let a paused camera run again (SIGCONT)."""
        if self.running:
            self._signal(signal.SIGCONT)
        self._paused = False

    def set_pattern(self, pattern: str, timeout: float = 10.0) -> tuple[float, float | None]:
        """Switch the picture to videotestsrc's ``pattern`` now (``"white"`` then ``"black"`` flashes it).

        Returns the camera's wall-clock times (``time.time()``, same clock as this process): when it switched,
        and when its first picture of the new pattern left the source (for ``black`` and ``white`` checked on
        the picture's centre), or None when no client is watching. Later starts keep the pattern.
        """
        with self._talk:
            self._send(f"pattern {pattern}")
            deadline = time.monotonic() + timeout
            switched: float | None = None
            while True:
                words = self._read_line(deadline).split()
                if words and words[0] == "ERROR":
                    raise CameraError(" ".join(words[1:]))
                if len(words) == 3 and words[:2] == ["PATTERN", pattern]:
                    switched = float(words[2])
                    self.pattern = pattern
                elif len(words) == 3 and words[:2] == ["FRAME", pattern] and switched is not None:
                    return switched, None if words[2] == "-" else float(words[2])

    def clients(self, timeout: float = 10.0) -> int:
        """The RTSP clients connected to the camera now: TCP connections it holds, from the accept to their
        end (FFmpeg opens one per session, over TCP or UDP). A client that just went may count for a moment
        (its end reaches the camera's loop after the process ended): wait for a count with a deadline."""
        return self._clients(timeout)[0]

    def peak_clients(self, timeout: float = 10.0) -> int:
        """The most clients connected at once since this start of the camera (a restart starts again from
        0): a session that came and went between two calls of :meth:`clients` still shows here."""
        return self._clients(timeout)[1]

    def _clients(self, timeout: float) -> tuple[int, int]:
        with self._talk:
            self._send("clients")
            deadline = time.monotonic() + timeout
            while True:  # skips the lines of an earlier command (a FRAME that came after its wait gave up)
                words = self._read_line(deadline).split()
                if len(words) == 3 and words[0] == "CLIENTS":
                    return int(words[1]), int(words[2])

    def _send(self, command: str) -> None:
        """Write one command line to the server's stdin."""
        if not self.running or self._paused:
            raise CameraError("the camera is not running")
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(f"{command}\n".encode())
        self._proc.stdin.flush()

    def _read_line(self, deadline: float) -> str:
        """The next line the server printed after READY."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._out:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CameraError(f"no answer from the camera in time{self._stderr_tail()}")
                if selector.select(remaining):
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        raise CameraError(f"the camera ended{self._stderr_tail()}")
                    self._out += chunk
        line, _, self._out = self._out.partition(b"\n")
        return line.decode("utf-8", "replace").strip()

    def describes(self) -> list[str]:
        """The DESCRIBE requests the camera got so far (over its restarts), oldest first: ``"login"`` for
        one with credentials (a login attempt), ``"none"`` without. Needs ``request_log=PATH``."""
        if self.request_log is None:
            raise CameraError("start the camera with request_log=PATH to count its requests")
        try:
            lines = self.request_log.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [line.split()[1] for line in lines if line.startswith("DESCRIBE ")]

    def logins(self) -> int:
        """Login attempts so far: DESCRIBE requests with credentials (needs ``request_log=PATH``)."""
        return self.describes().count("login")

    def _signal(self, signum: int) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signum)

    def _reap(self) -> None:
        """Forget a finished process: record its status and close its pipes and files."""
        proc, self._proc = self._proc, None
        self._paused = False
        if proc is not None:
            self.returncode = proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace").strip()
        return f":\n{text[-limit:]}" if text else ""

    # --- context manager --------------------------------------------------------------------------------

    def __enter__(self) -> TestCamera:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        # Last resort if a test forgot stop(): never leave a camera running behind.
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            self.stop()
