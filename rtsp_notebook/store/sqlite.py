"""The durable stream store: one SQLite file (WAL, mode 0600, versioned schema, soft delete).

A deleted stream keeps its masked URL for history; its password leaves the disk: ``secure_delete`` zeroes
the bytes SQLite frees, and a ``wal_checkpoint(TRUNCATE)`` after a delete or a URL change moves the zeroed
pages into the database file and empties the WAL, where the old page versions were.

Labels are unique among active streams, compared trimmed and case-insensitively (``label_key``): an add
or a rename to a label another active stream has is a ``ConflictError``, and a stream added without a
label gets its default (the camera's host, the demo's pattern) made unique with " 2", " 3", …. A store
written before that rule may hold duplicates: they stay, and a lookup by such a label
(``find``) raises ``AmbiguousLabelError`` naming the streams.

A stream's options are those that apply to its kind of source (``applicable_options``: no ``transport``
for a ``demo://`` source), as stored and as read.

``StreamStore`` is the synchronous store: one connection guarded by a lock, every write in a
``BEGIN IMMEDIATE`` transaction, so several stores (a Jupyter server and a kernel, say) can share a file.
``AsyncStore`` (``asyncstore``) runs the same calls on one worker thread for event loops.
Every ``sqlite3`` error that escapes becomes a ``StoreError``; no message ever holds a URL.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import secrets
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, TypeVar

from ..errors import (
    AmbiguousLabelError,
    ConflictError,
    InvalidInputError,
    InvalidURLError,
    StoreError,
    StreamNotFoundError,
)
from ..media.sources import Source, mask_url, parse_source
from .validation import (
    MAX_LABEL_LENGTH,
    _short,
    applicable_options,
    is_stream_id,
    label_key,
    validate_label,
    validate_options,
)

__all__ = ["SCHEMA_VERSION", "StreamRecord", "StreamStore", "default_store_path"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_Options = Mapping[str, Any] | None

_SQLITE_HEADER: Final = b"SQLite format 3\x00"
_APPLICATION_ID: Final = 0x52545350  # "RTSP"
_COLUMNS: Final = "id, url, label, options, created_at, updated_at, sub_url"

# Ordered schema migrations: migration N moves ``PRAGMA user_version`` from N-1 to N, in one transaction.
# ``mask_url(url)`` is ``sources.mask_url``, registered on every connection of the store (and
# ``label_key(label)``, ``validation.label_key``: no index may use it, other programs lack it).
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        "CREATE TABLE streams (id TEXT PRIMARY KEY NOT NULL, url TEXT NOT NULL, label TEXT NOT NULL, "
        "options TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT NULL)",
        "CREATE UNIQUE INDEX streams_active_url ON streams (url) WHERE deleted_at IS NULL",
        f"PRAGMA application_id = {_APPLICATION_ID}",
    ),
    # 2: streams deleted before scrubbing existed keep only their masked URL (the file is then vacuumed).
    ("UPDATE streams SET url = mask_url(url) WHERE deleted_at IS NOT NULL",),
    # 3: a stream's optional substream (the camera's low-resolution stream, for tiles).
    ("ALTER TABLE streams ADD COLUMN sub_url TEXT NULL",),
)
SCHEMA_VERSION: Final = len(_MIGRATIONS)


def _check_id(stream_id: object) -> str:
    if not is_stream_id(stream_id):
        raise InvalidInputError(
            f"stream id must be 1 to 32 characters of 0-9 and a-z, got {_short(stream_id, 40)}"
        )
    return stream_id


def _default_label(source: Source) -> str:
    """The host of a camera, the pattern of a demo source."""
    return (source.pattern if source.scheme == "demo" else source.host) or source.masked


def _scheme(url: str) -> str:
    """The scheme of a stored (validated, lower-cased scheme) URL: ``rtsp``, ``rtsps`` or ``demo``."""
    return url.partition(":")[0]


def _numbered(label: str, n: int) -> str:
    """``label`` with `` n`` after it (n > 1), cut to fit the label length limit."""
    if n == 1:
        return label[:MAX_LABEL_LENGTH]
    suffix = f" {n}"
    return label[: MAX_LABEL_LENGTH - len(suffix)].rstrip() + suffix


def _sub_url(value: object, main: str) -> str | None:
    """A validated ``sub_url`` (None or "" for none), named as such in its error; never the main URL."""
    if value is None or value == "":
        return None
    try:
        sub = parse_source(value).url
    except InvalidURLError as exc:
        raise InvalidURLError(f"sub_url: {exc.message}") from None
    if sub == main:
        raise InvalidInputError(
            "sub_url is the same as url: give the camera's low-resolution substream, or leave sub_url out"
        )
    return sub


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True, repr=False)
class StreamRecord:
    """One stored stream. ``url`` is the full URL with its password: internal, never shown."""

    id: str
    url: str
    label: str
    options: dict[str, Any] = field(hash=False)  # records stay hashable
    created_at: datetime
    updated_at: datetime
    sub_url: str | None = None  # the camera's substream for tiles (with its password): internal too

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def masked_sub_url(self) -> str | None:
        return None if self.sub_url is None else mask_url(self.sub_url)

    def __repr__(self) -> str:
        sub = f", sub_url={self.masked_sub_url!r}" if self.sub_url is not None else ""
        return f"StreamRecord(id={self.id!r}, label={self.label!r}, url={self.masked_url!r}{sub})"

    def public(self) -> dict[str, Any]:
        """The JSON-ready public form: masked URL, the options that apply, ISO 8601 UTC times."""
        return {
            "id": self.id,
            "label": self.label,
            "url": self.masked_url,
            "sub_url": self.masked_sub_url,
            "options": applicable_options(self.options, _scheme(self.url)),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


def _record(row: tuple[Any, ...]) -> StreamRecord:
    id_, url, label, options, created_at, updated_at, sub_url = row
    try:
        return StreamRecord(
            id_, url, label, applicable_options(json.loads(options), _scheme(url)),
            datetime.fromisoformat(created_at), datetime.fromisoformat(updated_at), sub_url,
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise StoreError(f"stream {id_!r} is damaged in the database ({type(exc).__name__})") from exc


@contextlib.contextmanager
def _guard(action: str) -> Iterator[None]:
    """Turn an escaping ``sqlite3`` error into a StoreError (SQLite's messages never hold bound values)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"the stream database could not {action}: {exc}") from exc


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolls back on any error (the first error is the one raised)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def _prepare_file(path: Path) -> None:
    """Create the directory (0700) and the file (0600), or tighten them; refuse a non-SQLite file."""
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        parent.chmod(0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StoreError(f"{path} is not a regular file")
        if info.st_size and os.read(fd, len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise StoreError(f"{path} is not an SQLite database; it was left untouched (move it away)")
    finally:
        os.close(fd)
    # SQLite gives a new -wal/-shm the database's mode: tighten before SQLite ever opens the file.
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
            if mode & 0o077:
                log.warning("%s had mode %o (open to other users); setting mode 600", candidate, mode)
                candidate.chmod(0o600)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot set mode 600 on %s: %s", candidate, exc.strerror)


def _enable_wal(conn: sqlite3.Connection, attempts: int = 50) -> str:
    """Switch to WAL (persistent in the file) and return the journal mode in use.

    The switch needs an exclusive lock, and SQLite may answer "database is locked" at once instead of
    calling its busy handler when another process is opening the same new file: retry briefly. This
    runs when a store opens (start-up, or a worker thread), never on an event loop.
    """
    for attempt in range(attempts):
        try:
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode == "wal":
                return mode
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


class StreamStore:
    """The stream store in one SQLite file; safe to share between threads and between processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            _prepare_file(self.path)
        except OSError as exc:
            raise StoreError(f"cannot open the stream database at {self.path}: {exc.strerror}") from exc
        with _guard(f"open {self.path}"):
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
        try:
            with _guard(f"open {self.path}"):
                conn.execute("PRAGMA busy_timeout = 5000")
                self._check_version(conn)  # before anything writes to a foreign or newer database
                mode = _enable_wal(conn)
                if mode != "wal":
                    log.warning("%s: WAL journal mode unavailable, using %s", self.path, mode)
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA secure_delete = ON")  # freed bytes (an old URL) are zeroed
                conn.create_function("mask_url", 1, mask_url, deterministic=True)
                conn.create_function("label_key", 1, label_key, deterministic=True)
                self._schema_version = self._migrate(conn)
                self._warn_shared_labels(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        log.debug("stream store open at %s (schema version %d)", self.path, self._schema_version)

    def _migrate(self, conn: sqlite3.Connection) -> int:
        start, scrub = self._check_version(conn), False
        for target, statements in enumerate(_MIGRATIONS, start=1):
            with _transaction(conn):
                version = self._check_version(conn)  # again inside the lock: another process may have won
                if version >= target:
                    continue
                for sql in statements:
                    conn.execute(sql)
                conn.execute(f"PRAGMA user_version = {target}")
            log.info("%s: migrated the stream database to schema version %d", self.path, target)
            scrub = scrub or (target == 2 and start >= 1)
        if scrub:
            # Pages freed before secure_delete was on may still hold old URLs: rebuild the file once.
            try:
                conn.execute("VACUUM")
            except sqlite3.OperationalError as exc:  # busy: the masked rows are written, free pages wait
                log.warning("%s: could not vacuum the stream database: %s", self.path, exc)
            self._checkpoint(conn)
        return self._check_version(conn)

    def _warn_shared_labels(self, conn: sqlite3.Connection) -> None:
        """Say which active streams share a label (a store written before labels were unique): they
        keep working; only a lookup by that label is refused until one is renamed."""
        groups: dict[str, builtins.list[tuple[str, str]]] = {}
        for id_, label in conn.execute(
            "SELECT id, label FROM streams WHERE deleted_at IS NULL ORDER BY created_at, rowid"
        ):
            groups.setdefault(label_key(label), []).append((id_, label))
        for group in groups.values():
            if len(group) > 1:
                log.warning(
                    "%s: streams %s share the label %r; rename all but one (a lookup by this label is "
                    "refused until then)",
                    self.path, ", ".join(id_ for id_, _ in group), group[0][1],
                )  # fmt: skip

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Copy the WAL into the database file and truncate it: old page versions (old URLs) leave the disk.

        Waits (busy timeout) for other connections' reads to end; a reader that holds on past that leaves
        the WAL to the next checkpoint, with a warning.
        """
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning("%s: a reader held the WAL; it is emptied at the next delete or close", self.path)

    def _check_version(self, conn: sqlite3.Connection) -> int:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        foreign = app_id not in (0, _APPLICATION_ID) or (
            version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        )
        if foreign:
            raise StoreError(
                f"{self.path} is an SQLite database of another application; its content was left untouched"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the stream database at {self.path} has schema version {version}, newer than this "
                f"rtsp-notebook knows ({SCHEMA_VERSION}); upgrade rtsp-notebook to use it"
            )
        return version

    @contextlib.contextmanager
    def _use(self, action: str, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock, _guard(action):
            conn = self._conn
            if conn is None:
                raise StoreError("the stream store is closed")
            if not write:
                yield conn
                return
            with _transaction(conn):
                yield conn

    @property
    def schema_version(self) -> int:
        return self._schema_version

    def _conflict(self, conn: sqlite3.Connection, url: str, stream_id: str = "") -> None:
        row = conn.execute(
            "SELECT id, label FROM streams WHERE url = ? AND deleted_at IS NULL AND id != ?", (url, stream_id)
        ).fetchone()
        if row is not None:
            raise ConflictError(f"a stream with this URL already exists (id {row[0]}, label {row[1]!r})")

    def _check_label(self, conn: sqlite3.Connection, label: str, stream_id: str = "") -> None:
        """ConflictError when another active stream has ``label`` (compared by ``label_key``)."""
        row = conn.execute(
            "SELECT id, label FROM streams WHERE deleted_at IS NULL AND id != ? AND label_key(label) = ? "
            "ORDER BY created_at, rowid",
            (stream_id, label_key(label)),
        ).fetchone()
        if row is not None:
            written = "" if row[1] == label else f" (written {row[1]!r})"
            raise ConflictError(f"the label {label!r} is used by stream {row[0]}{written}; choose another")

    def _free_label(self, conn: sqlite3.Connection, default: str, stream_id: str = "") -> str:
        """``default``, or the first of ``default 2``, ``default 3``, … that no other active stream has."""
        taken = {
            label_key(row[0])
            for row in conn.execute(
                "SELECT label FROM streams WHERE deleted_at IS NULL AND id != ?", (stream_id,)
            )
        }
        n = 1
        while label_key(_numbered(default, n)) in taken:
            n += 1
        return _numbered(default, n)

    def _label(self, conn: sqlite3.Connection, label: object, default: str, stream_id: str = "") -> str:
        """The label to store: the one given (ConflictError when another active stream has it), else the
        default made unique."""
        given = validate_label(label, "")
        if not given:
            return self._free_label(conn, default, stream_id)
        self._check_label(conn, given, stream_id)
        return given

    def _select(self, conn: sqlite3.Connection, stream_id: str) -> StreamRecord:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM streams WHERE id = ? AND deleted_at IS NULL", (stream_id,)
        ).fetchone()
        if row is None:
            raise StreamNotFoundError(f"no stream with id {stream_id!r}")
        return _record(row)

    def add(
        self, url: str, label: str | None = None, options: _Options = None, *, sub_url: str | None = None
    ) -> StreamRecord:
        """Store a new stream; ConflictError when an active stream has the same (normalised) URL or the
        same label (without a label: the default, made unique). ``sub_url`` is the camera's optional
        substream, validated and kept secret like ``url``."""
        source = parse_source(url)
        sub = _sub_url(sub_url, source.url)
        validate_label(label, "")  # a bad label is refused before the database is asked anything
        opts = validate_options(options, scheme=source.scheme)
        now = _now()
        with self._use("add a stream", write=True) as conn:
            self._conflict(conn, source.url)
            label = self._label(conn, label, _default_label(source))
            stream_id = secrets.token_hex(6)
            while conn.execute("SELECT 1 FROM streams WHERE id = ?", (stream_id,)).fetchone():
                stream_id = secrets.token_hex(6)
            conn.execute(
                f"INSERT INTO streams ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (stream_id, source.url, label, json.dumps(opts), _iso(now), _iso(now), sub),
            )
        log.debug("stream %s added (%s)", stream_id, source.masked)
        return StreamRecord(stream_id, source.url, label, opts, now, now, sub)

    def get(self, stream_id: str) -> StreamRecord:
        """The active stream with this id; StreamNotFoundError otherwise."""
        stream_id = _check_id(stream_id)
        with self._use("read a stream") as conn:
            return self._select(conn, stream_id)

    def find(self, key: str) -> StreamRecord:
        """The active stream whose id is ``key``, else the one whose label is ``key`` (compared by
        ``label_key``); AmbiguousLabelError when several have it (a store from before labels were
        unique), StreamNotFoundError when none has."""
        if not isinstance(key, str):
            raise InvalidInputError(f"a stream is found by id or label (a string), got {type(key).__name__}")
        with self._use("find a stream") as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM streams WHERE deleted_at IS NULL "
                "AND (id = ? OR label_key(label) = ?) ORDER BY created_at, rowid",
                (key, label_key(key)),
            ).fetchall()
        by_id = [row for row in rows if row[0] == key]
        if by_id:
            return _record(by_id[0])
        if not rows:
            raise StreamNotFoundError(f"no stream with id or label {_short(key)}")
        if len(rows) > 1:
            raise AmbiguousLabelError(key.strip(), tuple(row[0] for row in rows))
        return _record(rows[0])

    def list(self) -> builtins.list[StreamRecord]:
        """The active streams, oldest first."""
        with self._use("list the streams") as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM streams WHERE deleted_at IS NULL ORDER BY created_at, rowid"
            ).fetchall()
        return [_record(row) for row in rows]

    def update(
        self,
        stream_id: str,
        *,
        url: str | None = None,
        label: str | None = None,
        options: _Options = None,
        sub_url: str | None = None,
    ) -> StreamRecord:
        """Change the URL, label, options (merged over the current ones) or ``sub_url`` (``""`` removes
        it); None leaves a field as it is. Bumps ``updated_at``. ConflictError when another active
        stream has the new URL or the new label (a label that did not change is not checked: a store
        from before labels were unique keeps working); an empty label is the default, made unique."""
        stream_id = _check_id(stream_id)
        source = parse_source(url) if url is not None else None
        if label is not None:
            validate_label(label, "")
        now = _now()
        with self._use("update a stream", write=True) as conn:
            current = self._select(conn, stream_id)
            new_url = current.url
            if source is not None:
                self._conflict(conn, source.url, stream_id)
                new_url = source.url
            # a kept substream is checked against a new url too
            new_sub = _sub_url(current.sub_url if sub_url is None else sub_url, new_url)
            new_label = current.label
            if label is not None and validate_label(label, "") != current.label:
                new_label = self._label(
                    conn, label, _default_label(source or parse_source(current.url)), stream_id
                )
            new_options = validate_options(options, current.options, scheme=_scheme(new_url))
            conn.execute(
                "UPDATE streams SET url = ?, label = ?, options = ?, updated_at = ?, sub_url = ? "
                "WHERE id = ?",
                (new_url, new_label, json.dumps(new_options), _iso(now), new_sub, stream_id),
            )
        if new_url != current.url or new_sub != current.sub_url:
            with self._use("scrub the old URL") as conn:
                self._checkpoint(conn)
        log.debug("stream %s updated", stream_id)
        return StreamRecord(stream_id, new_url, new_label, new_options, current.created_at, now, new_sub)

    def delete(self, stream_id: str) -> None:
        """Soft delete: the row stays with ``deleted_at`` and its masked URL; the password leaves the disk."""
        stream_id = _check_id(stream_id)
        stamp = _iso(_now())
        with self._use("delete a stream", write=True) as conn:
            cursor = conn.execute(
                "UPDATE streams SET url = mask_url(url), sub_url = CASE WHEN sub_url IS NULL THEN NULL "
                "ELSE mask_url(sub_url) END, deleted_at = ?, updated_at = ? "
                "WHERE id = ? AND deleted_at IS NULL",
                (stamp, stamp, stream_id),
            )
            if cursor.rowcount == 0:
                raise StreamNotFoundError(f"no stream with id {stream_id!r}")
        with self._use("scrub a deleted stream") as conn:
            self._checkpoint(conn)
        log.debug("stream %s deleted", stream_id)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with _guard("close"):
                    conn.close()

    def __enter__(self) -> StreamStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_store_path() -> Path:
    """``$RTSP_NOTEBOOK_DB`` if set, else ``<jupyter data dir>/rtsp_notebook/streams.db``."""
    override = os.environ.get("RTSP_NOTEBOOK_DB")
    if override:
        return Path(override).expanduser()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "rtsp_notebook" / "streams.db"
