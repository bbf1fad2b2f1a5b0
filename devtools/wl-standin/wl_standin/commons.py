"""Reads of the wanted board, as the real ``wl`` issues them (``internal/commons``).

Every query string here is the real CLI's text; results go through the same CSV
conversion (:mod:`wl_standin.csvdata`) so parsing quirks carry over.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Protocol

from . import dml
from .csvdata import data_lines, parse_simple_csv, second_line
from .dml import BrowseFilter as BrowseFilter
from .dml import branch_name
from .errors import WlError
from .gofmt import atoi, quote_go, scan_int


class DB(Protocol):
    """What the board logic needs from the SQL backend (``commons.DB``)."""

    def query(self, sql: str, ref: str) -> str: ...

    def exec(self, branch: str, stmts: list[str]) -> None: ...

    def branches(self, prefix: str) -> list[str]: ...

    def delete_branch(self, branch: str) -> None: ...

    def can_wild_west(self) -> None: ...


@dataclass
class WantedItem:
    id: str = ""
    title: str = ""
    description: str = ""
    project: str = ""
    type: str = ""
    priority: int = 0
    tags: list[str] = field(default_factory=list)
    posted_by: str = ""
    claimed_by: str = ""
    status: str = ""
    effort_level: str = ""
    created_at: str = ""
    updated_at: str = ""


@dataclass
class CompletionRecord:
    id: str = ""
    wanted_id: str = ""
    completed_by: str = ""
    evidence: str = ""
    stamp_id: str = ""
    validated_by: str = ""


@dataclass
class Stamp:
    id: str = ""
    author: str = ""
    subject: str = ""
    quality: int = 0
    reliability: int = 0
    severity: str = ""
    context_id: str = ""
    context_type: str = ""
    skill_tags: list[str] = field(default_factory=list)
    message: str = ""


@dataclass
class WantedSummary:
    """One browse row; ``to_json`` gives the ``--json`` object in Go field order."""

    id: str = ""
    title: str = ""
    description: str = ""
    project: str = ""
    type: str = ""
    priority: int = 2
    posted_by: str = ""
    claimed_by: str = ""
    status: str = ""
    effort_level: str = ""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"id": self.id, "title": self.title}
        for key in ("description", "project", "type"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        out["priority"] = self.priority
        for key in ("posted_by", "claimed_by"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        out["status"] = self.status
        out["effort_level"] = self.effort_level
        return out


# --- lifecycle ----------------------------------------------------------------------------

# (name, from, to) in the real CLI's fixed order.
TRANSITIONS: tuple[tuple[str, str, str], ...] = (
    ("claim", "open", "claimed"),
    ("unclaim", "claimed", "open"),
    ("done", "claimed", "in_review"),
    ("accept", "in_review", "completed"),
    ("reject", "in_review", "claimed"),
    ("close", "in_review", "completed"),
    ("delete", "open", "withdrawn"),
    ("update", "open", "open"),
)


def compute_delta(main_status: str, branch_status: str, branch_exists: bool) -> str:
    """``new`` / transition name / ``changes`` for a branch against main."""
    if not branch_exists:
        return ""
    if main_status == "":
        return "new"
    if main_status != branch_status:
        for name, src, dst in TRANSITIONS:
            if src == main_status and dst == branch_status:
                return name
    return "changes"


def _can_perform(item: WantedItem, name: str, actor: str) -> bool:
    if name == "claim":
        return True
    if name == "unclaim":
        return actor in (item.claimed_by, item.posted_by)
    if name == "done":
        return item.claimed_by == actor
    if name == "accept":
        return item.posted_by == actor and item.claimed_by != actor
    return item.posted_by == actor  # reject, close, delete


def available_transitions(item: WantedItem | None, actor: str) -> list[str]:
    """Transition names valid for the item's status that ``actor`` may perform."""
    if item is None:
        return []
    return [
        name
        for name, src, _ in TRANSITIONS[:7]
        if item.status == src and _can_perform(item, name, actor)
    ]


# --- small reads --------------------------------------------------------------------------


def resolve_wanted_id(db: DB, id_or_prefix: str) -> str:
    """The one upstream ID starting with ``id_or_prefix``."""
    out = db.query(dml.select_id_prefix(id_or_prefix), "")
    matches = data_lines(out)
    if not matches:
        raise WlError(f"no wanted item matching {quote_go(id_or_prefix)}")
    if len(matches) > 1:
        raise WlError(f"ambiguous prefix {quote_go(id_or_prefix)} matches: {', '.join(matches)}")
    return matches[0]


def query_item_status(db: DB, wanted_id: str, ref: str) -> tuple[str, bool]:
    """``(status, found)`` of the item at ``ref``; raises on a failed query."""
    out = db.query(dml.select_status(wanted_id), ref)
    first = second_line(out)
    return (first, True) if first is not None else ("", False)


def status_or_empty(db: DB, wanted_id: str, ref: str) -> str:
    """:func:`query_item_status`, with any failure read as "no status"."""
    try:
        return query_item_status(db, wanted_id, ref)[0]
    except WlError:
        return ""


def _parse_tags(text: str) -> list[str]:
    text = text.strip()
    if text in ("", "NULL"):
        return []
    try:
        tags = json.loads(text)
    except ValueError:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return []
    return tags


def query_wanted_detail(db: DB, wanted_id: str, ref: str) -> WantedItem:
    """The full wanted row at ``ref`` (``""`` = upstream main); not-found is an error."""
    sql = dml.select_wanted_detail(wanted_id)
    rows = parse_simple_csv(db.query(sql, ref))
    if not rows:
        suffix = f" on ref {ref}" if ref else ""
        raise WlError(f"wanted item {quote_go(wanted_id)} not found{suffix}")
    row = rows[0]
    raw_priority = row.get("priority", "")
    priority = atoi(raw_priority)
    if priority is None and raw_priority != "":
        stamp = time.strftime("%Y/%m/%d %H:%M:%S")
        sys.stderr.write(
            f"{stamp} WARN malformed priority value wanted_id={wanted_id} value={raw_priority}\n"
        )
    return WantedItem(
        id=row.get("id", ""),
        title=row.get("title", ""),
        description=row.get("description", ""),
        project=row.get("project", ""),
        type=row.get("type", ""),
        priority=priority or 0,
        tags=_parse_tags(row.get("tags", "")),
        posted_by=row.get("posted_by", ""),
        claimed_by=row.get("claimed_by", ""),
        status=row.get("status", ""),
        effort_level=row.get("effort_level", ""),
        created_at=row.get("created_at", ""),
        updated_at=row.get("updated_at", ""),
    )


def query_completion(db: DB, wanted_id: str, ref: str) -> CompletionRecord:
    sql = dml.select_completion(wanted_id)
    rows = parse_simple_csv(db.query(sql, ref))
    if not rows:
        suffix = f" on ref {ref}" if ref else ""
        raise WlError(f"no completion found for wanted item {quote_go(wanted_id)}{suffix}")
    row = rows[0]
    return CompletionRecord(
        id=row.get("id", ""),
        wanted_id=row.get("wanted_id", ""),
        completed_by=row.get("completed_by", ""),
        evidence=row.get("evidence", ""),
        stamp_id=row.get("stamp_id", ""),
        validated_by=row.get("validated_by", ""),
    )


def query_stamp(db: DB, stamp_id: str, ref: str) -> Stamp:
    sql = dml.select_stamp(stamp_id)
    rows = parse_simple_csv(db.query(sql, ref))
    if not rows:
        suffix = f" on ref {ref}" if ref else ""
        raise WlError(f"stamp {quote_go(stamp_id)} not found{suffix}")
    row = rows[0]
    quality = reliability = 0
    if row.get("valence"):
        try:
            valence = json.loads(row["valence"])
        except ValueError:
            valence = None
        if isinstance(valence, dict):
            q, r = valence.get("quality"), valence.get("reliability")
            quality = q if isinstance(q, int) and not isinstance(q, bool) else 0
            reliability = r if isinstance(r, int) and not isinstance(r, bool) else 0
    return Stamp(
        id=row.get("id", ""),
        author=row.get("author", ""),
        subject=row.get("subject", ""),
        quality=quality,
        reliability=reliability,
        severity=row.get("severity", ""),
        context_id=row.get("context_id", ""),
        context_type=row.get("context_type", ""),
        skill_tags=_parse_tags(row.get("skill_tags", "")),
        message=row.get("message", ""),
    )


@dataclass
class FullDetail:
    item: WantedItem | None = None
    completion: CompletionRecord | None = None
    stamp: Stamp | None = None


def query_full_detail(db: DB, wanted_id: str, ref: str) -> FullDetail:
    """The item, plus its completion and stamp when it is in review or completed."""
    item = query_wanted_detail(db, wanted_id, ref)
    detail = FullDetail(item=item)
    if item.status in ("in_review", "completed"):
        try:
            detail.completion = query_completion(db, wanted_id, ref)
        except WlError:
            return detail
        if detail.completion.stamp_id:
            with contextlib.suppress(WlError):
                detail.stamp = query_stamp(db, detail.completion.stamp_id, ref)
    return detail


# --- browse -------------------------------------------------------------------------------


def _parse_summaries(csv_text: str) -> list[WantedSummary]:
    out: list[WantedSummary] = []
    for row in parse_simple_csv(csv_text):
        priority = 2
        if "priority" in row:
            scanned = scan_int(row["priority"])
            if scanned is not None:
                priority = scanned
        out.append(
            WantedSummary(
                id=row.get("id", ""),
                title=row.get("title", ""),
                description=row.get("description", ""),
                project=row.get("project", ""),
                type=row.get("type", ""),
                priority=priority,
                posted_by=row.get("posted_by", ""),
                claimed_by=row.get("claimed_by", ""),
                status=row.get("status", ""),
                effort_level=row.get("effort_level", ""),
            )
        )
    return out


def browse_wanted(db: DB, f: BrowseFilter) -> list[WantedSummary]:
    try:
        return _parse_summaries(db.query(dml.select_browse(f), ""))
    except WlError as exc:
        raise exc.wrap("querying wanted board") from exc


@dataclass
class BranchOverride:
    wanted_id: str
    branch: str
    status: str
    claimed_by: str


def _branch_state(db: DB, wanted_id: str, branch: str) -> tuple[str, str]:
    sql = dml.select_branch_state(wanted_id)
    try:
        rows = parse_simple_csv(db.query(sql, branch))
    except WlError:
        return "", ""
    if not rows:
        return "", ""
    return rows[0].get("status", ""), rows[0].get("claimed_by", "")


def detect_branch_overrides(db: DB, rig_handle: str) -> list[BranchOverride]:
    """Your own ``wl/<rig>/*`` branches whose item status differs from upstream."""
    prefix = f"wl/{rig_handle}/"
    try:
        branches = db.branches(prefix)
    except WlError:
        return []
    overrides: list[BranchOverride] = []
    for branch in branches:
        wanted_id = branch.removeprefix(prefix)
        status, claimed = _branch_state(db, wanted_id, branch)
        if status == "":
            continue
        if status != status_or_empty(db, wanted_id, ""):
            overrides.append(BranchOverride(wanted_id, branch, status, claimed))
    return overrides


def detect_all_branch_overrides(db: DB) -> tuple[list[BranchOverride], dict[str, int]]:
    """Every ``wl/*`` branch on your fork, first override per item, and branch counts."""
    try:
        branches = db.branches("wl/")
    except WlError:
        return [], {}
    counts: dict[str, int] = {}
    seen: set[str] = set()
    overrides: list[BranchOverride] = []
    for branch in branches:
        rest = branch.removeprefix("wl/")
        if "/" not in rest:
            continue
        wanted_id = rest[rest.index("/") + 1 :]
        if not wanted_id:
            continue
        counts[wanted_id] = counts.get(wanted_id, 0) + 1
        if wanted_id in seen:
            continue
        status, claimed = _branch_state(db, wanted_id, branch)
        if status == "":
            continue
        if status != status_or_empty(db, wanted_id, ""):
            seen.add(wanted_id)
            overrides.append(BranchOverride(wanted_id, branch, status, claimed))
    return overrides, counts


def _matches(item: WantedItem, f: BrowseFilter) -> bool:
    return not (
        (f.type and item.type != f.type)
        or (f.project and item.project != f.project)
        or (f.priority >= 0 and item.priority != f.priority)
        or (f.posted_by and item.posted_by != f.posted_by)
        or (f.claimed_by and item.claimed_by != f.claimed_by)
        or (f.search and f.search.lower() not in item.title.lower())
    )


def apply_branch_overrides(
    db: DB, items: list[WantedSummary], overrides: list[BranchOverride], f: BrowseFilter
) -> list[WantedSummary]:
    """Overlay branch statuses onto ``items`` and append branch-only matches."""
    if not overrides:
        return items
    by_id = {o.wanted_id: o for o in overrides}
    applied: set[str] = set()
    result: list[WantedSummary] = []
    for item in items:
        override = by_id.get(item.id)
        if override is not None:
            applied.add(item.id)
            item.status = override.status
            if override.claimed_by:
                item.claimed_by = override.claimed_by
            if f.status and item.status != f.status:
                continue
        result.append(item)
    for o in overrides:
        if o.wanted_id in applied or (f.status and o.status != f.status):
            continue
        try:
            found: WantedItem | None = query_wanted_detail(db, o.wanted_id, "")
        except WlError as exc:
            found = None
            if "not found" in str(exc):
                try:
                    found = query_wanted_detail(db, o.wanted_id, o.branch)
                except WlError:
                    found = None
        if found is not None and _matches(found, f):
            result.append(
                WantedSummary(
                    id=found.id,
                    title=found.title,
                    description=found.description,
                    project=found.project,
                    type=found.type,
                    priority=found.priority,
                    posted_by=found.posted_by,
                    claimed_by=found.claimed_by,
                    status=o.status,
                    effort_level=found.effort_level,
                )
            )
    return result


def browse_branch_aware(db: DB, mode: str, rig_handle: str, f: BrowseFilter) -> list[WantedSummary]:
    """Upstream browse, overlaid with fork branches in PR mode (view all/mine)."""
    items = browse_wanted(db, f)
    if mode != "pr" or f.view == "upstream":
        return items
    view = f.view or "all"
    if view == "all":
        overrides, _ = detect_all_branch_overrides(db)
    else:
        overrides = detect_branch_overrides(db, rig_handle)
    return apply_branch_overrides(db, items, overrides, f)


# --- item state (status command) -----------------------------------------------------------


def find_branch_for_item(db: DB, rig_handle: str, wanted_id: str) -> str:
    """``wl/<rig>/<id>`` when it is listed on the fork or holds the item's row."""
    branch = branch_name(rig_handle, wanted_id)
    try:
        if branch in db.branches(branch):
            return branch
    except WlError:
        pass
    status, _ = _branch_state(db, wanted_id, branch)
    return branch if status else ""


@dataclass
class ItemState:
    main: WantedItem | None = None
    branch: WantedItem | None = None
    branch_name: str = ""
    completion: CompletionRecord | None = None
    stamp: Stamp | None = None

    def effective(self) -> WantedItem | None:
        return self.branch if self.branch is not None else self.main

    def delta(self) -> str:
        if self.branch is None:
            return ""
        return compute_delta(self.main.status if self.main else "", self.branch.status, True)


def resolve_item_state(db: DB, rig_handle: str, wanted_id: str) -> ItemState:
    """Upstream row, your branch's row (if any), and the effective completion/stamp."""
    state = ItemState()
    try:
        state.main = query_wanted_detail(db, wanted_id, "")
    except WlError:
        state.main = None
    branch = find_branch_for_item(db, rig_handle, wanted_id)
    if branch:
        state.branch_name = branch
        try:
            state.branch = query_wanted_detail(db, wanted_id, branch)
        except WlError:
            state.branch = None
    eff = state.effective()
    if eff is not None and eff.status in ("in_review", "completed"):
        try:
            state.completion = query_completion(db, wanted_id, branch)
        except WlError:
            return state
        if state.completion.stamp_id:
            with contextlib.suppress(WlError):
                state.stamp = query_stamp(db, state.completion.stamp_id, branch)
    return state
