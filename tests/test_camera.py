"""The test camera itself, read by the real FFmpeg: frames, H.265, auth, restart, pause, stop, its clients."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from .harness.camera import CameraError, TestCamera
from .harness.helpers import wait_until_sync

FRAME_RE = re.compile(rb"frame=\s*(\d+)")
ROOT = Path(__file__).resolve().parents[1]


def run_ffmpeg(
    ffmpeg: str, url: str, *options: str, frames: int = 10, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Read ``frames`` frames from ``url`` over RTSP/TCP and throw them away."""
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-rtsp_transport", "tcp", *options, "-i", url]
    cmd += ["-frames:v", str(frames), "-f", "null", "-"]
    return subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )


def frames_read(result: subprocess.CompletedProcess[str]) -> int:
    counts = FRAME_RE.findall(result.stderr.encode())
    return int(counts[-1]) if counts else 0


class Reader:
    """An FFmpeg that keeps reading a camera and reports its decoded frame count (``-progress``)."""

    def __init__(self, ffmpeg: str, url: str, *options: str) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-progress", "pipe:1"]
        cmd += ["-stats_period", "0.2", "-rtsp_transport", "tcp", *options, "-i", url, "-f", "null", "-"]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr
        )
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fd, selectors.EVENT_READ)
        self._pending = b""
        self.frames = 0
        self.eof = False

    def _pump(self, deadline: float) -> bool:
        """Read what FFmpeg printed until ``deadline``; False once its stdout is closed."""
        remaining = deadline - time.monotonic()
        if self.eof or remaining <= 0 or not self._selector.select(remaining):
            return not self.eof
        chunk = os.read(self._fd, 65536)
        if not chunk:
            self.eof = True
            return False
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            if line.startswith(b"frame="):
                self.frames = int(line[len(b"frame=") :])
        return True

    def wait_frames(self, count: int, timeout: float) -> int:
        """Wait until FFmpeg has decoded ``count`` frames (or ``timeout``); returns the frame count."""
        target = self.frames + count
        deadline = time.monotonic() + timeout
        while self.frames < target and time.monotonic() < deadline and self._pump(deadline):
            pass
        return self.frames

    def wait_exit(self, timeout: float) -> int | None:
        """Wait for FFmpeg to end on its own, reading its output meanwhile; None if it is still running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._pump(deadline):
            pass
        try:
            return self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(5) is None:  # keeps reading: FFmpeg ignores SIGTERM while its stdout is full
                self.proc.kill()
        self.proc.wait()
        self._selector.close()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture
def reader(ffmpeg_path: str) -> Iterator[Callable[..., Reader]]:
    readers: list[Reader] = []

    def start(url: str, *options: str) -> Reader:
        readers.append(Reader(ffmpeg_path, url, *options))
        return readers[-1]

    yield start
    for r in readers:
        r.close()


# --- tests -------------------------------------------------------------------------------------------------


def test_ffmpeg_reads_frames(camera: TestCamera, ffmpeg_path: str) -> None:
    assert camera.running and camera.port is not None
    assert camera.url == f"rtsp://127.0.0.1:{camera.port}/cam"
    result = run_ffmpeg(ffmpeg_path, camera.url)
    assert result.returncode == 0, result.stderr
    assert frames_read(result) == 10
    assert "h264" in result.stderr
    assert "640x360" in result.stderr
    assert "25 fps" in result.stderr


def test_size_fps_pattern_and_mount(camera_factory: Callable[..., TestCamera], ffmpeg_path: str) -> None:
    cam = camera_factory(width=320, height=180, fps=10, pattern="smpte", mount="/live/main", keyint=5)
    assert cam.url.endswith("/live/main")
    result = run_ffmpeg(ffmpeg_path, cam.url, frames=5)
    assert result.returncode == 0, result.stderr
    assert "320x180" in result.stderr
    assert "10 fps" in result.stderr


def test_h265(camera_factory: Callable[..., TestCamera], ffmpeg_path: str) -> None:
    cam = camera_factory(codec="h265")
    result = run_ffmpeg(ffmpeg_path, cam.url)
    assert result.returncode == 0, result.stderr
    assert frames_read(result) == 10
    assert "hevc" in result.stderr
    assert "640x360" in result.stderr


def test_several_clients_share_the_camera(camera: TestCamera, ffmpeg_path: str) -> None:
    # Clients that start together must all be served (the shared pipeline is never seeked by a PLAY).
    cmd = [ffmpeg_path, "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", camera.url]
    cmd += ["-frames:v", "10", "-f", "null", "-"]
    procs = [
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outcomes = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=30)
            outcomes.append((p.returncode, err.decode()))
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                p.communicate()
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes


def test_the_camera_counts_its_clients(camera: TestCamera, reader: Callable[..., Reader]) -> None:
    assert (camera.clients(), camera.peak_clients()) == (0, 0)
    first, second = reader(camera.url), reader(camera.url)
    wait_until_sync(lambda: camera.clients() == 2, 10, "two clients")
    for client in (first, second):  # connected and playing, not only connected
        assert client.wait_frames(3, timeout=15) >= 3, client.stderr()
    assert (camera.clients(), camera.peak_clients()) == (2, 2)
    first.close()  # SIGTERM: FFmpeg says TEARDOWN and closes its connection
    wait_until_sync(lambda: camera.clients() == 1, 10, "the first client to go")
    second.proc.kill()  # a client that says nothing: its connection ends with the process
    wait_until_sync(lambda: camera.clients() == 0, 10, "the second client to go")
    assert camera.peak_clients() == 2, "the most at once since the start"
    camera.restart()
    assert (camera.clients(), camera.peak_clients()) == (0, 0), "a restart counts from 0 again"
    camera.pause()
    try:
        with pytest.raises(CameraError, match="not running"):
            camera.clients()  # a frozen camera would answer nothing: it says so at once
    finally:
        camera.resume()


def test_set_pattern_flashes_the_picture(camera_factory: Callable[..., TestCamera], ffmpeg_path: str) -> None:
    cam = camera_factory(width=320, height=180, pattern="black", horizontal_speed=2)
    switched, first = cam.set_pattern("white")  # nobody watches: no picture is made
    assert first is None and cam.pattern == "white"
    cmd = [ffmpeg_path, "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", cam.url]
    cmd += ["-vf", "scale=8:4", "-f", "rawvideo", "-pix_fmt", "gray", "-flush_packets", "1", "pipe:1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with proc:  # waits for it and closes its stdout, after the kill below
        try:
            assert proc.stdout is not None
            assert min(proc.stdout.read(32)) > 200  # white from the first picture on: the pattern was kept
            before = time.time()
            switched, first = cam.set_pattern("black")
            assert first is not None and before <= switched <= first <= time.time()
            for _ in range(50):  # 2 s of pictures: black comes
                if max(proc.stdout.read(32)) < 50:
                    break
            else:
                raise AssertionError("the picture never turned black")
            with pytest.raises(CameraError, match="unknown pattern"):
                cam.set_pattern("no-such-pattern")
        finally:
            proc.kill()


def test_auth_refuses_missing_or_wrong_credentials(
    camera_factory: Callable[..., TestCamera], ffmpeg_path: str
) -> None:
    user, password = "viewer", "s3cret p@ss:/%"  # characters that must be percent-encoded in the URL
    cam = camera_factory(user=user, password=password)
    assert cam.url.startswith("rtsp://viewer:s3cret%20p%40ss%3A%2F%25@127.0.0.1:")
    assert not any("s3cret" in arg for arg in psutil.Process(cam.pid).cmdline())  # kept out of ps

    for url in (cam.url_with(None, None), cam.url_with(user, "wrong"), cam.url_with("intruder", password)):
        result = run_ffmpeg(ffmpeg_path, url, frames=1)
        assert result.returncode != 0, url
        assert "401" in result.stderr, result.stderr

    result = run_ffmpeg(ffmpeg_path, cam.url)
    assert result.returncode == 0, result.stderr
    assert frames_read(result) == 10


def test_restart_serves_again_on_the_same_port(
    camera_factory: Callable[..., TestCamera], ffmpeg_path: str, reader: Callable[..., Reader]
) -> None:
    cam = camera_factory()
    port, first_pid = cam.port, cam.pid
    client = reader(cam.url)
    assert client.wait_frames(5, timeout=15) >= 5, client.stderr()

    # The camera closes the connection of a reading client: its side of it stays in TIME_WAIT, and the
    # listening socket must still bind the port again at once.
    cam.restart()
    assert cam.running
    assert cam.port == port
    assert cam.pid != first_pid
    assert client.wait_exit(15) is not None, "the old client did not notice the camera going away"

    result = run_ffmpeg(ffmpeg_path, cam.url)
    assert result.returncode == 0, result.stderr
    assert frames_read(result) == 10


def test_pause_stalls_new_clients_and_resume_recovers(camera: TestCamera, ffmpeg_path: str) -> None:
    camera.pause()
    assert camera.paused
    assert psutil.Process(camera.pid).status() == psutil.STATUS_STOPPED
    began = time.monotonic()
    try:
        # The kernel still accepts the TCP connection; the RTSP DESCRIBE then gets no answer.
        result = run_ffmpeg(ffmpeg_path, camera.url, "-timeout", "2000000", frames=1, timeout=20)
    except subprocess.TimeoutExpired:
        pass  # a stall is as good as a failure here
    else:
        assert result.returncode != 0, result.stderr
        assert frames_read(result) == 0
        assert time.monotonic() - began >= 1.5  # it was the 2 s timeout, not a refusal

    camera.resume()
    assert not camera.paused
    result = run_ffmpeg(ffmpeg_path, camera.url)
    assert result.returncode == 0, result.stderr
    assert frames_read(result) == 10


def test_pause_stalls_a_reading_client(camera: TestCamera, reader: Callable[..., Reader]) -> None:
    client = reader(camera.url, "-timeout", "2000000")
    assert client.wait_frames(5, timeout=15) >= 5, client.stderr()
    camera.pause()
    frozen_at = client.wait_frames(0, timeout=0)
    # No frame comes any more; FFmpeg's socket timeout ends it (it exits 0: a stall looks like an end of
    # stream to FFmpeg, so the relay cannot rely on the exit status to detect it).
    assert client.wait_exit(20) is not None, "FFmpeg -timeout did not end the stalled read"
    assert client.frames <= frozen_at + 25  # at most the frames already in flight
    assert "timed out" in client.stderr().lower(), client.stderr()
    camera.resume()


def test_stop_leaves_no_process(
    camera_factory: Callable[..., TestCamera], reader: Callable[..., Reader]
) -> None:
    cam = camera_factory()
    pid = cam.pid
    assert pid is not None and psutil.pid_exists(pid)
    client = reader(cam.url)
    assert client.wait_frames(1, timeout=15) >= 1, client.stderr()

    cam.stop()  # with a client connected
    assert not cam.running and cam.pid is None
    assert cam.returncode == 0  # SIGTERM stops the main loop: a clean exit
    assert not psutil.pid_exists(pid)
    cam.stop()  # idempotent

    cam.start()  # a stopped camera starts again, on its port
    pid = cam.pid
    assert pid is not None
    cam.pause()
    cam.stop()  # while paused: SIGCONT first, so SIGTERM still ends it cleanly
    assert cam.returncode == 0
    assert not psutil.pid_exists(pid)


@pytest.mark.usefixtures("camera_factory")  # for its skip (or CI failure) when the camera cannot run
def test_camera_does_not_outlive_its_parent() -> None:
    # A test process killed hard (os._exit, SIGKILL) cannot stop its cameras: they stop when their stdin ends.
    script = (
        "import os\n"
        "from tests.harness.camera import TestCamera\n"
        "cam = TestCamera(width=320, height=180).start()\n"
        "print(cam.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    pid = int(result.stdout)
    # A pidfd turns readable when the process ends, zombie or not (whoever reaps orphans here may be slow).
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # already ended and reaped
    try:
        ended = selectors.DefaultSelector()
        ended.register(pidfd, selectors.EVENT_READ)
        gone = bool(ended.select(timeout=10))
        ended.close()
        if not gone:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)
    assert gone, "the camera kept running after its parent died"


@pytest.mark.usefixtures("camera_factory")
def test_context_manager_stops_the_camera() -> None:
    with TestCamera(width=320, height=180) as cam:
        pid = cam.pid
        assert pid is not None and cam.running
        assert cam.start_seconds is not None and cam.start_seconds < 10
    assert not cam.running
    assert pid is not None and not psutil.pid_exists(pid)


def test_start_errors_are_reported(camera_factory: Callable[..., TestCamera]) -> None:
    with pytest.raises(CameraError, match="pattern"):
        camera_factory(pattern="no-such-pattern")

    busy = camera_factory()
    with pytest.raises(CameraError, match="port in use"):
        camera_factory(port=busy.port)


def test_url_building_needs_no_camera() -> None:
    cam = TestCamera(port=8554, user="a b", password="c@d")
    assert cam.url == "rtsp://a%20b:c%40d@127.0.0.1:8554/cam"
    assert cam.url_with(None, None) == "rtsp://127.0.0.1:8554/cam"
    assert cam.url_with("x", None) == "rtsp://x@127.0.0.1:8554/cam"
    assert not cam.running and cam.pid is None
    cam.stop()  # stopping a camera that never started is fine
    with pytest.raises(ValueError, match="together"):
        TestCamera(user="only-user")
    with pytest.raises(CameraError, match="no port"):
        _ = TestCamera().url
