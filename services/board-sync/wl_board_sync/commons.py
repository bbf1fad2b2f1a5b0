"""Rows of a wasteland's commons (DoltHub answers) parsed into typed values.

DoltHub returns every cell as text (or None for SQL NULL). Each parser checks every cell it
keeps against the commons schema v1.2 (``/work/shared/spec/wasteland-protocol.md`` §1):
integers, JSON documents, timestamps written as ``YYYY-MM-DD HH:MM:SS`` in UTC, and the
length limits of the upstream VARCHAR columns. A row with a bad cell is logged and
skipped; a parser never raises because of what a row contains.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Generic, Literal, TypeVar

log = logging.getLogger(__name__)

WantedStatus = Literal["open", "claimed", "in_review", "completed", "withdrawn"]
STATUSES: Final[tuple[WantedStatus, ...]] = (
    "open",
    "claimed",
    "in_review",
    "completed",
    "withdrawn",
)
# The types `wl post` accepts (the commons itself does not restrict the column).
TYPES: Final[tuple[str, ...]] = ("feature", "bug", "design", "rfc", "docs", "inference")
MIN_PRIORITY: Final = 0
MAX_PRIORITY: Final = 4
DEFAULT_PRIORITY: Final = 2  # the column default in the commons schema

# Lengths of the upstream VARCHAR columns; a longer value cannot have come from a real
# commons and would not fit the cache's columns either.
ID_MAX: Final = 64
HANDLE_MAX: Final = 255
PROJECT_MAX: Final = 64
TYPE_MAX: Final = 32
STATUS_MAX: Final = 32
EFFORT_MAX: Final = 16
TIER_MAX: Final = 32
SEVERITY_MAX: Final = 16
URI_MAX: Final = 512

_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?")
_INTEGER = re.compile(r"[+-]?\d{1,18}")

Row = Mapping[str, str | None]
T = TypeVar("T")


class BadCell(ValueError):
    """One cell of a commons row does not hold what the schema promises."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


# ---------------------------------------------------------------------- typed rows


@dataclass(frozen=True)
class WantedRow:
    """One row of the commons ``wanted`` table."""

    wanted_id: str
    title: str
    description: str | None
    project: str | None
    type: str | None
    priority: int
    tags: tuple[str, ...]
    posted_by: str | None
    claimed_by: str | None
    status: WantedStatus
    effort_level: str | None
    evidence_url: str | None
    sandbox_required: bool
    sandbox_scope: str | None
    sandbox_min_tier: str | None
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class CompletionRow:
    """One row of the commons ``completions`` table."""

    completion_id: str
    wanted_id: str
    completed_by: str | None
    evidence: str | None
    validated_by: str | None
    stamp_id: str | None
    completed_at: datetime | None
    validated_at: datetime | None


@dataclass(frozen=True)
class StampRow:
    """One row of the commons ``stamps`` table (valence split into its two scores)."""

    stamp_id: str
    author: str
    subject: str
    quality: int
    reliability: int
    severity: str | None
    context_id: str | None
    context_type: str | None
    skill_tags: tuple[str, ...]
    message: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class RigRow:
    """One row of the commons ``rigs`` table."""

    handle: str
    display_name: str | None
    rig_type: str | None
    parent_rig: str | None
    trust_level: int
    registered_at: datetime | None
    dolthub_org: str | None


@dataclass(frozen=True)
class BranchItem:
    """The state of one wanted item on a pull request's fork branch."""

    wanted_id: str
    status: WantedStatus
    claimed_by: str | None


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """The rows that passed validation and how many were skipped."""

    rows: list[T]
    skipped: int


# ---------------------------------------------------------------------- cell parsers


def _cell(row: Row, column: str) -> str | None:
    value = row.get(column)
    if value is not None and not isinstance(value, str):
        raise BadCell(column, "not text")
    return value


def text(row: Row, column: str, *, max_len: int | None = None) -> str | None:
    """An optional text cell; None for SQL NULL."""
    value = _cell(row, column)
    if value is None:
        return None
    if "\x00" in value:
        raise BadCell(column, "contains NUL")
    if max_len is not None and len(value) > max_len:
        raise BadCell(column, f"longer than {max_len} characters")
    return value


def required_text(row: Row, column: str, *, max_len: int | None = None) -> str:
    """A text cell that must be present and not blank."""
    value = text(row, column, max_len=max_len)
    if value is None or not value.strip():
        raise BadCell(column, "missing")
    return value


def integer(row: Row, column: str, *, default: int) -> int:
    """An integer cell; ``default`` for SQL NULL or an empty cell."""
    value = _cell(row, column)
    if value is None or value.strip() == "":
        return default
    value = value.strip()
    if not _INTEGER.fullmatch(value):
        raise BadCell(column, "not an integer")
    return int(value)


def boolean(row: Row, column: str, *, default: bool) -> bool:
    """A TINYINT(1) cell (``0``/``1``, or ``true``/``false``)."""
    value = _cell(row, column)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise BadCell(column, "not a boolean")


def timestamp(row: Row, column: str) -> datetime | None:
    """A TIMESTAMP cell written as ``YYYY-MM-DD HH:MM:SS`` (UTC), as an aware datetime.

    Fractional seconds (and an ISO ``T``/``Z`` spelling) are tolerated; anything else is a
    bad cell. Dolt's zero timestamp ``0000-00-00 00:00:00`` reads as absent.
    """
    value = _cell(row, column)
    if value is None or value.strip() == "":
        return None
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        raise BadCell(column, "not a timestamp 'YYYY-MM-DD HH:MM:SS'")
    year, month, day, hour, minute, second, fraction = match.groups()
    if (year, month, day) == ("0000", "00", "00"):
        return None
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC
        )
    except ValueError as exc:
        raise BadCell(column, "not a valid date and time") from exc


def json_document(row: Row, column: str) -> Any:
    """A JSON cell decoded (None for SQL NULL, an empty cell or JSON ``null``)."""
    value = _cell(row, column)
    if value is None or value.strip() == "":
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise BadCell(column, "not valid JSON") from exc


def string_list(row: Row, column: str) -> tuple[str, ...]:
    """A JSON array of strings (tags, skill tags); empty for NULL."""
    value = json_document(row, column)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadCell(column, "not a JSON array of strings")
    return tuple(value)


def json_text(row: Row, column: str) -> str | None:
    """A JSON cell kept as its text, after checking that it is valid JSON."""
    json_document(row, column)
    value = text(row, column)
    return value if value is not None and value.strip() else None


def status(row: Row, column: str = "status") -> WantedStatus:
    """A wanted-item status; only the five lifecycle values are accepted."""
    value = (text(row, column, max_len=STATUS_MAX) or "").strip()
    for known in STATUSES:
        if value == known:
            return known
    raise BadCell(column, "not a known status")


def _score(valence: Mapping[str, Any], key: str) -> int:
    value = valence.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadCell("valence", f"{key} is not a number")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise BadCell("valence", f"{key} is not an integer")
        value = int(value)
    if not -(2**31) <= value < 2**31:
        raise BadCell("valence", f"{key} is out of range")
    return value


# ---------------------------------------------------------------------- row parsers


def wanted_row(row: Row) -> WantedRow:
    """One ``wanted`` row; raises BadCell."""
    priority = integer(row, "priority", default=DEFAULT_PRIORITY)
    if not -(2**31) <= priority < 2**31:
        raise BadCell("priority", "out of range")
    title = text(row, "title")
    if title is None:
        raise BadCell("title", "missing")
    return WantedRow(
        wanted_id=required_text(row, "id", max_len=ID_MAX),
        title=title,
        description=text(row, "description"),
        project=text(row, "project", max_len=PROJECT_MAX),
        type=text(row, "type", max_len=TYPE_MAX),
        priority=priority,
        tags=string_list(row, "tags"),
        posted_by=text(row, "posted_by", max_len=HANDLE_MAX),
        claimed_by=text(row, "claimed_by", max_len=HANDLE_MAX),
        status=status(row),
        effort_level=text(row, "effort_level", max_len=EFFORT_MAX),
        evidence_url=text(row, "evidence_url"),
        sandbox_required=boolean(row, "sandbox_required", default=False),
        sandbox_scope=json_text(row, "sandbox_scope"),
        sandbox_min_tier=text(row, "sandbox_min_tier", max_len=TIER_MAX),
        created_at=timestamp(row, "created_at"),
        updated_at=timestamp(row, "updated_at"),
    )


def completion_row(row: Row) -> CompletionRow:
    """One ``completions`` row; raises BadCell."""
    return CompletionRow(
        completion_id=required_text(row, "id", max_len=ID_MAX),
        wanted_id=required_text(row, "wanted_id", max_len=ID_MAX),
        completed_by=text(row, "completed_by", max_len=HANDLE_MAX),
        evidence=text(row, "evidence"),
        validated_by=text(row, "validated_by", max_len=HANDLE_MAX),
        stamp_id=text(row, "stamp_id", max_len=ID_MAX),
        completed_at=timestamp(row, "completed_at"),
        validated_at=timestamp(row, "validated_at"),
    )


def stamp_row(row: Row) -> StampRow:
    """One ``stamps`` row; raises BadCell. ``valence`` must be a JSON object whose
    ``quality`` and ``reliability`` (0 when absent) are integers."""
    valence = json_document(row, "valence")
    if not isinstance(valence, dict):
        raise BadCell("valence", "not a JSON object")
    confidence = _cell(row, "confidence")
    if confidence is not None and confidence.strip():
        try:
            float(confidence)
        except ValueError as exc:
            raise BadCell("confidence", "not a number") from exc
    return StampRow(
        stamp_id=required_text(row, "id", max_len=ID_MAX),
        author=required_text(row, "author", max_len=HANDLE_MAX),
        subject=required_text(row, "subject", max_len=HANDLE_MAX),
        quality=_score(valence, "quality"),
        reliability=_score(valence, "reliability"),
        severity=text(row, "severity", max_len=SEVERITY_MAX),
        context_id=text(row, "context_id", max_len=ID_MAX),
        context_type=text(row, "context_type", max_len=TYPE_MAX),
        skill_tags=string_list(row, "skill_tags"),
        message=text(row, "message"),
        created_at=timestamp(row, "created_at"),
    )


def rig_row(row: Row) -> RigRow:
    """One ``rigs`` row; raises BadCell."""
    trust = integer(row, "trust_level", default=0)
    if not -(2**31) <= trust < 2**31:
        raise BadCell("trust_level", "out of range")
    return RigRow(
        handle=required_text(row, "handle", max_len=HANDLE_MAX),
        display_name=text(row, "display_name", max_len=HANDLE_MAX),
        rig_type=text(row, "rig_type", max_len=16),
        parent_rig=text(row, "parent_rig", max_len=HANDLE_MAX),
        trust_level=trust,
        registered_at=timestamp(row, "registered_at"),
        dolthub_org=text(row, "dolthub_org", max_len=HANDLE_MAX),
    )


def branch_item(row: Row) -> BranchItem:
    """The ``id, status, claimed_by`` of a wanted row read on a fork branch."""
    claimed_by = text(row, "claimed_by", max_len=HANDLE_MAX)
    return BranchItem(
        wanted_id=required_text(row, "id", max_len=ID_MAX),
        status=status(row),
        claimed_by=claimed_by if claimed_by else None,
    )


def _parse_all(
    table: str,
    rows: Iterable[Row],
    parse: Callable[[Row], T],
    key: Callable[[T], str],
    where: str,
) -> Parsed[T]:
    good: list[T] = []
    seen: set[str] = set()
    skipped = 0
    for index, raw in enumerate(rows):
        try:
            value = parse(raw)
        except BadCell as exc:
            skipped += 1
            log.warning(
                "skipping %s row %d of %s (id %.64r): %s", table, index, where, _id_of(raw), exc
            )
            continue
        except Exception:  # a parser bug must not stop the sync of every other row
            skipped += 1
            log.exception("skipping %s row %d of %s: unexpected parse failure", table, index, where)
            continue
        if key(value) in seen:
            skipped += 1
            log.warning("skipping %s row %d of %s: duplicate id", table, index, where)
            continue
        seen.add(key(value))
        good.append(value)
    return Parsed(good, skipped)


def _id_of(raw: Row) -> str:
    value = raw.get("id") if isinstance(raw, Mapping) else None
    if value is None and isinstance(raw, Mapping):
        value = raw.get("handle")
    return value if isinstance(value, str) else ""


def parse_wanted(rows: Sequence[Row], where: str = "commons") -> Parsed[WantedRow]:
    """Every valid ``wanted`` row; bad and duplicate rows are logged and skipped."""
    return _parse_all("wanted", rows, wanted_row, lambda r: r.wanted_id, where)


def parse_completions(rows: Sequence[Row], where: str = "commons") -> Parsed[CompletionRow]:
    """Every valid ``completions`` row; bad and duplicate rows are logged and skipped."""
    return _parse_all("completions", rows, completion_row, lambda r: r.completion_id, where)


def parse_stamps(rows: Sequence[Row], where: str = "commons") -> Parsed[StampRow]:
    """Every valid ``stamps`` row; bad and duplicate rows are logged and skipped."""
    return _parse_all("stamps", rows, stamp_row, lambda r: r.stamp_id, where)


def parse_rigs(rows: Sequence[Row], where: str = "commons") -> Parsed[RigRow]:
    """Every valid ``rigs`` row; bad and duplicate rows are logged and skipped."""
    return _parse_all("rigs", rows, rig_row, lambda r: r.handle, where)


def parse_branch_items(rows: Sequence[Row], where: str) -> Parsed[BranchItem]:
    """The valid ``id, status, claimed_by`` rows of a fork-branch read."""
    return _parse_all("wanted", rows, branch_item, lambda r: r.wanted_id, where)
