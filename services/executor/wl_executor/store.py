"""The executor's durable state: one row per wasteland workload, one row per operation.

Everything that must survive an executor restart lives here (the local runtime cannot
adopt processes across restarts; a cluster runtime re-reads its workloads). Functions
take an open ``Session`` and never commit: callers run them through
``wasteland_common.db.run_in_session`` so each call is one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from wasteland_common.db import UTCDateTime, migrate
from wasteland_common.vocabulary import (
    OPERATION_KINDS,
    OPERATION_STATUSES,
    RUNTIME_STATES,
    OperationStatusName,
    RuntimeStateName,
)

MIGRATIONS = Path(__file__).parent / "migrations"

metadata = sa.MetaData()


def _in(column: str, values: Sequence[str]) -> str:
    # Fixed, code-defined literals only (never user input): the CHECK constraint text.
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


runtimes = sa.Table(
    "runtimes",
    metadata,
    sa.Column("wasteland_id", sa.String(128), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("endpoint", sa.String(255), nullable=True),
    sa.Column("instance_id", sa.String(128), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("last_activity_at", UTCDateTime(), nullable=True),
    sa.Column("failure", sa.Text(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(_in("state", RUNTIME_STATES), name="ck_runtimes_state"),
)

operations = sa.Table(
    "operations",
    metadata,
    sa.Column("operation_id", sa.String(64), primary_key=True),
    sa.Column("wasteland_id", sa.String(128), nullable=False),
    sa.Column("user_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("wanted_id", sa.String(64), nullable=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("result", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint(_in("status", OPERATION_STATUSES), name="ck_operations_status"),
    sa.CheckConstraint(_in("kind", OPERATION_KINDS), name="ck_operations_kind"),
    sa.UniqueConstraint("user_id", "idempotency_key", name="uq_operations_user_key"),
    sa.Index("ix_operations_wasteland_status", "wasteland_id", "status"),
)


@dataclass(frozen=True)
class RuntimeRecord:
    """What the executor knows about one wasteland's workload."""

    wasteland_id: str
    state: RuntimeStateName
    endpoint: str | None
    instance_id: str | None
    started_at: datetime | None
    last_activity_at: datetime | None
    failure: str | None


@dataclass(frozen=True)
class OperationRecord:
    """One action a user asked for; ``result`` is the stored OperationResult JSON."""

    operation_id: str
    wasteland_id: str
    user_id: str
    kind: str
    wanted_id: str | None
    idempotency_key: str | None
    request_hash: str
    status: OperationStatusName
    result: str | None
    created_at: datetime
    finished_at: datetime | None


def migrate_schema(engine: Engine) -> None:
    """Bring the executor schema to the newest revision."""
    migrate(engine, MIGRATIONS)


def _runtime(row: Any) -> RuntimeRecord:
    return RuntimeRecord(
        wasteland_id=row.wasteland_id,
        state=cast(RuntimeStateName, row.state),
        endpoint=row.endpoint,
        instance_id=row.instance_id,
        started_at=row.started_at,
        last_activity_at=row.last_activity_at,
        failure=row.failure,
    )


def _operation(row: Any) -> OperationRecord:
    return OperationRecord(
        operation_id=row.operation_id,
        wasteland_id=row.wasteland_id,
        user_id=row.user_id,
        kind=row.kind,
        wanted_id=row.wanted_id,
        idempotency_key=row.idempotency_key,
        request_hash=row.request_hash,
        status=cast(OperationStatusName, row.status),
        result=row.result,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


# --- runtimes -----------------------------------------------------------------------


def get_runtime(session: Session, wasteland_id: str) -> RuntimeRecord | None:
    """The workload row of ``wasteland_id``, or None when it never ran."""
    row = session.execute(
        sa.select(runtimes).where(runtimes.c.wasteland_id == wasteland_id)
    ).first()
    return _runtime(row) if row else None


def list_runtimes(
    session: Session, states: Collection[RuntimeStateName] | None = None
) -> list[RuntimeRecord]:
    """Workload rows, optionally only those in ``states``, by wasteland id."""
    query = sa.select(runtimes).order_by(runtimes.c.wasteland_id)
    if states is not None:
        query = query.where(runtimes.c.state.in_(list(states)))
    return [_runtime(r) for r in session.execute(query)]


def lock_runtimes(session: Session) -> None:
    """Serialise cap decisions across transactions on PostgreSQL (SQLite already does)."""
    if session.get_bind().dialect.name == "postgresql":
        # Two concurrent wakes must not both see a free slot; a transaction-scoped
        # advisory lock keyed by a fixed number makes the decision one at a time.
        session.execute(sa.text("SELECT pg_advisory_xact_lock(740300)"))


def set_runtime(
    session: Session,
    wasteland_id: str,
    *,
    state: RuntimeStateName,
    now: datetime,
    **fields: Any,
) -> None:
    """Create or update the workload row; ``fields`` are other runtime columns."""
    allowed = {"endpoint", "instance_id", "started_at", "last_activity_at", "failure"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown runtime fields: {sorted(unknown)}")
    values = {"state": state, "updated_at": now, **fields}
    updated = cast(
        "sa.CursorResult[Any]",
        session.execute(
            sa.update(runtimes).where(runtimes.c.wasteland_id == wasteland_id).values(**values)
        ),
    )
    if updated.rowcount == 0:
        session.execute(sa.insert(runtimes).values(wasteland_id=wasteland_id, **values))


def touch_runtime(session: Session, wasteland_id: str, now: datetime) -> None:
    """Record activity on the workload (pushes its idle deadline back)."""
    session.execute(
        sa.update(runtimes)
        .where(runtimes.c.wasteland_id == wasteland_id)
        .values(last_activity_at=now, updated_at=now)
    )


def count_runtimes(
    session: Session, states: Collection[RuntimeStateName], *, exclude: str | None = None
) -> int:
    """How many workloads are in ``states`` (other than ``exclude``)."""
    query = (
        sa.select(sa.func.count()).select_from(runtimes).where(runtimes.c.state.in_(list(states)))
    )
    if exclude is not None:
        query = query.where(runtimes.c.wasteland_id != exclude)
    return int(session.execute(query).scalar_one())


def idle_running(
    session: Session, *, active_before: datetime | None = None, exclude: str | None = None
) -> list[RuntimeRecord]:
    """Running workloads with no operation in flight, least recently used first.

    ``active_before`` keeps only those whose last activity is at or before that time.
    """
    busy = (
        sa.select(operations.c.operation_id)
        .where(operations.c.wasteland_id == runtimes.c.wasteland_id)
        .where(operations.c.status == "running")
    )
    query = (
        sa.select(runtimes)
        .where(runtimes.c.state == "running")
        .where(~sa.exists(busy))
        .order_by(runtimes.c.last_activity_at.asc(), runtimes.c.wasteland_id.asc())
    )
    if active_before is not None:
        query = query.where(
            sa.or_(
                runtimes.c.last_activity_at.is_(None),
                runtimes.c.last_activity_at <= active_before,
            )
        )
    if exclude is not None:
        query = query.where(runtimes.c.wasteland_id != exclude)
    return [_runtime(r) for r in session.execute(query)]


# --- operations ---------------------------------------------------------------------


def insert_operation(session: Session, record: OperationRecord) -> OperationRecord | None:
    """Insert ``record``; when (user, idempotency key) is taken, return that row instead.

    Returns None when the row was inserted.
    """
    try:
        with session.begin_nested():
            session.execute(
                sa.insert(operations).values(
                    operation_id=record.operation_id,
                    wasteland_id=record.wasteland_id,
                    user_id=record.user_id,
                    kind=record.kind,
                    wanted_id=record.wanted_id,
                    idempotency_key=record.idempotency_key,
                    request_hash=record.request_hash,
                    status=record.status,
                    result=record.result,
                    created_at=record.created_at,
                    finished_at=record.finished_at,
                )
            )
    except sa.exc.IntegrityError:
        if record.idempotency_key is None:
            raise
        existing = find_operation_by_key(session, record.user_id, record.idempotency_key)
        if existing is None:
            raise
        return existing
    return None


def get_operation(session: Session, operation_id: str) -> OperationRecord | None:
    """The operation row, or None."""
    row = session.execute(
        sa.select(operations).where(operations.c.operation_id == operation_id)
    ).first()
    return _operation(row) if row else None


def find_operation_by_key(
    session: Session, user_id: str, idempotency_key: str
) -> OperationRecord | None:
    """The operation ``user_id`` started with ``idempotency_key``, or None."""
    row = session.execute(
        sa.select(operations)
        .where(operations.c.user_id == user_id)
        .where(operations.c.idempotency_key == idempotency_key)
    ).first()
    return _operation(row) if row else None


def finish_operation(
    session: Session,
    operation_id: str,
    *,
    status: OperationStatusName,
    result: str,
    now: datetime,
) -> None:
    """Store the final result of an operation that is still running."""
    session.execute(
        sa.update(operations)
        .where(operations.c.operation_id == operation_id)
        .where(operations.c.status == "running")
        .values(status=status, result=result, finished_at=now)
    )


def delete_operation(session: Session, operation_id: str) -> None:
    """Forget an operation that never reached a workload (so a retry may run it)."""
    session.execute(sa.delete(operations).where(operations.c.operation_id == operation_id))


def running_operations(session: Session, wasteland_id: str | None = None) -> list[OperationRecord]:
    """Operations still in flight, oldest first."""
    query = (
        sa.select(operations)
        .where(operations.c.status == "running")
        .order_by(operations.c.created_at)
    )
    if wasteland_id is not None:
        query = query.where(operations.c.wasteland_id == wasteland_id)
    return [_operation(r) for r in session.execute(query)]
