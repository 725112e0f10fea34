"""Clips made by the service (issue 16): ``POST streams/{id}/clips`` starts a job, ``GET clips/{clip}``
follows it, ``GET clips/{clip}/file`` is the MP4 once written; ``GET clips`` lists the jobs, ``POST
clips/{clip}/stop`` ends a recording one early with what it wrote, ``DELETE clips/{clip}`` discards a job and
its file.

A job is a :class:`~rtsp_notebook.media.recorder.Recorder` running as a task on the service's event loop:
``before`` seconds from the stream's prebuffer and ``after`` live ones (``before`` 0: a recording of
``after`` seconds from the relay's newest keyframe, prebuffer or not). Its file goes into one folder (the
server's ``clips_dir``; in a kernel, its working directory), named from the stream's label and the time
(``Door-2026-12-01_00-47-40.mp4``: letters, digits, ``_`` and ``-`` only, a numeric suffix when the name is
taken), never outside that folder. Jobs are kept in memory, the newest :data:`MAX_JOBS`; at most
:data:`MAX_RUNNING` record at once. :meth:`Clips.close` ends the running ones with what they wrote.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import enum
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeGuard

from .._compat import cancel_and_wait
from ..engine import Engine
from ..errors import (
    ConflictError,
    InvalidInputError,
    LimitError,
    RtspNotebookError,
    StreamNotFoundError,
)
from ..media.recorder import Recorder, RecordingResult
from ..store import StreamRecord
from .viewer import viewer_chunks

__all__ = [
    "MAX_JOBS", "MAX_RUNNING", "MAX_SECONDS", "ClipFile", "Clips", "clip_name", "is_clip_id", "no_prebuffer",
]  # fmt: skip

log = logging.getLogger(__name__)

MAX_SECONDS: Final = 600.0  # of before, and of after
MAX_JOBS: Final = 50  # jobs remembered (the oldest finished ones are forgotten first)
MAX_RUNNING: Final = 8  # jobs recording at once
CLOSE_GRACE: Final = 10.0  # s a running job has at shutdown to write what it recorded
CLIP_ID_RE: Final = re.compile(r"[0-9a-f]{16}")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]+")
_FIELDS: Final = ("before", "after")


def is_clip_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and CLIP_ID_RE.fullmatch(value) is not None


def clip_name(label: str, when: dt.datetime, taken: Callable[[str], bool]) -> str:
    """``<label>-<YYYY-mm-dd_HH-MM-SS>.mp4``: the label cut to letters, digits, ``_`` and ``-`` (``clip``
    when nothing is left), ``-2``, ``-3``… before the extension while ``taken(name)``."""
    safe = _UNSAFE.sub("_", label).strip("_-")[:60] or "clip"
    stem = f"{safe}-{when:%Y-%m-%d_%H-%M-%S}"
    name, n = f"{stem}.mp4", 1
    while taken(name):
        n += 1
        name = f"{stem}-{n}.mp4"
    return name


class ClipStatus(str, enum.Enum):
    RECORDING = "recording"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class ClipFile:
    """A finished clip's file, for a transport that sends bytes."""

    path: Path
    name: str


@dataclass
class ClipJob:
    id: str
    stream_id: str
    file: str
    before: float
    after: float
    recorder: Recorder
    status: ClipStatus = ClipStatus.RECORDING
    label: str = ""
    started_at: float = field(default_factory=time.time)  # epoch s: when it was asked for
    result: RecordingResult | None = None
    error: RtspNotebookError | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"rtsp/api/clips/{self.id}"

    def started(self) -> dict[str, Any]:
        """The answer of ``POST streams/{id}/clips``."""
        return {
            "id": self.id, "stream_id": self.stream_id, "label": self.label, "status": self.status.value,
            "file": self.file, "before": self.before, "after": self.after, "url": self.url,
            "started_at": self.started_at,
        }  # fmt: skip

    def describe(self, size: int) -> dict[str, Any]:
        """The answer of ``GET clips/{clip}`` (``size``: the file's bytes so far)."""
        result, recorder = self.result, self.recorder
        return {
            "id": self.id, "stream_id": self.stream_id, "label": self.label, "status": self.status.value,
            "file": self.file, "started_at": self.started_at,
            "seconds": result.seconds if result else round(recorder.seconds, 3),
            "bytes": result.bytes if result else size,
            "error": self.error.message if self.error else None,
            "error_code": self.error.code if self.error else None,
            "before": self.before, "after": self.after, "url": self.url,
            "frames": result.frames if result else recorder.frames,
            "codec": result.codec if result else recorder.codec,
            "complete": result.complete if result else None,
            "ended": result.ended if result else None,
            "requested_s": result.requested_s if result else recorder.requested_s,
            "transcoded": result.transcoded if result else None,
        }  # fmt: skip


def _seconds(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_SECONDS:
        raise InvalidInputError(
            f"{name} must be a number of seconds from 0 to {MAX_SECONDS:g}, got {json_repr(value)}"
        )
    return float(value)


def json_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):  # removed by hand already: nothing left to do
        path.unlink()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class Clips:
    """The clip jobs of one engine, writing into ``folder`` (None: the working directory)."""

    def __init__(self, engine: Engine, folder: str | Path | None = None) -> None:
        self.engine = engine
        self.folder = Path(folder).expanduser() if folder is not None else Path.cwd()
        self._jobs: collections.OrderedDict[str, ClipJob] = collections.OrderedDict()
        self._closed = False

    @property
    def running(self) -> list[ClipJob]:
        return [j for j in self._jobs.values() if j.status is ClipStatus.RECORDING]

    # -- the API ---------------------------------------------------------------------------------------------
    async def start(self, stream_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Start a clip of ``{"before", "after"}`` seconds (defaults: ``cam.clip``'s 10 and 5)."""
        unknown = sorted(set(body) - set(_FIELDS))
        if unknown:
            raise InvalidInputError(f"unknown field {unknown[0]!r}; a clip has before and after (seconds)")
        before, after = _seconds(body, "before", 10.0), _seconds(body, "after", 5.0)
        if before == 0 and after == 0:
            raise InvalidInputError("a clip needs before or after above 0 seconds")
        record = await self.engine.store.get(stream_id)  # NOT_FOUND for a removed stream
        if before > 0:
            ring = self.engine.prebuffer(stream_id)
            if ring is None:
                raise no_prebuffer(
                    self.engine, record, 'e.g. PATCH streams/{id} {"options": {"prebuffer_s": 30}}'
                )
            ring.check(before)  # says how many seconds are kept
        if self._closed:
            raise ConflictError("the server is stopping: no new clip")
        if len(self.running) >= MAX_RUNNING:
            raise LimitError(f"{MAX_RUNNING} clips are recording already: wait for one to finish")
        while True:  # the name is reserved once the job is remembered, with no await in between
            path = await asyncio.to_thread(self._place_name, record.label, {j.file for j in self.running})
            if path.name not in {j.file for j in self.running}:
                break
        engine, sid = self.engine, stream_id

        def chunks() -> AsyncIterator[bytes | dict[str, Any]]:
            if before == 0:
                return viewer_chunks(engine, sid, "full", "h264")
            ring = engine.prebuffer(sid)  # on the loop, as the recording starts: its feed's first step
            if ring is None:
                return _failing(InvalidInputError("the stream's prebuffer stopped before the clip began"))
            return ring.feed(before, after)

        clip_id = secrets.token_hex(8)
        recorder = Recorder(
            engine.ffmpeg.path, path, chunks, seconds=None if before > 0 else after, name=f"clip {clip_id}"
        )
        job = ClipJob(clip_id, sid, path.name, before, after, recorder, label=record.label)
        self._remember(job)
        job.task = asyncio.get_running_loop().create_task(self._run(job), name=recorder.name)
        log.info("clip %s of stream %s: %g s before, %g s after, into %s", clip_id, sid, before, after, path)
        return job.started()

    async def get(self, clip_id: str) -> dict[str, Any]:
        job = self._job(clip_id)
        size = 0 if job.result else await asyncio.to_thread(_size, job.recorder.output)
        return job.describe(size)

    async def list(self) -> list[dict[str, Any]]:
        """Every job remembered, oldest first (``GET clips``)."""
        return [await self.get(clip_id) for clip_id in list(self._jobs)]

    async def stop(self, clip_id: str) -> dict[str, Any]:
        """End a recording job now with what it wrote, and answer once its file is written (at most
        CLOSE_GRACE s); a job that has ended already is answered as it is."""
        job = self._job(clip_id)
        if job.status is ClipStatus.RECORDING and job.task is not None:
            log.info("clip %s: stop asked after %.1f s", job.id, job.recorder.seconds)
            job.recorder.request_stop()
            await asyncio.wait([job.task], timeout=CLOSE_GRACE)
        return await self.get(clip_id)

    async def delete(self, clip_id: str) -> None:
        """Forget a job and remove its file; a recording one is cancelled first (its partial file goes)."""
        job = self._job(clip_id)
        if job.task is not None and not job.task.done():
            await cancel_and_wait(job.task)  # the recorder removes its temporary file
        self._jobs.pop(job.id, None)
        if job.result is not None:
            await asyncio.to_thread(_remove, job.result.path)
        log.info("clip %s deleted (%s)", job.id, job.file)

    def file(self, clip_id: str) -> ClipFile:
        job = self._job(clip_id)
        if job.status is ClipStatus.RECORDING:
            raise ConflictError(f"the clip {job.file} is still recording: ask again when its status is done")
        if job.result is None:
            why = job.error.message if job.error else "no file was written"
            raise ConflictError(f"the clip {job.file} failed, it has no file: {why}")
        return ClipFile(job.result.path, job.file)

    async def close(self) -> None:
        """End the running jobs with what they wrote (cancelled after CLOSE_GRACE s): no FFmpeg left."""
        self._closed = True
        tasks = [j.task for j in self.running if j.task is not None]
        for job in self.running:
            job.recorder.request_stop()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=CLOSE_GRACE)
            for task in late:
                await cancel_and_wait(task)

    # -- inside ----------------------------------------------------------------------------------------------
    def _job(self, clip_id: str) -> ClipJob:
        job = self._jobs.get(clip_id) if is_clip_id(clip_id) else None
        if job is None:
            raise StreamNotFoundError(f"no clip with this id (the last {MAX_JOBS} are kept, until a restart)")
        return job

    def _place_name(self, label: str, reserved: set[str]) -> Path:
        """A file name for a clip of ``label`` in the folder, neither ``reserved`` nor there (blocking)."""
        folder = self.folder.resolve()
        if not folder.is_dir():
            raise RtspNotebookError(
                f"the clips folder {str(self.folder)!r} does not exist: create it, or set "
                "RtspNotebookApp.clips_dir to a folder that does"
            )
        name = clip_name(label, dt.datetime.now(), lambda n: n in reserved or (folder / n).exists())
        path = (folder / name).resolve()
        if path.parent != folder:  # cannot happen with clip_name's names; never write outside the folder
            raise InvalidInputError(f"the clip's file name {name!r} is not a plain name")
        return path

    def _remember(self, job: ClipJob) -> None:
        self._jobs[job.id] = job
        for old in [j for j in self._jobs.values() if j.status is not ClipStatus.RECORDING]:
            if len(self._jobs) <= MAX_JOBS:
                break
            del self._jobs[old.id]

    async def _run(self, job: ClipJob) -> None:
        try:
            job.result = await job.recorder.run()
            job.status = ClipStatus.DONE
        except RtspNotebookError as exc:
            job.error, job.status = exc, ClipStatus.FAILED
            log.warning("clip %s failed: %s", job.id, exc.message)
        except asyncio.CancelledError:
            job.error, job.status = RtspNotebookError("the server stopped the clip"), ClipStatus.FAILED
            raise
        except Exception as exc:  # a job's failure is its status
            log.exception("clip %s failed", job.id)
            job.error = RtspNotebookError(f"the clip failed unexpectedly ({type(exc).__name__}); see the log")
            job.status = ClipStatus.FAILED


def no_prebuffer(engine: Engine, record: StreamRecord, how_to_set: str) -> InvalidInputError:
    """Why ``record`` has no prebuffer to clip from (``how_to_set``: how a caller sets ``prebuffer_s``)."""
    label, later = record.label, "; before 0 records from now on"
    if engine.copies_nothing(record.id):
        return InvalidInputError(
            f"stream {label!r} keeps no prebuffer: its camera sends MJPEG, and MJPEG is transcoded to "
            f"MPEG-1, not copied, so none of its video is kept{later} (the transcode)"
        )
    if not float(record.options.get("prebuffer_s") or 0):
        return InvalidInputError(
            f"stream {label!r} keeps no prebuffer: set its prebuffer_s option ({how_to_set}), then a clip "
            f"can start up to that many seconds back{later}"
        )
    return InvalidInputError(
        f"stream {label!r} has no prebuffer running: its camera connection is not up (the events say why)"
        + later
    )


async def _failing(error: RtspNotebookError) -> AsyncIterator[bytes | dict[str, Any]]:
    raise error
    yield b""  # an async generator  # pragma: no cover
