"""The stream store: round trips, validation messages, file modes, schema versions, processes, crashes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import selectors
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtsp_notebook.errors import (
    AmbiguousLabelError,
    ConflictError,
    InvalidInputError,
    InvalidURLError,
    StoreError,
    StreamNotFoundError,
)
from rtsp_notebook.media.sources import parse_source
from rtsp_notebook.store import (
    DEFAULT_OPTIONS,
    AsyncStore,
    StreamRecord,
    StreamStore,
    default_store_path,
    label_key,
    validate_label,
    validate_options,
)
from rtsp_notebook.store import sqlite as store_module
from rtsp_notebook.store import validation as validation_module

DOOR = "rtsp://admin:s3cret-pw@door.example/stream1"
YARD = "rtsp://viewer:yard-pw@yard.example:8554/live"
WRITER = Path(__file__).with_name("store_writer.py")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "streams.db"


@pytest.fixture
def store(db: Path) -> Iterator[StreamStore]:
    with StreamStore(db) as opened:
        yield opened


def raw(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """A plain sqlite3 connection for looking behind the store's back (closed on exit)."""
    return contextlib.closing(sqlite3.connect(path))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- round trips -------------------------------------------------------------------------------------


def test_add_get_list_round_trip(store: StreamStore) -> None:
    door = store.add(DOOR, label="  Door  ")
    yard = store.add(YARD, options={"transport": "udp"})
    assert len(door.id) == 12 and set(door.id) <= set("0123456789abcdef")
    assert door.url == parse_source(DOOR).url
    assert door.label == "Door"
    assert door.options == {"transport": "auto", "keep_alive": False}
    assert door.created_at == door.updated_at
    assert door.created_at.tzinfo is not None and door.created_at.utcoffset() == timedelta(0)
    assert yard.label == "yard.example"  # default label: the host
    assert yard.options == {"transport": "udp", "keep_alive": False}

    assert store.get(door.id) == door
    assert store.get(yard.id) == yard
    assert store.list() == [door, yard]


def test_demo_stream_default_label_is_its_pattern(store: StreamStore) -> None:
    source = parse_source("demo://testsrc")
    record = store.add("demo://testsrc")
    assert record.label == source.pattern
    assert record.url == source.url


def test_update_merges_options_and_bumps_updated_at(store: StreamStore) -> None:
    door = store.add(DOOR, label="Door", options={"transport": "udp"})
    changed = store.update(door.id, label="Front door", options={"keep_alive": True})
    assert changed.label == "Front door"
    assert changed.options == {"transport": "udp", "keep_alive": True}
    assert changed.url == door.url
    assert changed.created_at == door.created_at
    assert changed.updated_at >= door.updated_at
    assert store.get(door.id) == changed

    moved = store.update(door.id, url=YARD)
    assert moved.url == parse_source(YARD).url
    assert moved.label == "Front door" and moved.options == changed.options
    assert store.get(door.id) == moved

    reset = store.update(door.id, label="   ")  # an empty label falls back to the host
    assert reset.label == "yard.example"


def test_delete_is_soft_and_frees_the_url(store: StreamStore, db: Path) -> None:
    door = store.add(DOOR, label="Door")
    store.delete(door.id)
    with pytest.raises(StreamNotFoundError, match=f"^no stream with id '{door.id}'$"):
        store.get(door.id)
    with pytest.raises(StreamNotFoundError):
        store.delete(door.id)
    with pytest.raises(StreamNotFoundError):
        store.update(door.id, label="again")
    assert store.list() == []

    with raw(db) as conn:
        row = conn.execute("SELECT url, label, deleted_at FROM streams WHERE id = ?", (door.id,)).fetchone()
    assert row[0] == door.masked_url and row[1] == "Door"
    assert datetime.fromisoformat(row[2]).tzinfo is not None

    again = store.add(DOOR, label="Door")
    assert again.id != door.id
    assert store.list() == [again]


def test_find_by_id_then_label(store: StreamStore) -> None:
    door = store.add(DOOR, label="Door")
    yard = store.add(YARD, label=door.id)  # a label that looks like another stream's id
    assert store.find(door.id) == door
    assert store.find(yard.id) == yard
    assert store.find("Door") == door
    assert store.find(" dOOR ") == door  # labels compare trimmed and case-insensitively
    with pytest.raises(StreamNotFoundError, match=r"^no stream with id or label 'Nothing'$"):
        store.find("Nothing")


# --- unique labels (issue 15) ------------------------------------------------------------------------


def test_label_key_compares_trimmed_case_folded_and_normalised() -> None:
    assert label_key(" Yard ") == label_key("YARD") == label_key("yard")
    assert label_key("Straße") == label_key("STRASSE")
    assert label_key("Cafe\u0301") == label_key("Café")  # decomposed and composed é
    assert label_key("Yard 2") != label_key("Yard")


def test_a_label_another_active_stream_has_is_a_conflict(store: StreamStore) -> None:
    yard = store.add(YARD, label="Yard")
    for label, written in (("Yard", ""), ("  yard ", " (written 'Yard')"), ("YARD", " (written 'Yard')")):
        with pytest.raises(ConflictError) as info:
            store.add(DOOR, label=label)
        assert str(info.value) == (
            f"the label {label.strip()!r} is used by stream {yard.id}{written}; choose another"
        )
        assert info.value.code == "CONFLICT"
    assert store.list() == [yard]

    door = store.add(DOOR, label="Door")
    with pytest.raises(ConflictError, match=rf"^the label 'yard' is used by stream {yard.id} "):
        store.update(door.id, label="yard")
    assert store.get(door.id) == door
    assert store.update(yard.id, label="YARD").label == "YARD"  # its own label, in other letters
    assert store.update(yard.id, label="YARD", options={"keep_alive": True}).label == "YARD"

    store.delete(yard.id)  # a deleted stream's label is free
    assert store.update(door.id, label="Yard").label == "Yard"


def test_a_default_label_is_made_unique(store: StreamStore) -> None:
    first = store.add("demo://testsrc")
    second = store.add("demo://testsrc?size=640x360")
    taken = store.add("demo://testsrc?size=320x180", label="TESTSRC 3")  # a user's label counts too
    fourth = store.add("demo://testsrc?fps=5", label="   ")  # an empty label is no label
    assert [first.label, second.label, taken.label, fourth.label] == ["testsrc", "testsrc 2", "TESTSRC 3",
                                                                      "testsrc 4"]  # fmt: skip
    assert store.add("rtsp://door.example/a").label == "door.example"
    assert store.add("rtsp://door.example/b").label == "door.example 2"

    store.delete(first.id)
    assert store.update(fourth.id, label="").label == "testsrc"  # the reset label is the free default
    assert store.update(second.id, label="").label == "testsrc 2"  # its own label is no conflict

    host = ".".join(["h" * 60] * 4)  # a default longer than a label may be: cut, then numbered
    assert store.add(f"rtsp://{host}/1").label == host[:200]
    assert store.add(f"rtsp://{host}/2").label == host[:198] + " 2"


def test_a_store_with_duplicate_labels_opens_and_lookups_refuse_them(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store written before labels were unique: nothing is lost, only a lookup by the shared label
    is refused (naming the streams) until one is renamed."""
    with StreamStore(db) as old:
        door = old.add(DOOR, label="Door")
        twin = old.add(YARD, label="Twin")
        other = old.add("demo://mandelbrot")
    with raw(db) as conn, conn:  # what an older rtsp-notebook could write
        conn.execute("UPDATE streams SET label = 'door' WHERE id = ?", (twin.id,))

    caplog.set_level(logging.WARNING, logger="rtsp_notebook.store.sqlite")
    with StreamStore(db) as store:
        assert [(r.id, r.label) for r in store.list()] == [(door.id, "Door"), (twin.id, "door"),
                                                           (other.id, "mandelbrot")]  # fmt: skip
        assert f"streams {door.id}, {twin.id} share the label 'Door'" in caplog.text
        for key in ("Door", "door", " DOOR"):
            with pytest.raises(AmbiguousLabelError) as info:
                store.find(key)
            assert isinstance(info.value, KeyError) and info.value.code == "AMBIGUOUS"
            assert info.value.ids == (door.id, twin.id) and info.value.label == key.strip()
            assert str(info.value) == (
                f"2 streams are labelled {key.strip()!r}; use an id instead ({door.id}, {twin.id})"
            )
        assert store.find(twin.id).label == "door" and store.find("mandelbrot") == other

        # both keep working: other changes, and their own label again, are no conflict
        assert store.update(twin.id, options={"keep_alive": True}).options["keep_alive"] is True
        assert store.update(twin.id, label="door").label == "door"
        with pytest.raises(ConflictError, match=rf"^the label 'DOOR' is used by stream {twin.id} "):
            store.update(door.id, label="DOOR")  # a rename to what the other has is refused
        with pytest.raises(ConflictError):
            store.add("rtsp://door3.example/x", label="Door")

        assert store.update(twin.id, label="Back door").label == "Back door"
        assert store.find("door") == store.get(door.id)


# --- conflicts and ids -------------------------------------------------------------------------------


def test_conflict_on_add_names_the_stream_not_the_url(store: StreamStore) -> None:
    door = store.add(DOOR, label="Door")
    with pytest.raises(ConflictError) as info:
        store.add(DOOR, label="Another")
    message = f"a stream with this URL already exists (id {door.id}, label 'Door')"
    assert str(info.value) == message
    assert "s3cret" not in str(info.value)
    assert [r.id for r in store.list()] == [door.id]


def test_conflict_uses_the_normalised_url(store: StreamStore) -> None:
    door = store.add(DOOR, label="Door")
    with pytest.raises(ConflictError, match=door.id):
        store.add(DOOR.replace("rtsp://", "RTSP://").replace("door.example", "DOOR.Example"))
    assert hash(door) == hash(store.get(door.id))


def test_conflict_on_update(store: StreamStore) -> None:
    door = store.add(DOOR, label="Door")
    yard = store.add(YARD, label="Yard")
    with pytest.raises(
        ConflictError, match=rf"^a stream with this URL already exists \(id {door.id}, label 'Door'\)$"
    ):
        store.update(yard.id, url=DOOR)
    assert store.get(yard.id) == yard
    assert store.update(door.id, url=DOOR).url == door.url  # its own URL is no conflict


@pytest.mark.parametrize(
    ("stream_id", "shown"),
    [("../etc", "'../etc'"), ("ABC123", "'ABC123'"), ("", "''"), ("a" * 33, repr("a" * 33)), (7, "7")],
)
def test_bad_id_shape(store: StreamStore, stream_id: Any, shown: str) -> None:
    message = f"stream id must be 1 to 32 characters of 0-9 and a-z, got {shown}"
    for call in (store.get, store.delete, lambda i: store.update(i, label="x")):
        with pytest.raises(InvalidInputError) as info:
            call(stream_id)
        assert str(info.value) == message


def test_unknown_id(store: StreamStore) -> None:
    with pytest.raises(StreamNotFoundError) as info:
        store.get("0123456789ab")
    assert str(info.value) == "no stream with id '0123456789ab'"
    assert info.value.code == "NOT_FOUND"


# --- validation messages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (5, "label must be a string, got int"),
        ("x" * 201, "label is too long (201 characters); at most 200 characters are allowed"),
        ("a\nb", r"label must not contain control characters (such as newlines or tabs), got 'a\nb'"),
        ("bell\x07", r"label must not contain control characters (such as newlines or tabs), got 'bell\x07'"),
        ("a\u2028b", r"label must not contain control characters (such as newlines or tabs), got 'a\u2028b'"),
    ],
)
def test_label_messages(label: object, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_label(label, "default")
    assert str(info.value) == message


def test_label_values() -> None:
    assert validate_label("  Front door ", "d") == "Front door"
    assert validate_label("", "d") == "d"
    assert validate_label("   ", "d") == "d"
    assert validate_label(None, "d") == "d"
    assert validate_label("x" * 200, "d") == "x" * 200
    assert validate_label("Café 🎥 <b>", "d") == "Café 🎥 <b>"  # shown as text, so HTML is fine


@given(st.text(max_size=260))
def test_label_is_valid_or_refused(text: str) -> None:
    try:
        label = validate_label(text, "d")
    except InvalidInputError:
        return
    assert label == (text.strip() or "d")
    assert 0 < len(label) <= 200
    label.encode()  # storable as UTF-8


@pytest.mark.parametrize("seconds", [0, 0.5, 30, 120])
def test_prebuffer_s_is_kept_and_applies_to_every_source(seconds: float, store: StreamStore) -> None:
    assert validate_options({"prebuffer_s": seconds})["prebuffer_s"] == seconds
    demo = store.add("demo://testsrc2", options={"prebuffer_s": seconds})
    assert demo.options == {"keep_alive": False, "prebuffer_s": seconds}
    assert store.get(demo.id).options["prebuffer_s"] == seconds


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["tcp"], "options must be an object of option names to values, got list"),
        ({"fps": 5}, "unknown option 'fps'; known options are: keep_alive, prebuffer_s, transport"),
        ({1: True}, "unknown option 1; known options are: keep_alive, prebuffer_s, transport"),
        ({"transport": "http"}, "option 'transport' must be one of 'auto', 'tcp', 'udp', got 'http'"),
        ({"transport": None}, "option 'transport' must be one of 'auto', 'tcp', 'udp', got None"),
        ({"keep_alive": 1}, "option 'keep_alive' must be true or false, got 1"),
        ({"keep_alive": "yes"}, "option 'keep_alive' must be true or false, got 'yes'"),
        (
            {"prebuffer_s": 121},
            "option 'prebuffer_s' must be a number of seconds from 0 (none) to 120, got 121",
        ),
        (
            {"prebuffer_s": -1},
            "option 'prebuffer_s' must be a number of seconds from 0 (none) to 120, got -1",
        ),
        (
            {"prebuffer_s": True},
            "option 'prebuffer_s' must be a number of seconds from 0 (none) to 120, got True",
        ),
        (
            {"prebuffer_s": "30"},
            "option 'prebuffer_s' must be a number of seconds from 0 (none) to 120, got '30'",
        ),
        (
            {"prebuffer_s": float("nan")},
            "option 'prebuffer_s' must be a number of seconds from 0 (none) to 120, got nan",
        ),
    ],
)
def test_option_messages(options: object, message: str, store: StreamStore) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_options(options)
    assert str(info.value) == message
    with pytest.raises(InvalidInputError, match="option"):
        store.add(DOOR, options=options)  # type: ignore[arg-type]
    assert store.list() == []


def test_option_values() -> None:
    assert validate_options(None) == DEFAULT_OPTIONS
    assert validate_options({}) == {"transport": "auto", "keep_alive": False}
    assert validate_options({"keep_alive": True}, {"transport": "udp"}) == {
        "transport": "udp",
        "keep_alive": True,
    }
    assert validate_options({"transport": "tcp"}, {"transport": "udp"})["transport"] == "tcp"


def test_options_that_do_not_apply_to_the_source_are_ignored() -> None:
    assert validate_options({"transport": "tcp"}, scheme="demo") == {"keep_alive": False}
    assert validate_options({"transport": "tcp"}, scheme="rtsps") == {"transport": "tcp", "keep_alive": False}
    with pytest.raises(InvalidInputError, match=r"^option 'transport' must be one of 'auto', 'tcp', 'udp'"):
        validate_options({"transport": "http"}, scheme="demo")  # checked all the same: a typo is caught


def test_a_demo_stream_has_no_transport(store: StreamStore, db: Path) -> None:
    demo = store.add("demo://smptebars", options={"transport": "tcp", "keep_alive": True})
    assert demo.options == {"keep_alive": True} == demo.public()["options"]
    assert store.update(demo.id, options={"transport": "udp"}).options == {"keep_alive": True}
    with raw(db) as conn:
        assert json.loads(conn.execute("SELECT options FROM streams").fetchone()[0]) == {"keep_alive": True}

    camera = store.update(demo.id, url=DOOR)  # a camera now: its transport is the default
    assert camera.options == {"transport": "auto", "keep_alive": True}
    camera = store.update(demo.id, options={"transport": "udp"})
    assert store.update(demo.id, url="demo://smptebars").options == {"keep_alive": True}

    with raw(db) as conn, conn:  # a row written before options followed the source
        conn.execute("UPDATE streams SET options = ? WHERE id = ?", (json.dumps(camera.options), demo.id))
    assert store.get(demo.id).options == {"keep_alive": True} == store.get(demo.id).public()["options"]


def test_options_size_limit() -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_options({}, {"note": "x" * 5000})
    assert str(info.value) == "options are too large (5049 bytes as JSON); at most 4096 bytes are allowed"


def test_secret_option_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = validation_module._Option(
        "a string of letters", lambda v: isinstance(v, str) and v.isalpha(), secret=True
    )
    monkeypatch.setitem(validation_module._OPTIONS, "token", spec)
    with pytest.raises(InvalidInputError) as info:
        validate_options({"token": "hunter2!"})
    assert str(info.value) == "option 'token' must be a string of letters, got a value that is not shown"


# --- privacy ----------------------------------------------------------------------------------------


def test_repr_and_public_hide_the_password(store: StreamStore) -> None:
    door = store.add(DOOR, label="Door")
    assert "s3cret" not in repr(door) and "s3cret" not in str(door)
    assert repr(door) == f"StreamRecord(id={door.id!r}, label='Door', url={door.masked_url!r})"
    public = door.public()
    assert "s3cret" not in json.dumps(public)
    assert list(public) == ["id", "label", "url", "sub_url", "options", "created_at", "updated_at"]
    assert public["sub_url"] is None
    assert public["url"] == parse_source(DOOR).masked
    for key in ("created_at", "updated_at"):
        assert public[key].endswith(("Z", "+00:00"))
        assert datetime.fromisoformat(public[key].replace("Z", "+00:00")) == getattr(door, key)


FIRST_PW, SECOND_PW = "Wq7-first-Kp3", "Zx9-second-Lm4"  # distinctive: no other bytes on disk match them


def files_holding(folder: Path, secrets: list[str]) -> list[str]:
    """``file: secret`` for every file of ``folder`` whose raw bytes hold one of ``secrets``."""
    return [
        f"{path.name}: {secret}"
        for path in sorted(folder.iterdir())
        if path.is_file()
        for secret in secrets
        if secret.encode() in path.read_bytes()
    ]


def test_delete_leaves_no_password_on_disk(db: Path) -> None:
    """Issue 11: after DELETE no password of the stream is left in the .db, -wal or -shm/-journal files."""
    first_url = f"rtsp://admin:{FIRST_PW}@door.example/stream1"
    with StreamStore(db) as store, StreamStore(db) as other:  # a second process's store on the same file
        door = store.add(first_url, label="Door")
        yard = other.add(YARD, label="Yard")
        assert files_holding(db.parent, [FIRST_PW]) != []  # the scan sees a stored password
        store.update(door.id, url=f"rtsp://admin:{SECOND_PW}@door.example/stream1", label="Door 2")
        other.update(yard.id, label="Yard 2")
        other.delete(door.id)

        assert files_holding(db.parent, [FIRST_PW, SECOND_PW]) == []
        assert files_holding(db.parent, ["yard-pw"]) != []  # the stream that stays keeps its URL
        with raw(db) as conn:
            row = conn.execute(
                "SELECT url, label, deleted_at FROM streams WHERE id = ?", (door.id,)
            ).fetchone()
        assert row[0] == "rtsp://admin:***@door.example/stream1" and row[1] == "Door 2" and row[2]
        assert store.list() == other.list() == [store.get(yard.id)]
        again = store.add(first_url)  # the URL is free again
        store.delete(again.id)
    assert files_holding(db.parent, [FIRST_PW, SECOND_PW]) == []


def test_update_of_the_url_leaves_no_old_password_on_disk(store: StreamStore, db: Path) -> None:
    door = store.add(f"rtsp://admin:{FIRST_PW}@door.example/stream1")
    store.update(door.id, url=f"rtsp://admin:{SECOND_PW}@door.example/stream1")
    assert files_holding(db.parent, [FIRST_PW]) == []
    assert files_holding(db.parent, [SECOND_PW]) != []


SUB_PW = "Qv5-substream-Tn8"
DOOR_SUB = f"rtsp://admin:{SUB_PW}@door.example/cam/realmonitor?channel=1&subtype=1"


def test_sub_url_is_stored_masked_in_public_and_checked_like_url(store: StreamStore) -> None:
    """Issue 14: the camera's substream is validated, normalised and masked exactly like ``url``."""
    door = store.add(DOOR, label="Door", sub_url=DOOR_SUB)
    assert door.sub_url == parse_source(DOOR_SUB).url and store.get(door.id).sub_url == door.sub_url
    assert SUB_PW not in repr(door) and SUB_PW not in json.dumps(door.public())
    assert door.public()["sub_url"] == parse_source(DOOR_SUB).masked
    assert repr(door).endswith(f"sub_url={door.masked_sub_url!r})")
    with pytest.raises(InvalidURLError) as bad:
        store.add(YARD, sub_url="http://yard.example/low")
    assert str(bad.value).startswith("sub_url: The scheme 'http' is not supported")
    with pytest.raises(InvalidURLError, match=r"^sub_url: The stream URL must be a string, not int"):
        store.update(door.id, sub_url=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="sub_url is the same as url"):
        store.update(door.id, sub_url=DOOR)
    with pytest.raises(InvalidInputError, match="sub_url is the same as url"):
        store.update(door.id, url=DOOR_SUB)  # a new url that is the kept substream
    assert store.get(door.id) == door  # nothing refused was stored
    assert store.update(door.id, label="Front").sub_url == door.sub_url  # None keeps it
    assert store.update(door.id, sub_url="").sub_url is None  # "" removes it
    assert store.get(door.id).public()["sub_url"] is None


def test_sub_url_password_leaves_the_disk_on_change_and_delete(store: StreamStore, db: Path) -> None:
    door = store.add(f"rtsp://admin:{FIRST_PW}@door.example/stream1", sub_url=DOOR_SUB)
    assert files_holding(db.parent, [SUB_PW]) != []
    store.update(door.id, sub_url=f"rtsp://admin:{SECOND_PW}@door.example/low")
    assert files_holding(db.parent, [SUB_PW]) == []
    store.delete(door.id)
    assert files_holding(db.parent, [FIRST_PW, SECOND_PW, SUB_PW]) == []
    with raw(db) as conn:
        row = conn.execute("SELECT url, sub_url FROM streams WHERE id = ?", (door.id,)).fetchone()
    assert row == ("rtsp://admin:***@door.example/stream1", "rtsp://admin:***@door.example/low")
    plain = store.add(YARD)  # a stream without a substream is deleted too
    store.delete(plain.id)


def test_a_version_2_database_gains_sub_url(db: Path) -> None:
    db.touch(mode=0o600)
    stamp = "2025-01-01T00:00:00.000000+00:00"
    with raw(db) as conn:
        for sql in store_module._MIGRATIONS[0]:  # migration 2 changes only rows
            conn.execute(sql)
        conn.execute("PRAGMA user_version = 2")
        conn.execute("INSERT INTO streams VALUES ('yard', ?, 'Yard', '{}', ?, ?, NULL)", (YARD, stamp, stamp))
        conn.commit()
    with StreamStore(db) as opened:
        assert opened.schema_version == 3
        assert opened.get("yard").url == YARD and opened.get("yard").sub_url is None
        assert opened.update("yard", sub_url=DOOR_SUB).sub_url == parse_source(DOOR_SUB).url


def test_opening_an_older_database_scrubs_its_deleted_streams(db: Path) -> None:
    """A version 1 database (before scrubbing): deleted streams hold passwords in rows and in free pages."""
    db.touch(mode=0o600)
    stamp = "2025-01-01T00:00:00.000000+00:00"
    long_path = "/" + "x" * 1500  # long URLs fill pages; shortening them frees pages that keep the bytes
    with raw(db) as conn:
        conn.execute("PRAGMA secure_delete = OFF")  # SQLite's default build: freed bytes stay
        conn.execute("PRAGMA journal_mode = WAL")
        for sql in store_module._MIGRATIONS[0]:
            conn.execute(sql)
        conn.execute("PRAGMA user_version = 1")
        conn.executemany(
            "INSERT INTO streams VALUES (?, ?, 'Door', '{}', ?, ?, NULL)",
            [
                (f"d{n}", f"rtsp://admin:{FIRST_PW}@door{n}.example{long_path}", stamp, stamp)
                for n in range(30)
            ],
        )
        conn.execute("INSERT INTO streams VALUES ('yard', ?, 'Yard', '{}', ?, ?, NULL)", (YARD, stamp, stamp))
        conn.commit()
        conn.execute(
            "UPDATE streams SET url = 'rtsp://admin:' || ? || '@' || id || '.example/s', deleted_at = ? "
            "WHERE id != 'yard'",
            (SECOND_PW, stamp),
        )
        conn.commit()
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 0
    assert files_holding(db.parent, [FIRST_PW, SECOND_PW]) == [
        f"streams.db: {FIRST_PW}",
        f"streams.db: {SECOND_PW}",
    ]

    with StreamStore(db) as opened:
        assert opened.schema_version == store_module.SCHEMA_VERSION
        assert [record.id for record in opened.list()] == ["yard"]
        assert opened.get("yard").url == YARD
        assert files_holding(db.parent, [FIRST_PW, SECOND_PW]) == []
    with raw(db) as conn:
        assert conn.execute("SELECT url FROM streams WHERE id = 'd7'").fetchone() == (
            "rtsp://admin:***@d7.example/s",
        )
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_store_errors_wrap_sqlite_and_hold_no_url(store: StreamStore, db: Path) -> None:
    store.add(YARD)
    assert store._conn is not None
    store._conn.execute("PRAGMA busy_timeout = 20")  # make the wait for the lock short
    with raw(db) as other:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError) as info:
            store.add(DOOR)
        other.execute("ROLLBACK")
    assert str(info.value) == "the stream database could not add a stream: database is locked"
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert store.add(DOOR).url == parse_source(DOOR).url  # usable again once the lock is gone


def test_closed_store(db: Path) -> None:
    opened = StreamStore(db)
    opened.close()
    opened.close()
    with pytest.raises(StoreError, match=r"^the stream store is closed$"):
        opened.list()


# --- the file --------------------------------------------------------------------------------------


@pytest.fixture
def no_umask() -> Iterator[None]:
    """Umask 0, so that every mode checked comes from the store and not from the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("no_umask")
def test_file_modes(tmp_path: Path) -> None:
    path = tmp_path / "new" / "data" / "streams.db"
    with StreamStore(path) as opened:
        opened.add(DOOR)
        assert mode_of(path.parent) == 0o700
        assert mode_of(path) == 0o600
        assert mode_of(Path(f"{path}-wal")) == 0o600
        assert mode_of(Path(f"{path}-shm")) == 0o600


@pytest.mark.usefixtures("no_umask")
def test_existing_directory_is_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    with StreamStore(tmp_path / "streams.db"):
        pass
    assert mode_of(tmp_path) == 0o755


def test_open_file_is_tightened_with_a_warning(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    with StreamStore(db) as opened:
        opened.add(DOOR)
    db.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="rtsp_notebook.store.sqlite"), StreamStore(db) as opened:
        assert opened.list()[0].url == parse_source(DOOR).url
        assert mode_of(db) == 0o600
    assert [r.getMessage() for r in caplog.records] == [
        f"{db} had mode 644 (open to other users); setting mode 600"
    ]


def test_connection_settings(store: StreamStore, db: Path) -> None:
    assert store._conn is not None
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with raw(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == store_module.SCHEMA_VERSION


def test_schema_version_is_the_latest(store: StreamStore) -> None:
    assert store.schema_version == store_module.SCHEMA_VERSION == len(store_module._MIGRATIONS) == 3


def test_migrates_an_empty_version_0_file(db: Path) -> None:
    db.touch(mode=0o600)
    with raw(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    with StreamStore(db) as opened:
        assert opened.schema_version == store_module.SCHEMA_VERSION
        door = opened.add(DOOR)
    with raw(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == store_module.SCHEMA_VERSION
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert conn.execute("SELECT id FROM streams").fetchall() == [(door.id,)]
    assert {"streams", "streams_active_url"} <= names


def test_refuses_a_newer_schema(db: Path) -> None:
    with raw(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    before = db.read_bytes()
    with pytest.raises(StoreError) as info:
        StreamStore(db)
    assert str(info.value) == (
        f"the stream database at {db} has schema version 99, newer than this rtsp-notebook knows (3); "
        "upgrade rtsp-notebook to use it"
    )
    assert db.read_bytes() == before
    with raw(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_refuses_a_file_that_is_not_a_database(db: Path) -> None:
    content = b"these are my notes, not a database\n" * 100
    db.write_bytes(content)
    db.chmod(0o644)
    with pytest.raises(StoreError) as info:
        StreamStore(db)
    assert str(info.value) == f"{db} is not an SQLite database; it was left untouched (move it away)"
    assert db.read_bytes() == content
    assert mode_of(db) == 0o644
    assert sorted(p.name for p in db.parent.iterdir()) == ["streams.db"]


def test_refuses_a_database_of_another_application(db: Path) -> None:
    with raw(db) as conn:
        conn.execute("CREATE TABLE photos (name TEXT)")
        conn.commit()
    before = db.read_bytes()
    with pytest.raises(
        StoreError, match=r"is an SQLite database of another application; its content was left untouched$"
    ):
        StreamStore(db)
    assert db.read_bytes() == before


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"^cannot open the stream database at "):
        StreamStore(tmp_path)


# --- sharing -----------------------------------------------------------------------------------------


def test_two_stores_on_one_file(db: Path) -> None:
    with StreamStore(db) as first, StreamStore(db) as second:
        door = first.add(DOOR, label="Door")
        assert second.get(door.id) == door
        changed = second.update(door.id, label="Front door")
        assert first.get(door.id) == changed
        with pytest.raises(ConflictError):
            second.add(DOOR)
        second.delete(door.id)
        assert first.list() == []


def test_threads_share_one_store(store: StreamStore) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                record = store.add(f"rtsp://t{n}-{i}.example/s")
                assert store.get(record.id) == record
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.list()) == 40


class ThreadRecordingStore(StreamStore):
    threads: set[int]

    def list(self) -> list[StreamRecord]:
        self.threads.add(threading.get_ident())
        return super().list()


async def test_async_store_runs_off_the_event_loop(db: Path) -> None:
    inner = ThreadRecordingStore(db)
    inner.threads = set()
    async with AsyncStore(inner) as astore:
        door = await astore.add(DOOR, label="Door")
        assert await astore.get(door.id) == door
        assert await astore.find("Door") == door
        assert await astore.list() == [door]
        changed = await astore.update(door.id, options={"keep_alive": True})
        assert changed.options["keep_alive"] is True
        await astore.delete(door.id)
        assert await astore.list() == []
        with pytest.raises(StreamNotFoundError):
            await astore.get(door.id)
        assert astore.schema_version == store_module.SCHEMA_VERSION
    assert len(inner.threads) == 1
    assert threading.get_ident() not in inner.threads
    await astore.aclose()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        inner.list()


async def test_async_store_open(db: Path) -> None:
    astore = await AsyncStore.open(db)
    try:
        calls = await asyncio.gather(*(astore.add(f"rtsp://cam{i}.example/s") for i in range(5)))
        assert [r.id for r in await astore.list()] == [r.id for r in calls]
    finally:
        await astore.aclose()


def test_default_store_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RTSP_NOTEBOOK_DB", str(tmp_path / "elsewhere.db"))
    assert default_store_path() == tmp_path / "elsewhere.db"
    monkeypatch.delenv("RTSP_NOTEBOOK_DB")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    assert default_store_path() == tmp_path / "data" / "rtsp_notebook" / "streams.db"


# --- kill -9 -----------------------------------------------------------------------------------------


class Writer:
    """A ``store_writer.py`` process and the ids it acknowledged."""

    def __init__(self, db: Path, prefix: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), prefix], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.acks: list[str] = []
        self.other: list[bytes] = []
        self._buffer = b""

    def feed(self, data: bytes) -> None:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for line in lines:
            if line.startswith(b"ack "):
                self.acks.append(line[4:].decode())
            else:
                self.other.append(line)

    def kill(self) -> None:
        """SIGKILL, reap, and collect the acks that were already in the pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        assert self.proc.stdout is not None
        if not self.proc.stdout.closed:
            self.feed(self.proc.stdout.read())
            self.proc.stdout.close()


@pytest.fixture
def spawn() -> Iterator[Callable[[Path, str], Writer]]:
    writers: list[Writer] = []

    def start(db: Path, prefix: str) -> Writer:
        writers.append(Writer(db, prefix))
        return writers[-1]

    yield start
    for writer in writers:
        writer.kill()


def kill_after(targets: dict[Writer, int], timeout: float = 60.0) -> None:
    """Read acks until each writer has its count, SIGKILL it at that very moment (mid-stream)."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for writer in targets:
            assert writer.proc.stdout is not None
            selector.register(writer.proc.stdout, selectors.EVENT_READ, writer)
        waiting = set(targets)
        while waiting:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"writers too slow: {[(len(w.acks), w.other) for w in waiting]}"
            for key, _ in selector.select(remaining):
                writer = key.data
                data = os.read(key.fd, 65536)
                assert data, f"writer exited early: {b'/'.join([*writer.other, writer._buffer])!r}"
                writer.feed(data)
                if len(writer.acks) >= targets[writer]:
                    selector.unregister(key.fileobj)
                    writer.kill()
                    waiting.discard(writer)


def check_database(db: Path, acked: list[str]) -> None:
    with raw(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        present = {row[0] for row in conn.execute("SELECT id FROM streams WHERE deleted_at IS NULL")}
    assert set(acked) <= present
    with StreamStore(db) as opened:
        for stream_id in acked:
            assert opened.get(stream_id).options == {"transport": "auto", "keep_alive": True}


def test_kill_9_never_loses_an_acknowledged_write(db: Path, spawn: Callable[[Path, str], Writer]) -> None:
    acked: list[str] = []
    for round_, count in enumerate([1, 30, 7, 44, 19]):
        writer = spawn(db, f"round{round_}")
        kill_after({writer: count})
        assert len(writer.acks) >= count
        acked += writer.acks
        check_database(db, acked)
    assert len(set(acked)) == len(acked)


def test_kill_9_two_writers_at_once(db: Path, spawn: Callable[[Path, str], Writer]) -> None:
    first, second = spawn(db, "first"), spawn(db, "second")
    kill_after({first: 25, second: 33})
    check_database(db, first.acks + second.acks)
    assert len(set(first.acks + second.acks)) == len(first.acks) + len(second.acks)
    assert first.proc.returncode == second.proc.returncode == -9


def test_times_are_utc_microseconds(store: StreamStore, db: Path) -> None:
    door = store.add(DOOR)
    with raw(db) as conn:
        created = conn.execute("SELECT created_at FROM streams").fetchone()[0]
    assert created == door.created_at.isoformat(timespec="microseconds")
    assert created.endswith("+00:00")
    assert door.created_at.tzinfo == timezone.utc
