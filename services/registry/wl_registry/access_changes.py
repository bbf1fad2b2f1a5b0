"""The access-change log: what lets the gateway cache access decisions safely.

Every transaction of the registry that inserts, updates or deletes a wasteland, a
member or a member credential (what ``GetWasteland`` answers from: visibility, status,
ownership, role, rig handle) also appends one row per touched wasteland to
``access_changes``, in the same transaction, so a change and its notice commit
together and no code path can forget it (:func:`install` hooks the session factory).
A bulk ``DELETE``/``UPDATE`` statement on those tables, whose rows the session never
loads, appends one row for every wasteland.

The gateway follows the log through ``WatchAccessChanges`` (:func:`changes_after`
polled by the servicer), whichever registry replica made the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from wasteland_common.db import utcnow

from .store import AccessChangeRow, CredentialRow, MemberRow, WastelandRow

# The tables whose rows decide a user's access or their GetWasteland answer.
WATCHED = (WastelandRow, MemberRow, CredentialRow)
_WATCHED_TABLES = frozenset(str(m.__tablename__) for m in WATCHED)
_PENDING = "access_changes_pending"


@dataclass(frozen=True)
class AccessChange:
    """One entry of the log; ``wasteland_id`` None means every wasteland."""

    change_id: int
    wasteland_id: str | None


def _touched(session: Session) -> set[str]:
    ids: set[str] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, WATCHED) and (session.is_modified(obj) or obj not in session.dirty):
            ids.add(obj.wasteland_id)
    return ids


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    session.info.setdefault(_PENDING, set()).update(_touched(session))


def _after_flush(session: Session, _context: Any) -> None:
    pending: set[str | None] = session.info.pop(_PENDING, set())
    _append(session, pending)


def _bulk(state: ORMExecuteState) -> None:
    if not (state.is_delete or state.is_update):
        return
    table = getattr(state.statement, "table", None)
    if table is not None and getattr(table, "name", None) in _WATCHED_TABLES:
        _append(state.session, {None})


def _append(session: Session, wasteland_ids: set[str | None]) -> None:
    if not wasteland_ids:
        return
    now = utcnow()
    session.connection().execute(
        sa.insert(AccessChangeRow),
        [{"wasteland_id": w, "changed_at": now} for w in sorted(wasteland_ids, key=str)],
    )


def install(sessions: sessionmaker[Session]) -> None:
    """Record access changes for every session ``sessions`` makes (see the module)."""
    if event.contains(sessions, "after_flush", _after_flush):
        return
    event.listen(sessions, "before_flush", _before_flush)
    event.listen(sessions, "after_flush", _after_flush)
    event.listen(sessions, "do_orm_execute", _bulk)


def head(session: Session) -> int:
    """The newest change id (0 when the log is empty)."""
    return int(session.scalar(sa.select(sa.func.max(AccessChangeRow.change_id))) or 0)


def changes_after(session: Session, after: int, limit: int = 500) -> Sequence[AccessChange]:
    """The changes after ``after``, oldest first, at most ``limit``."""
    rows = session.execute(
        sa.select(AccessChangeRow.change_id, AccessChangeRow.wasteland_id)
        .where(AccessChangeRow.change_id > after)
        .order_by(AccessChangeRow.change_id)
        .limit(limit)
    )
    return [AccessChange(int(cid), wid) for cid, wid in rows]


def prune(session: Session, now: datetime, keep: timedelta = timedelta(hours=1)) -> int:
    """Forget changes older than ``keep`` (a watcher reconnecting starts afresh)."""
    result = session.execute(
        sa.delete(AccessChangeRow).where(AccessChangeRow.changed_at < now - keep)
    )
    return int(getattr(result, "rowcount", 0) or 0)
