"""Validation of what users give the store: labels and options, with messages a person can act on
(the field, the bad value, what is allowed; never a secret option's value)."""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

from ..errors import InvalidInputError

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_OPTIONS", "MAX_LABEL_LENGTH", "MAX_OPTIONS_BYTES", "MAX_PREBUFFER_S", "STREAM_ID_RE",
    "applicable_options", "is_stream_id", "label_key", "validate_label", "validate_options",
]  # fmt: skip

# The shape of the ids the store makes: the one pattern every route, socket and call checks ids against
# (an id of any other shape cannot exist, so it is NOT_FOUND before any lookup).
STREAM_ID_RE: Final = re.compile(r"[0-9a-z]{1,32}")


def is_stream_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and STREAM_ID_RE.fullmatch(value) is not None


# transport "auto": TCP first, then UDP when the camera refuses TCP (RTSP 461); "tcp" / "udp" force one
DEFAULT_OPTIONS: Final[Mapping[str, Any]] = {"transport": "auto", "keep_alive": False}
MAX_LABEL_LENGTH: Final = 200
MAX_OPTIONS_BYTES: Final = 4096


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_EVERY_KIND: Final = frozenset({"rtsp", "rtsps", "demo"})  # the schemes of media.sources


@dataclass(frozen=True)
class _Option:
    allowed: str
    check: Callable[[object], bool]
    secret: bool = False  # a secret option's value is never echoed in a message
    kinds: frozenset[str] = _EVERY_KIND  # the source schemes it applies to


# seconds of the camera's own video a stream keeps for clips (``cam.clip``); 0: none. A prebuffer keeps the
# stream's source relay (and the camera's session) running, like keep_alive.
MAX_PREBUFFER_S: Final = 120


def _is_prebuffer(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and 0 <= value <= MAX_PREBUFFER_S  # NaN fails both comparisons
    )


_OPTIONS: Final[Mapping[str, _Option]] = {
    "keep_alive": _Option("true or false", lambda v: isinstance(v, bool)),
    "prebuffer_s": _Option(f"a number of seconds from 0 (none) to {MAX_PREBUFFER_S}", _is_prebuffer),
    # how FFmpeg reaches an RTSP camera: a demo:// source (FFmpeg's lavfi) has no transport
    "transport": _Option(
        "one of 'auto', 'tcp', 'udp'",
        lambda v: isinstance(v, str) and v in ("auto", "tcp", "udp"),
        kinds=frozenset({"rtsp", "rtsps"}),
    ),
}


def applicable_options(options: Mapping[str, Any], scheme: str) -> dict[str, Any]:
    """``options`` less the known ones that do not apply to a source of ``scheme`` (``transport`` on a
    ``demo://`` source): what a stream keeps and shows."""
    return {k: v for k, v in options.items() if k not in _OPTIONS or scheme in _OPTIONS[k].kinds}


def validate_options(
    options: object, base: Mapping[str, Any] | None = None, *, scheme: str | None = None
) -> dict[str, Any]:
    """Check user options and merge them over ``base`` (or the defaults); raises InvalidInputError.

    With a source ``scheme``, the options that do not apply to it are checked, then left out (a
    ``transport`` given for a ``demo://`` stream is ignored, so code written for cameras works on demos).
    """
    merged = {**DEFAULT_OPTIONS, **(base or {})}
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise InvalidInputError(
            f"options must be an object of option names to values, got {type(options).__name__}"
        )
    known = ", ".join(sorted(_OPTIONS))
    for key, value in options.items():
        spec = _OPTIONS.get(key) if isinstance(key, str) else None
        if spec is None:
            raise InvalidInputError(f"unknown option {_short(key)}; known options are: {known}")
        if not spec.check(value):
            shown = "a value that is not shown" if spec.secret else _short(value)
            raise InvalidInputError(f"option {key!r} must be {spec.allowed}, got {shown}")
        merged[key] = value
        if scheme is not None and scheme not in spec.kinds:
            log.debug("option %r does not apply to %s:// streams; ignored", key, scheme)
    if scheme is not None:
        merged = applicable_options(merged, scheme)
    size = len(json.dumps(merged, separators=(",", ":")).encode())
    if size > MAX_OPTIONS_BYTES:
        raise InvalidInputError(
            f"options are too large ({size} bytes as JSON); at most {MAX_OPTIONS_BYTES} bytes are allowed"
        )
    return merged


def label_key(label: str) -> str:
    """What labels are compared by: trimmed, case-folded, NFKC-normalised. Two labels with one key are
    the same label (``"Yard"``, ``" yard "``, ``"YARD"``): at most one active stream has it."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", label.strip()).casefold())


def validate_label(label: object, default: str) -> str:
    """A label: a string, stripped, at most 200 characters, no control characters; empty gives ``default``."""
    if not isinstance(label, str | None):
        raise InvalidInputError(f"label must be a string, got {type(label).__name__}")
    label = (label or "").strip()
    if not label:
        return default[:MAX_LABEL_LENGTH]
    if len(label) > MAX_LABEL_LENGTH:
        raise InvalidInputError(
            f"label is too long ({len(label)} characters); at most {MAX_LABEL_LENGTH} characters are allowed"
        )
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in label):
        raise InvalidInputError(
            f"label must not contain control characters (such as newlines or tabs), got {_short(label)}"
        )
    return label
