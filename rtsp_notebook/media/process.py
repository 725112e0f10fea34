"""Supervision of one FFmpeg child process.

Every process has an owner, its own process group, a stderr record that is drained continuously
into a bounded buffer (FFmpeg blocks when nobody reads its stderr), and an idempotent ``stop``:
SIGTERM to the group, keep reading stdout (FFmpeg ignores SIGTERM while its stdout pipe is full),
SIGKILL after a grace period, and always reap.

On Linux each FFmpeg also asks the kernel for SIGKILL when the thread that started it ends
(``PR_SET_PDEATHSIG``, through util-linux's ``setpriv``), so no FFmpeg outlives its owner, even one
killed with SIGKILL, or one that never writes (a camera that has not sent its first keyframe yet would
never meet the EPIPE of a closed pipe).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Sequence

from .._compat import timeout as _timeout
from ..errors import SourceError, SourceTimeoutError
from .classify import classify_stderr
from .sources import mask_text

__all__ = ["FFmpegProcess", "classify_stderr", "kill_all", "live_processes"]

log = logging.getLogger(__name__)

STDERR_LINES = 64
STDERR_LINE_CHARS = 400
READ_CHUNK = 1 << 16

# FFmpeg's stderr lines that say its input is open: the camera answered (RTSP session up, stream probed).
_OPENED_RE = re.compile(r"^(Input #0|Stream mapping:)")

_LIVE: set[FFmpegProcess] = set()


def live_processes() -> frozenset[FFmpegProcess]:
    """FFmpeg processes started by this Python process and not reaped yet."""
    return frozenset(_LIVE)


def kill_all() -> int:
    """SIGKILL every FFmpeg still running, at once and without the event loop (for interpreter exit,
    when the loop is gone); returns how many there were."""
    killed = 0
    for proc in list(_LIVE):
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
                killed += 1
    _LIVE.clear()
    return killed


_DEATH_WRAPPER: list[str] | None = None  # found once, off the event loop: see _death_wrapper()


def _find_death_wrapper() -> list[str]:
    """``setpriv --pdeathsig KILL --`` (util-linux, on every Debian) when it works here, else nothing.

    It asks Linux to SIGKILL the child when the thread that started it ends, then execs FFmpeg (same pid,
    same process group). A ``preexec_fn`` calling ``prctl`` would do the same, but it makes Python fork the
    whole (large) server process instead of using vfork, and that fork blocks the event loop: measured
    with ``python -m bench.server``, cold start +20 ms, thumbnail hit +2 ms, thumbnail while streaming +15 ms.
    """
    if not sys.platform.startswith("linux"):
        return []
    path = shutil.which("setpriv")
    if path is None:
        log.info("setpriv (util-linux) not found: an FFmpeg may outlive a killed owner")
        return []
    wrapper = [path, "--pdeathsig", "KILL", "--"]
    try:
        ok = subprocess.run([*wrapper, "true"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    if not ok:
        log.info("%s does not support --pdeathsig: an FFmpeg may outlive a killed owner", path)
    return wrapper if ok else []


async def _death_wrapper() -> list[str]:
    global _DEATH_WRAPPER
    if _DEATH_WRAPPER is None:
        _DEATH_WRAPPER = await asyncio.to_thread(_find_death_wrapper)
    return _DEATH_WRAPPER


class FFmpegProcess:
    """A running FFmpeg; create it with :meth:`spawn`."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str, secrets: Sequence[str]) -> None:
        self._proc = proc
        self.name = name
        self._secrets = tuple(secrets)
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self.opened = asyncio.Event()  # set once stderr says the input is open (with -loglevel info)
        self._stderr_task = asyncio.create_task(self._drain_stderr(), name=f"{name}:stderr")
        self._stop_task: asyncio.Task[int] | None = None
        assert proc.stdout is not None
        self.stdout: asyncio.StreamReader = proc.stdout

    @classmethod
    async def spawn(
        cls, argv: Sequence[str], *, name: str = "ffmpeg", secrets: Iterable[str] = (), stdin: bool = False
    ) -> FFmpegProcess:
        """Start ``argv`` (never through a shell) in a new process group; ``stdin``: give it a pipe."""
        proc = await asyncio.create_subprocess_exec(
            *await _death_wrapper(),
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=READ_CHUNK * 4,
        )
        self = cls(proc, name, list(secrets))
        _LIVE.add(self)
        log.debug("%s: started pid %d", name, proc.pid)
        return self

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def read(self, timeout: float) -> bytes:
        """Up to 64 KiB of stdout; ``b""`` at the end; SourceTimeoutError after ``timeout`` s without data."""
        try:
            async with _timeout(timeout):
                return await self.stdout.read(READ_CHUNK)
        except asyncio.TimeoutError:
            raise SourceTimeoutError(f"no video from the camera for {timeout:g} s") from None

    async def write(self, data: bytes) -> None:
        """Write to stdin (spawned with ``stdin=True``), waiting while the pipe is full; raises
        ConnectionError once the process has gone."""
        pipe = self._proc.stdin
        assert pipe is not None, "spawned without stdin=True"
        pipe.write(data)
        await pipe.drain()

    def close_stdin(self) -> None:
        pipe = self._proc.stdin
        if pipe is not None and not pipe.is_closing():
            pipe.close()

    async def communicate(self, data: bytes) -> bytes:
        """Write ``data`` to stdin and close it while reading stdout to its end; returns stdout."""
        pipe = self._proc.stdin
        assert pipe is not None, "spawned without stdin=True"

        async def feed() -> None:
            with contextlib.suppress(ConnectionError):
                pipe.write(data)
                await pipe.drain()
            pipe.close()

        writer = asyncio.ensure_future(feed())
        try:
            return await self.stdout.read()
        finally:
            writer.cancel()

    async def wait(self) -> int:
        """Wait for the process to exit on its own and for its stderr to be read to the end."""
        code = await self._proc.wait()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._stderr_task), 1.0)
        return code

    def stderr_tail(self) -> str:
        """The last lines of stderr, masked."""
        return "\n".join(self._stderr)

    def error(self) -> SourceError:
        """What went wrong, from stderr and the exit status (call after the process ended)."""
        return classify_stderr(self.stderr_tail(), self.returncode, opened=self.opened.is_set())

    async def _drain_stderr(self) -> None:
        stream = self._proc.stderr
        assert stream is not None
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the reader's limit: drop what is buffered
                line = b"[stderr line too long]\n"
            except (ConnectionError, OSError):
                return
            if not line:
                return
            text = mask_text(line.decode("utf-8", "replace").rstrip(), self._secrets)
            if not self.opened.is_set() and _OPENED_RE.match(text):
                self.opened.set()
            if text:
                self._stderr.append(text[:STDERR_LINE_CHARS])
                log.debug("%s: %s", self.name, text[:STDERR_LINE_CHARS])

    async def stop(self, grace: float = 2.0) -> int:
        """Stop the process (idempotent) and return its exit status.

        Every caller waits on one shared stop; a caller that is cancelled while waiting does not
        cancel the stop itself, so the process is always terminated, killed if need be, and reaped.
        """
        if self._stop_task is None:
            self._stop_task = asyncio.create_task(self._stop(grace), name=f"{self.name}:stop")
        return await asyncio.shield(self._stop_task)

    def _signal(self, sig: int) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)

    async def _discard_stdout(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while await self.stdout.read(READ_CHUNK):
                pass

    async def _stop(self, grace: float) -> int:
        discard = asyncio.create_task(self._discard_stdout(), name=f"{self.name}:discard")
        try:
            # an FFmpeg reading stdin ends at its end, and blocked in that read it ignores SIGTERM (measured:
            # still running 3 s after it; 33 ms with the pipe closed): close it now, dropping what is buffered
            pipe = self._proc.stdin
            if pipe is not None and (not pipe.is_closing() or pipe.transport.get_write_buffer_size()):
                pipe.transport.abort()  # (a pipe closing with nothing left to write is closed already)
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self._proc.wait()), grace)
            except asyncio.TimeoutError:
                log.info("%s: pid %d ignored SIGTERM for %g s; killing it", self.name, self.pid, grace)
                self._signal(signal.SIGKILL)
            return await self.wait()
        finally:
            discard.cancel()
            self._stderr_task.cancel()
            if self._proc.returncode is None:  # cancelled while stopping: never leave it running
                self._signal(signal.SIGKILL)
            else:
                _LIVE.discard(self)
                log.debug("%s: pid %d ended with %s", self.name, self.pid, self._proc.returncode)

    def __repr__(self) -> str:
        return f"<FFmpegProcess {self.name} pid={self.pid} returncode={self.returncode}>"
