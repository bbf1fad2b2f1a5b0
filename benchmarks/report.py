"""The bench's one table: measurements and ratios, each ratio beside its target.

Every scenario contributes :class:`Row` objects. A row carries a median (with its unit),
optionally the latency percentiles behind it, optionally a :class:`Target` (a ratio or
bound from issue 10, judged PASS or MISS) and a note that is printed as a footnote so
the table stays narrow. The same rows go to the JSON file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .stats import summarize

Comparison = Literal[">=", "<="]
_SYMBOL = {">=": "≥", "<=": "≤"}


@dataclass(frozen=True)
class Target:
    """A bound a measured value should meet, e.g. ``>= 0.5``."""

    op: Comparison
    bound: float

    def met(self, value: float) -> bool:
        """Whether ``value`` is within the bound (a NaN never is)."""
        if math.isnan(value):
            return False
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def text(self, unit: str) -> str:
        """``≥ 0.50`` / ``≤ 100 ms``."""
        return f"{_SYMBOL[self.op]} {format_value(self.bound, unit)}"


@dataclass
class Row:
    """One line of the table. Latencies (p50/p90/p99) are in milliseconds."""

    scenario: str
    measure: str
    value: float | None
    unit: str = ""
    n: int | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    target: Target | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """PASS/MISS against the target; "" without a target; "n/a" without a value."""
        if self.target is None:
            return ""
        if self.value is None or math.isnan(self.value):
            return "n/a"
        return "PASS" if self.target.met(self.value) else "MISS"

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data (NaN becomes null)."""

        def clean(v: float | None) -> float | None:
            return None if v is None or math.isnan(v) else v

        return {
            "scenario": self.scenario,
            "measure": self.measure,
            "value": clean(self.value),
            "unit": self.unit,
            "n": self.n,
            "p50_ms": clean(self.p50),
            "p90_ms": clean(self.p90),
            "p99_ms": clean(self.p99),
            "target": (
                None
                if self.target is None
                else {"op": self.target.op, "bound": self.target.bound, "unit": self.unit}
            ),
            "verdict": self.verdict or None,
            "note": self.note or None,
            **({"extra": self.extra} if self.extra else {}),
        }

    @classmethod
    def latency(cls, scenario: str, measure: str, values_ms: Sequence[float], **kw: Any) -> Row:
        """A row of durations in milliseconds: their median as the value, with p50/p90/p99."""
        summary = summarize(values_ms)
        return cls(
            scenario=scenario,
            measure=measure,
            value=summary.median,
            unit="ms",
            n=summary.n,
            p50=summary.median,
            p90=summary.p90,
            p99=summary.p99,
            **kw,
        )


def _number(value: float) -> str:
    magnitude = abs(value)
    if float(value).is_integer() and magnitude < 1e9:
        return f"{int(value):,}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def format_value(value: float | None, unit: str) -> str:
    """A number with its unit, precision by magnitude; ``—`` for none, ``nan`` for NaN."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "nan"
    if unit == "x":
        return f"{_number(value)}x"
    if unit == "%":
        return f"{_number(value)} %"
    return f"{_number(value)} {unit}".rstrip()


def _ms(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else _number(value)


HEADERS = ("scenario", "measure", "n", "median", "p50 ms", "p90 ms", "p99 ms", "target", "result")
_RIGHT = {2, 3, 4, 5, 6}


def render_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table, scenarios grouped, notes as numbered footnotes
    below it."""
    notes: list[str] = []
    cells: list[tuple[str, ...]] = []
    previous = None
    for row in rows:
        measure = row.measure
        if row.note:
            notes.append(row.note)
            measure = f"{measure} [{len(notes)}]"
        cells.append(
            (
                row.scenario if row.scenario != previous else "",
                measure,
                "" if row.n is None else str(row.n),
                format_value(row.value, row.unit),
                _ms(row.p50),
                _ms(row.p90),
                _ms(row.p99),
                row.target.text(row.unit) if row.target else "",
                row.verdict,
            )
        )
        previous = row.scenario
    widths = [len(h) for h in HEADERS]
    for line in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, line, strict=True)]

    def fmt(line: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in _RIGHT else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [fmt(HEADERS), fmt(["-" * w for w in widths])]
    previous = None
    for row, line in zip(rows, cells, strict=True):
        if previous is not None and row.scenario != previous:
            out.append("")
        out.append(fmt(line))
        previous = row.scenario
    if notes:
        out.append("")
        out.extend(f"[{i}] {note}" for i, note in enumerate(notes, start=1))
    return "\n".join(out)


def verdicts(rows: Sequence[Row]) -> dict[str, int]:
    """How many targets passed and missed (and could not be judged)."""
    counts = {"PASS": 0, "MISS": 0, "n/a": 0}
    for row in rows:
        if row.verdict:
            counts[row.verdict] += 1
    return counts


@dataclass
class ScenarioResult:
    """What one scenario contributes: its table rows and its raw data for the JSON."""

    rows: list[Row]
    data: dict[str, Any] = field(default_factory=dict)
