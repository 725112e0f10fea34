"""The words of ``python -m bench``'s table of figures, and the table it prints.

A ``Row`` is one figure: where its value is in the results of the section that measures it (``At``), its unit,
its target and the check of that target, the reference it is compared with and how that reads, and a note.
``Each`` stands for rows made per item of a result (one per number of viewers, one per FFmpeg run and
profile). Evaluated against one run's results (a ``Scope``), a row becomes a ``Figure``: a line of the
printed table and an entry of the JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mode:
    short: bool
    runs: int  # first_video / server / predecessor grabs
    outage_runs: int
    window: float  # s, throughput window (cpu uses its own: 4 s / 10 s)
    flash_s: float
    join_span: float  # s of the predecessor's output whose I-frames are timed
    browser_runs: int
    browser_window: float
    notes: str


@dataclass(frozen=True)
class Scope:
    """One run: each section's result (a section that failed has none), and the mode it ran in."""

    results: dict[str, Any]
    mode: Mode


Value = Callable[[Scope], Any]
Check = Callable[[Scope, Any], "bool | None"]  # (scope, ours) → target met? None: cannot tell


@dataclass(frozen=True)
class At:
    """A value deep in a section's result (None when the section failed or lacks it), through ``then``."""

    section: str
    path: tuple[str | int, ...] = ()
    then: Callable[[Any], Any] | None = None
    default: Any = None

    def __call__(self, scope: Scope) -> Any:
        value: Any = scope.results.get(self.section)
        for key in self.path:
            if value is None:
                break
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                value = None
        if value is None:
            return self.default
        return value if self.then is None else self.then(value)


def at(section: str, *path: str | int, then: Callable[[Any], Any] | None = None, default: Any = None) -> At:
    return At(section, path, then, default)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value} {unit}".strip()
    text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    return f"{text} {unit}".strip()


@dataclass(frozen=True)
class Shown:
    """A value as the table shows it, with its unit."""

    value: Value
    unit: str

    def __call__(self, scope: Scope) -> str:
        return fmt(self.value(scope), self.unit)


class Text:
    """A template whose ``{}`` take values of the run (``str.format``)."""

    def __init__(self, template: str, *values: Value) -> None:
        self.template = template
        self.values = values

    def __call__(self, scope: Scope) -> str:
        return self.template.format(*(value(scope) for value in self.values))


# -- the checks of a target: (scope, ours) → met? -----------------------------------------------------------


def at_most(limit: float, of: Value | None = None) -> Check:
    """Met when ours (or ``of``) is at most ``limit``."""

    def check(scope: Scope, ours: Any) -> bool | None:
        value = ours if of is None else of(scope)
        return None if value is None else bool(value <= limit)

    return check


def at_least(limit: float) -> Check:
    return lambda _scope, ours: None if ours is None else bool(ours >= limit)


def equals(expected: int) -> Check:
    return lambda _scope, ours: None if ours is None else bool(ours == expected)


def within(limit: float) -> Check:
    """Met when ours is between ``-limit`` and ``limit``."""
    return lambda _scope, ours: None if ours is None else abs(ours) <= limit


def truthy(_scope: Scope, ours: Any) -> bool | None:
    return None if ours is None else bool(ours)


def flag(of: Value) -> Check:
    """Met as ``of`` says (a yes/no result of the section)."""
    return lambda scope, _ours: of(scope)


# -- rows and figures ---------------------------------------------------------------------------------------


@dataclass
class Figure:
    key: str
    figure: str
    ours: float | None
    unit: str
    target: str
    met: bool | None = None
    reference: float | None = None
    reference_text: str = "—"  # how the reference reads in the table, with where it comes from
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.reference:
            return None
        return round(self.ours / self.reference, 3)


def _show(text: str | Value | None, scope: Scope) -> str:
    return "" if text is None else text if isinstance(text, str) else str(text(scope))


@dataclass(frozen=True)
class Row:
    """One figure: ``ours`` names the section that measures it."""

    key: str
    figure: str | Value
    ours: At
    unit: str
    target: str
    met: Check | None = None
    reference: Value | float | None = None
    reference_text: str | Value = "—"
    note: str | Value | None = None

    @property
    def section(self) -> str:
        return self.ours.section

    def figures(self, scope: Scope) -> list[Figure]:
        ours = self.ours(scope)
        reference = self.reference(scope) if callable(self.reference) else self.reference
        met = None if self.met is None else self.met(scope, ours)
        return [
            Figure(
                self.key,
                _show(self.figure, scope),
                ours,
                self.unit,
                self.target,
                met,
                reference,
                _show(self.reference_text, scope),
                _show(self.note, scope),
            )
        ]


@dataclass(frozen=True)
class Each:
    """Rows made from a section's result, one per item; ``missing`` stands for them when it has none."""

    section: str
    rows: Callable[[Scope], Sequence[Row]]
    missing: Figure

    def figures(self, scope: Scope) -> list[Figure]:
        rows = self.rows(scope)
        return [f for row in rows for f in row.figures(scope)] if rows else [self.missing]


def markdown(rows: list[Figure]) -> str:
    """The printed table (figure | ours | predecessor reference | ratio | target | met?)."""

    def met(value: bool | None) -> str:
        return "—" if value is None else "yes" if value else "**no**"

    lines = ["| figure | ours | predecessor reference | ratio | target | met? |", "|---|---|---|---|---|---|"]
    for f in rows:
        ours = fmt(f.ours, f.unit) + (f" ({f.note})" if f.note else "")
        ratio = "—" if f.ratio is None else f"{f.ratio:.3g}x"
        lines.append(f"| {f.figure} | {ours} | {f.reference_text} | {ratio} | {f.target} | {met(f.met)} |")
    return "\n".join(lines)
