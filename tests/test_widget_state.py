"""The Grid widget's Python side: validated traits with pinned messages, and synced state that holds
stream ids and layout only (never a URL, so never a password)."""

from __future__ import annotations

import json

import pytest
import traitlets

import rtsp_notebook as rn
from rtsp_notebook.notebook.hub import Stream
from rtsp_notebook.notebook.widget import Grid


def _stream(stream_id: str) -> Stream:
    return Stream(id=stream_id, label="Door", url="rtsp://admin:***@10.0.0.5/s1", state="idle", viewers=0,
                  last_error=None)  # fmt: skip


def test_defaults_and_public_name():
    grid = rn.Grid()
    assert rn.Grid is Grid
    assert (grid.columns, grid.streams, grid.renderer, grid.show_form, grid.connection) == (
        None, [], "auto", True, ""
    )  # fmt: skip
    assert repr(grid) == "<rtsp_notebook.Grid all streams; columns=auto>"


def test_streams_take_ids_or_stream_objects_once_each():
    grid = Grid([_stream("abc123"), "def456", "abc123"], columns=2)
    assert grid.streams == ["abc123", "def456"]
    assert repr(grid) == "<rtsp_notebook.Grid abc123, def456; columns=2>"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": 0}, "columns must be a whole number from 1 to 12, or None for as many as fit; got 0"),
        ({"columns": 13}, "columns must be a whole number from 1 to 12, or None for as many as fit; got 13"),
        ({"renderer": "svg"}, "renderer must be one of auto, canvas2d, webgl; got 'svg'"),
        (
            {"streams": ["rtsp://admin:hunter2@cam/s"]},
            "streams must be stream ids (1-32 lowercase letters and digits) or Stream objects; got str",
        ),
        (
            {"streams": [42]},
            "streams must be stream ids (1-32 lowercase letters and digits) or Stream objects; got int",
        ),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(traitlets.TraitError) as info:
        Grid(**kwargs)
    assert str(info.value) == message
    assert "hunter2" not in str(info.value)


def test_changing_a_trait_validates_too():
    grid = Grid()
    grid.columns = 4
    with pytest.raises(traitlets.TraitError):
        grid.columns = -1
    assert grid.columns == 4


def test_synced_state_holds_no_url():
    grid = Grid([_stream("abc123")], columns=3, renderer="canvas2d")
    state = grid.get_state()
    assert state["streams"] == ["abc123"] and state["columns"] == 3 and state["renderer"] == "canvas2d"
    text = json.dumps({k: v for k, v in state.items() if k not in ("_esm", "_css")})
    assert "rtsp://" not in text and "***" not in text
