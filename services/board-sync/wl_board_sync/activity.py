"""The activity log as its readers and recorders see it: a recorded activity checked at
the boundary, and pages of a wasteland's activities, newest first. The log itself (order,
locking, streams) is ``events.py``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session
from wasteland_common.activity import (
    ACTOR_MAX,
    EVENT_ID_PATTERN,
    KINDS,
    ActivityKindName,
    clean_detail,
)
from wasteland_common.errors import invalid

from .board import _fingerprint, decode_token, encode_token, page_size_of
from .events import LoggedEvent, NewActivity, logged
from .store import WastelandEvent

_REF_MAX: Final = 128
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{0,128}")


def _ref(value: str, field: str) -> str | None:
    if not value:
        return None
    if not _REF.fullmatch(value):
        raise invalid(field, f"must be an id of at most {_REF_MAX} plain characters")
    return value


def parse_activity(
    *,
    event_id: str,
    wasteland_id: str,
    kind: ActivityKindName | None,
    actor: str,
    wanted_id: str,
    pull_id: str,
    detail: str,
    request_id: str,
    at: datetime | None,
) -> NewActivity:
    """A RecordActivity request's activity, checked field by field (INVALID_ARGUMENT
    names the first bad one). The detail is redacted again: the log never holds a
    secret, whoever sent it."""
    if not EVENT_ID_PATTERN.fullmatch(event_id):
        raise invalid("activity.event_id", "must be a plain id of at most 128 characters")
    if kind is None or kind not in KINDS:
        raise invalid("activity.kind", "must be one of " + ", ".join(KINDS))
    if not actor or len(actor) > ACTOR_MAX or not actor.isprintable():
        raise invalid("activity.actor", f"required, at most {ACTOR_MAX} printable characters")
    if not _REQUEST_ID.fullmatch(request_id):
        raise invalid("activity.request_id", "must be a plain id of at most 128 characters")
    if at is None:
        raise invalid("activity.at", "is required")
    return NewActivity(
        event_id=event_id,
        wasteland_id=wasteland_id,
        kind=kind,
        actor=actor,
        wanted_id=_ref(wanted_id, "activity.wanted_id"),
        pull_id=_ref(pull_id, "activity.pull_id"),
        detail=clean_detail(detail),
        request_id=request_id,
        at=at,
    )


@dataclass(frozen=True)
class ActivityPage:
    events: list[LoggedEvent]
    next_page_token: str


def list_activity(
    session: Session,
    wasteland_id: str,
    *,
    kind: ActivityKindName | None = None,
    page_size: int = 0,
    page_token: str = "",
) -> ActivityPage:
    """Activities of ``wasteland_id``, newest first (``kind`` filters). A page token
    resumes after the last event of its page, so events recorded meanwhile never shift
    a later page (they are newer than every page already read)."""
    size = page_size_of(page_size)
    fingerprint = _fingerprint("activity", wasteland_id, kind or "")
    after = decode_token(page_token, fingerprint, (int,))
    e = WastelandEvent
    conditions: list[sa.ColumnElement[bool]] = [
        e.wasteland_id == wasteland_id,
        e.category == "activity",
    ]
    if kind is not None:
        conditions.append(e.kind == kind)
    if after is not None:
        conditions.append(e.seq < after[0])
    rows = list(
        session.scalars(sa.select(e).where(*conditions).order_by(e.seq.desc()).limit(size + 1))
    )
    token = ""
    if len(rows) > size:
        rows = rows[:size]
        token = encode_token(fingerprint, [rows[-1].seq])
    return ActivityPage([logged(r) for r in rows], token)
