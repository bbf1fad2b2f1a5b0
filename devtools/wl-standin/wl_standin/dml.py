"""The exact SQL text the real ``wl`` sends, and its ID generators.

Every SQL string of the stand-in is built in this module and nowhere else. The stand-in
must send the real CLI's statements byte for byte, and the real CLI embeds values as
MySQL string literals with its ``EscapeSQL`` (backslashes and single quotes doubled) —
or, in a few places, by doubling single quotes only; both are reproduced exactly.
``wasteland_common.dolthub.sql.quote`` is not used because it also escapes NUL, which the
real CLI does not. The DoltHub API takes literal SQL text, so there is no parameter
binding to use instead.
"""

# ruff: noqa: S608 - this module is the one place SQL text is assembled (see above).

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .env import Clock


def escape_sql(text: str) -> str:
    """Backslashes and single quotes doubled, for a ``'…'`` literal."""
    return text.replace("\\", "\\\\").replace("'", "''")


def escape_like(text: str) -> str:
    """:func:`escape_sql` plus backslash-escaped LIKE wildcards ``%`` and ``_``."""
    return escape_sql(text).replace("%", "\\%").replace("_", "\\_")


def _literal_or_null(text: str) -> str:
    return f"'{escape_sql(text)}'" if text else "NULL"


def format_tags_json(tags: Sequence[str]) -> str:
    """A JSON array literal ``'["a","b"]'`` (quotes/backslashes escaped), or ``NULL``."""
    if not tags:
        return "NULL"
    escaped = [t.replace("\\", "\\\\").replace('"', '\\"') for t in tags]
    doc = '["' + '","'.join(escaped) + '"]'
    return "'" + doc.replace("'", "''") + "'"


def branch_name(rig_handle: str, wanted_id: str) -> str:
    """The PR-mode mutation branch ``wl/<rig>/<wanted-id>``."""
    return f"wl/{rig_handle}/{wanted_id}"


# --- IDs ---------------------------------------------------------------------------------


def generate_wanted_id(title: str, clock: Clock) -> str:
    """``w-`` + 10 hex chars of sha256(``title:unixnano:hex(8 random bytes)``)."""
    seed = f"{title}:{clock.time_ns()}:{clock.random_bytes(8).hex()}"
    return "w-" + hashlib.sha256(seed.encode("utf-8", "surrogateescape")).hexdigest()[:10]


def rfc3339_utc_seconds(clock: Clock) -> str:
    """The current UTC time as RFC 3339 with second precision (``…Z``)."""
    return datetime.fromtimestamp(clock.time_ns() // 1_000_000_000, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def generate_prefixed_id(prefix: str, inputs: Sequence[str], clock: Clock) -> str:
    """``<prefix>-`` + hex of the first 8 bytes of sha256(``a|b|…|<RFC3339 UTC second>``)."""
    data = "|".join(inputs) + "|" + rfc3339_utc_seconds(clock)
    digest = hashlib.sha256(data.encode("utf-8", "surrogateescape")).digest()
    return f"{prefix}-{digest[:8].hex()}"


# --- wanted-item mutations ----------------------------------------------------------------


@dataclass
class NewWanted:
    """The fields ``wl post`` inserts."""

    id: str
    title: str
    description: str = ""
    project: str = ""
    type: str = ""
    priority: int = 2
    effort_level: str = ""
    tags: list[str] = field(default_factory=list)
    posted_by: str = ""
    status: str = ""


class DmlError(ValueError):
    """A statement could not be built from the given values."""


def insert_wanted(item: NewWanted, clock: Clock) -> str:
    """``INSERT INTO wanted …`` with client-side UTC timestamps."""
    if not item.id:
        raise DmlError("wanted item ID cannot be empty")
    if not item.title:
        raise DmlError("wanted item title cannot be empty")
    now = datetime.fromtimestamp(clock.time_ns() // 1_000_000_000, UTC).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    effort = f"'{escape_sql(item.effort_level)}'" if item.effort_level else "'medium'"
    status = f"'{escape_sql(item.status)}'" if item.status else "'open'"
    return (
        "INSERT INTO wanted (id, title, description, project, type, priority, tags, posted_by, "
        "status, effort_level, created_at, updated_at)\n"
        f"VALUES ('{escape_sql(item.id)}', '{escape_sql(item.title)}', "
        f"{_literal_or_null(item.description)}, {_literal_or_null(item.project)}, "
        f"{_literal_or_null(item.type)}, {item.priority}, {format_tags_json(item.tags)}, "
        f"{_literal_or_null(item.posted_by)}, {status}, {effort}, '{now}', '{now}')"
    )


def claim_wanted(wanted_id: str, rig_handle: str) -> str:
    return (
        f"UPDATE wanted SET claimed_by='{escape_sql(rig_handle)}', status='claimed', "
        f"updated_at=NOW() WHERE id='{escape_sql(wanted_id)}' AND status='open'"
    )


def unclaim_wanted(wanted_id: str) -> str:
    return (
        "UPDATE wanted SET claimed_by=NULL, status='open', updated_at=NOW() "
        f"WHERE id='{escape_sql(wanted_id)}' AND status='claimed'"
    )


def submit_completion(
    completion_id: str, wanted_id: str, rig_handle: str, evidence: str, hop_uri: str
) -> list[str]:
    """The two ``wl done`` statements: guarded UPDATE, then a guarded INSERT IGNORE."""
    wid, rig, ev = escape_sql(wanted_id), escape_sql(rig_handle), escape_sql(evidence)
    update = (
        f"UPDATE wanted SET status='in_review', evidence_url='{ev}', updated_at=NOW() "
        f"WHERE id='{wid}' AND status='claimed' AND claimed_by='{rig}'"
    )
    insert = (
        "INSERT IGNORE INTO completions (id, wanted_id, completed_by, evidence, hop_uri, "
        f"completed_at) SELECT '{escape_sql(completion_id)}', '{wid}', '{rig}', '{ev}', "
        f"{_literal_or_null(hop_uri)}, NOW() FROM wanted WHERE id='{wid}' AND "
        f"status='in_review' AND claimed_by='{rig}' AND NOT EXISTS (SELECT 1 FROM "
        f"completions WHERE wanted_id='{wid}')"
    )
    return [update, insert]


@dataclass
class StampInput:
    """A reputation stamp issued by ``wl accept``."""

    id: str
    subject: str
    quality: int
    reliability: int
    severity: str
    skill_tags: list[str] = field(default_factory=list)
    message: str = ""


def accept_completion(
    wanted_id: str, completion_id: str, rig_handle: str, hop_uri: str, stamp: StampInput
) -> list[str]:
    """The three ``wl accept`` statements (only the last one is guarded)."""
    valence = f'{{"quality": {stamp.quality}, "reliability": {stamp.reliability}}}'
    insert_stamp = (
        "INSERT INTO stamps (id, author, subject, valence, confidence, severity, context_id, "
        "context_type, skill_tags, message, hop_uri, created_at) VALUES "
        f"('{escape_sql(stamp.id)}', '{escape_sql(rig_handle)}', '{escape_sql(stamp.subject)}', "
        f"'{escape_sql(valence)}', 1.0, '{escape_sql(stamp.severity)}', "
        f"'{escape_sql(completion_id)}', 'completion', {format_tags_json(stamp.skill_tags)}, "
        f"{_literal_or_null(stamp.message)}, {_literal_or_null(hop_uri)}, NOW())"
    )
    update_completion = (
        f"UPDATE completions SET validated_by='{escape_sql(rig_handle)}', "
        f"stamp_id='{escape_sql(stamp.id)}', validated_at=NOW() "
        f"WHERE id='{escape_sql(completion_id)}'"
    )
    update_wanted = (
        "UPDATE wanted SET status='completed', updated_at=NOW() "
        f"WHERE id='{escape_sql(wanted_id)}' AND status='in_review'"
    )
    return [insert_stamp, update_completion, update_wanted]


def reject_completion(wanted_id: str) -> list[str]:
    """Unconditional completion DELETE, then the guarded status revert."""
    wid = escape_sql(wanted_id)
    return [
        f"DELETE FROM completions WHERE wanted_id='{wid}'",
        "UPDATE wanted SET status='claimed', updated_at=NOW() "
        f"WHERE id='{wid}' AND status='in_review'",
    ]


def close_wanted(wanted_id: str) -> str:
    return (
        "UPDATE wanted SET status='completed', updated_at=NOW() "
        f"WHERE id='{escape_sql(wanted_id)}' AND status='in_review'"
    )


def delete_wanted(wanted_id: str) -> str:
    return (
        "UPDATE wanted SET status='withdrawn', updated_at=NOW() "
        f"WHERE id='{escape_sql(wanted_id)}' AND status='open'"
    )


@dataclass
class WantedUpdate:
    """``wl update`` fields; empty strings and priority -1 mean "leave alone"."""

    title: str = ""
    description: str = ""
    project: str = ""
    type: str = ""
    priority: int = -1
    effort_level: str = ""
    tags: list[str] = field(default_factory=list)
    tags_set: bool = False


def update_wanted(wanted_id: str, fields: WantedUpdate) -> str:
    """``UPDATE wanted SET <set fields>, updated_at=NOW() WHERE id=… AND status='open'``."""
    clauses: list[str] = []
    for column, value in (
        ("title", fields.title),
        ("description", fields.description),
        ("project", fields.project),
        ("type", fields.type),
    ):
        if value:
            clauses.append(f"{column}='{escape_sql(value)}'")
    if fields.priority >= 0:
        clauses.append(f"priority={fields.priority}")
    if fields.effort_level:
        clauses.append(f"effort_level='{escape_sql(fields.effort_level)}'")
    if fields.tags_set:
        clauses.append(f"tags={format_tags_json(fields.tags)}")
    if not clauses:
        raise DmlError("no fields to update")
    clauses.append("updated_at=NOW()")
    return (
        f"UPDATE wanted SET {', '.join(clauses)} WHERE id='{escape_sql(wanted_id)}' "
        "AND status='open'"
    )


def registration(handle: str, dolthub_org: str, display_name: str, email: str, version: str) -> str:
    """The rig registration upsert (trust_level hard-coded to 1 on insert)."""
    hop = f"hop://{email}/{handle}/"
    h, d, o, u, e, v = (
        escape_sql(x) for x in (handle, display_name, dolthub_org, hop, email, version)
    )
    return (
        "INSERT INTO rigs (handle, display_name, dolthub_org, hop_uri, owner_email, "
        "gt_version, trust_level, registered_at, last_seen) "
        f"VALUES ('{h}', '{d}', '{o}', '{u}', '{e}', '{v}', 1, NOW(), NOW()) "
        f"ON DUPLICATE KEY UPDATE display_name = '{d}', dolthub_org = '{o}', hop_uri = '{u}', "
        f"owner_email = '{e}', gt_version = '{v}', last_seen = NOW()"
    )


def _quotes_only(text: str) -> str:
    # Some real-CLI statements double single quotes but leave backslashes alone.
    return text.replace("'", "''")


# --- reads -------------------------------------------------------------------------------


@dataclass
class BrowseFilter:
    """``wl browse`` filters; priority -1 and empty strings mean "any"."""

    status: str = ""
    project: str = ""
    type: str = ""
    priority: int = -1
    limit: int = 50
    posted_by: str = ""
    claimed_by: str = ""
    search: str = ""
    view: str = ""
    long: bool = False


_SUMMARY_COLS = (
    "id, title, COALESCE(project,'') as project, COALESCE(type,'') as type, priority, "
    "COALESCE(posted_by,'') as posted_by, COALESCE(claimed_by,'') as claimed_by, status, "
    "COALESCE(effort_level,'medium') as effort_level"
)
_SUMMARY_COLS_LONG = (
    "id, title, COALESCE(description,'') as description, COALESCE(project,'') as project, "
    "COALESCE(type,'') as type, priority, COALESCE(posted_by,'') as posted_by, "
    "COALESCE(claimed_by,'') as claimed_by, status, COALESCE(effort_level,'medium') as "
    "effort_level"
)


def select_browse(f: BrowseFilter) -> str:
    """The browse SELECT (always ordered by priority, then newest first)."""
    conds: list[str] = []
    if f.status:
        conds.append(f"status = '{escape_sql(f.status)}'")
    if f.project:
        conds.append(f"project = '{escape_sql(f.project)}'")
    if f.type:
        conds.append(f"type = '{escape_sql(f.type)}'")
    if f.priority >= 0:
        conds.append(f"priority = {f.priority}")
    if f.posted_by:
        conds.append(f"posted_by = '{escape_sql(f.posted_by)}'")
    if f.claimed_by:
        conds.append(f"claimed_by = '{escape_sql(f.claimed_by)}'")
    if f.search:
        conds.append(f"title LIKE '%{escape_like(f.search)}%'")
    query = "SELECT " + (_SUMMARY_COLS_LONG if f.long else _SUMMARY_COLS) + " FROM wanted"
    if conds:
        query += " WHERE " + " AND ".join(conds)
    query += " ORDER BY priority ASC, created_at DESC"
    return query + f" LIMIT {f.limit if f.limit > 0 else 50}"


def select_id_prefix(prefix: str) -> str:
    return f"SELECT id FROM wanted WHERE id LIKE '{escape_like(prefix)}%' LIMIT 3"


def select_status(wanted_id: str) -> str:
    return f"SELECT status FROM wanted WHERE id = '{escape_sql(wanted_id)}'"


def select_branch_state(wanted_id: str) -> str:
    return (
        "SELECT status, COALESCE(claimed_by,'') AS claimed_by FROM wanted WHERE id = "
        f"'{escape_sql(wanted_id)}'"
    )


def select_wanted_detail(wanted_id: str) -> str:
    return (
        "SELECT id, title, COALESCE(description,'') as description, COALESCE(project,'') as "
        "project, COALESCE(type,'') as type, priority, COALESCE(tags,'') as tags, "
        "COALESCE(posted_by,'') as posted_by, COALESCE(claimed_by,'') as claimed_by, status, "
        "COALESCE(effort_level,'medium') as effort_level, COALESCE(created_at,'') as "
        "created_at, COALESCE(updated_at,'') as updated_at FROM wanted WHERE "
        f"id='{escape_sql(wanted_id)}'"
    )


def select_completion(wanted_id: str) -> str:
    return (
        "SELECT id, wanted_id, completed_by, COALESCE(evidence, '') as evidence, "
        "COALESCE(stamp_id, '') as stamp_id, COALESCE(validated_by, '') as validated_by "
        f"FROM completions WHERE wanted_id='{escape_sql(wanted_id)}'"
    )


def select_stamp(stamp_id: str) -> str:
    return (
        "SELECT id, author, subject, valence, severity, COALESCE(context_id,'') as "
        "context_id, COALESCE(context_type,'') as context_type, COALESCE(skill_tags,'') as "
        f"skill_tags, COALESCE(message,'') as message FROM stamps WHERE id='{escape_sql(stamp_id)}'"
    )


def select_branches_like(prefix: str) -> str:
    return f"SELECT name FROM dolt_branches WHERE name LIKE '{escape_like(prefix)}%' ORDER BY name"


def select_count_wanted(raw_id: str) -> str:
    """The branch-has-data probe (only single quotes are doubled here)."""
    return f"SELECT COUNT(*) AS cnt FROM wanted WHERE id='{_quotes_only(raw_id)}'"


def select_count_branch(branch: str) -> str:
    return f"SELECT COUNT(*) AS cnt FROM dolt_branches WHERE name='{_quotes_only(branch)}'"


def call_delete_branch(branch: str) -> str:
    return f"CALL DOLT_BRANCH('-D', '{_quotes_only(branch)}')"


def select_diff_stat(branch: str) -> str:
    return (
        "SELECT table_name, rows_added, rows_modified, rows_deleted FROM "
        f"dolt_diff_stat('main', '{_quotes_only(branch)}')"
    )


def select_diff_rows(branch: str, table: str) -> str:
    return f"SELECT * FROM dolt_diff('main', '{_quotes_only(branch)}', '{_quotes_only(table)}')"


def delete_completions(wanted_id: str) -> str:
    return f"DELETE FROM completions WHERE wanted_id='{escape_sql(wanted_id)}'"


def delete_wanted_row(wanted_id: str) -> str:
    return f"DELETE FROM wanted WHERE id='{escape_sql(wanted_id)}'"


SELECT_WANTED_SNAPSHOT = "SELECT id, status, COALESCE(claimed_by, '') as claimed_by FROM wanted"


def select_pending_diff(branch: str) -> str:
    """Rows of ``wanted`` whose status or claimer a PR branch changed."""
    return (
        "SELECT COALESCE(to_id, from_id) as id, COALESCE(to_status, '') as status, "
        "COALESCE(to_claimed_by, '') as claimed_by, diff_type FROM dolt_diff('main', "
        f"'{_quotes_only(branch)}', 'wanted') WHERE diff_type <> 'modified' OR "
        "COALESCE(to_status,'') <> COALESCE(from_status,'') OR COALESCE(to_claimed_by,'') <> "
        "COALESCE(from_claimed_by,'')"
    )


def select_pending_completion(wanted_id: str) -> str:
    return (
        "SELECT completed_by, COALESCE(evidence,'') as evidence FROM completions WHERE "
        f"wanted_id='{_quotes_only(wanted_id)}'"
    )


def select_my_claimed(handle: str) -> str:
    return (
        "SELECT id, title, status, priority, effort_level FROM wanted WHERE claimed_by = "
        f"'{escape_sql(handle)}' AND status IN ('claimed','in_review') ORDER BY priority ASC"
    )


def select_awaiting_review(handle: str) -> str:
    return (
        "SELECT id, title, claimed_by FROM wanted WHERE posted_by = "
        f"'{escape_sql(handle)}' AND status = 'in_review' ORDER BY priority ASC"
    )


def select_recent_completions(handle: str) -> str:
    return (
        f"SELECT id, title FROM wanted WHERE claimed_by = '{escape_sql(handle)}' AND "
        "status = 'completed' ORDER BY updated_at DESC LIMIT 5"
    )
