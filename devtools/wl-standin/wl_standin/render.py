"""Human and JSON output of the real CLI, line for line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .commons import WantedSummary
from .gofmt import json_dumps
from .sdk import DetailResult, MutationResult
from .style import Styler, Tone, strip_ansi


def mutation_result(
    st: Styler, verb: str, wanted_id: str, result: MutationResult, extras: Sequence[str] = ()
) -> str:
    """``✓ <Verb> <id>`` and the read-back summary (``renderMutationResult``)."""
    lines = [f"{st.bold('✓')} {verb} {wanted_id}"]
    detail = result.detail
    if detail is not None and detail.item is not None:
        lines.append(f"  Title: {detail.item.title}")
        if detail.item.status:
            lines.append(f"  Status: {detail.item.status}")
    lines.extend(f"  {extra}" for extra in extras)
    if result.branch:
        lines.append(f"  Branch: {result.branch}")
    if detail is not None:
        if detail.branch_url:
            lines.append(f"  Branch URL: {detail.branch_url}")
        if detail.pr_url:
            lines.append(f"  PR: {detail.pr_url}")
        if detail.delta:
            lines.append(f"  Delta: {detail.delta}")
    text = "\n".join(lines) + "\n"
    if result.hint:
        text += f"\n  {st.dim(result.hint)}\n"
    return text


def next_hint(st: Styler, hint: str) -> str:
    return f"\n  {st.dim(hint)}\n"


def _status_colour(st: Styler, status: str) -> str:
    if status == "completed":
        return st.render(Tone.SUCCESS, status)
    if status in ("in_review", "claimed"):
        return st.render(Tone.WARNING, status)
    if status == "withdrawn":
        return st.render(Tone.DIM, status)
    return status


def detail_status(st: Styler, r: DetailResult) -> str:
    """The ``wl status`` block (``renderDetailStatus``)."""
    item = r.item
    assert item is not None
    out = [st.bold(f"{item.id}: {item.title}"), ""]
    out.append(f"  Status:      {_status_colour(st, item.status)}")
    line = "  "
    if item.type:
        line += f"Type:        {item.type:<14}"
    out.append(line + f"Priority: P{item.priority}")
    line = "  "
    if item.project:
        line += f"Project:     {item.project:<14}"
    out.append(line + f"Effort:   {item.effort_level}")
    if item.posted_by:
        out.append(f"  Posted by:   {item.posted_by}")
    if item.tags:
        out.append(f"  Tags:        {', '.join(item.tags)}")
    if item.created_at:
        out.append(f"  Created:     {item.created_at}")
    if item.updated_at:
        out.append(f"  Updated:     {item.updated_at}")
    if item.description:
        out += ["", "  Description:", f"    {item.description}"]
    if item.claimed_by:
        out += ["", f"  Claimed by:  {item.claimed_by}"]
    if r.branch:
        out += ["", f"  Branch:      {r.branch}"]
        if r.branch_url:
            out.append(f"  Branch URL:  {r.branch_url}")
        if r.delta:
            out.append(f"  Delta:       {r.delta}")
        if r.main_status:
            out.append(f"  Main status: {r.main_status}")
        if r.pr_url:
            out.append(f"  PR:          {r.pr_url}")
    if r.completion is not None:
        out += ["", f"  Completion:  {r.completion.id}"]
        if r.completion.evidence:
            out.append(f"    Evidence:    {r.completion.evidence}")
        out.append(f"    Completed by: {r.completion.completed_by}")
    if r.stamp is not None:
        s = r.stamp
        out += ["", f"  Stamp:       {s.id}"]
        out.append(
            f"    Quality: {s.quality}  Reliability: {s.reliability}  Severity: {s.severity}"
        )
        if s.skill_tags:
            out.append(f"    Skills:      {', '.join(s.skill_tags)}")
        if s.author:
            out.append(f"    Accepted by: {s.author}")
        if s.message:
            out.append(f"    Message:     {s.message}")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Column:
    name: str
    width: int
    right: bool = False


def _pad(styled: str, plain: str, width: int, right: bool) -> str:
    if len(plain) >= width:
        return styled
    pad = " " * (width - len(plain))
    return pad + styled if right else styled + pad


def table(st: Styler, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> str:
    """The real CLI's fixed-width table: bold header, dim rule, cells cut to width."""
    header = " ".join(_pad(st.bold(c.name), c.name, c.width, c.right) for c in columns)
    total = sum(c.width for c in columns) + len(columns) - 1
    lines = ["  " + header, "  " + st.dim("─" * total)]
    for row in rows:
        cells = []
        for i, col in enumerate(columns):
            value = row[i] if i < len(row) else ""
            plain = strip_ansi(value)
            if len(plain) > col.width:
                cut = plain[: col.width - 3] + "..." if col.width >= 4 else plain[: col.width]
                value = plain = cut
            cells.append(_pad(value, plain, col.width, col.right))
        lines.append("  " + " ".join(cells))
    return "\n".join(lines) + "\n"


def priority_label(st: Styler, text: str) -> str:
    """``wlFormatPriority``: ``P0``…``P4`` (styled) for 0-4, anything else unchanged."""
    label = {"0": "P0", "1": "P1", "2": "P2", "3": "P3", "4": "P4"}.get(text, text)
    tone = {"0": Tone.ERROR, "1": Tone.WARNING, "3": Tone.DIM, "4": Tone.DIM}.get(text)
    return st.render(tone, label) if tone else label


def _priority(st: Styler, priority: int) -> str:
    return priority_label(st, str(priority))


def browse_table(st: Styler, items: Sequence[WantedSummary], long: bool) -> str:
    """``wl browse`` human output."""
    if not items:
        return "No wanted items found matching your filters.\n"
    cols = [Column("ID", 12), Column("TITLE", 40)]
    if long:
        cols.append(Column("DESCRIPTION", 40))
    cols += [
        Column("PROJECT", 12),
        Column("TYPE", 10),
        Column("PRI", 4, right=True),
        Column("POSTED BY", 16),
        Column("STATUS", 10),
        Column("EFFORT", 8),
    ]
    rows = []
    for it in items:
        row = [it.id, it.title]
        if long:
            row.append(it.description)
        row += [
            it.project,
            it.type,
            _priority(st, it.priority),
            it.posted_by,
            it.status,
            it.effort_level,
        ]
        rows.append(row)
    return f"Wanted items ({len(items)}):\n\n" + table(st, cols, rows)


def browse_json(items: Sequence[WantedSummary]) -> str:
    """``wl browse --json``: an indented array, or ``null`` when there is nothing."""
    if not items:
        return "null\n"
    return json_dumps([it.to_json() for it in items], indent="  ") + "\n"
