"""Wastelands: create (join an upstream or provision from the template), read, list,
update, soft delete, and the purge of deleted wastelands' member data."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import dolthub, errors
from wasteland_common.auth import Principal

from . import ownership, paging, store
from .board import BoardNotifier
from .ownership import Access, Membership, OwnerType, Role, Visibility, WastelandFacts
from .paging import Page, PageRequest
from .store import CredentialRow, MemberRow, TownRow, WastelandRow
from .validation import UpstreamRef
from .workloads import WorkloadNotifier

log = logging.getLogger(__name__)

Status = Literal["provisioning", "active", "failed", "deleted"]
Clock = Callable[[], datetime]
IdFactory = Callable[[], str]

PURGE_AFTER = timedelta(days=30)
SCHEMA_QUERY = "SELECT `value` FROM `_meta` WHERE `key` = 'schema_version'"
_SCHEMA_V1 = re.compile(r"1(\.\d+)*")
LIST_KIND = "wastelands"
ACTIVE_KIND = "active-wastelands"


@dataclass(frozen=True)
class WastelandView:
    """A wasteland as the caller sees it (``my_role`` None for internal callers)."""

    wasteland_id: str
    name: str
    owner_type: OwnerType
    owner_user_id: str | None
    owner_org_id: str | None
    visibility: Visibility
    upstream: str
    dolthub_org: str
    status: Status
    created_at: datetime
    updated_at: datetime
    my_role: Role | None
    # The caller's rig handle here ("" when they have none yet).
    my_rig_handle: str = ""
    # Why provisioning failed ("" unless the status is failed).
    status_reason: str = ""


@dataclass(frozen=True)
class NewWasteland:
    """A checked CreateWasteland request."""

    name: str
    owner_type: OwnerType
    owner_org_id: str | None
    visibility: Visibility
    upstream: UpstreamRef | None
    dolthub_org: str | None


@dataclass(frozen=True)
class WastelandChanges:
    """A checked UpdateWasteland request; None leaves a field as it is."""

    name: str | None = None
    visibility: Visibility | None = None


class CommonsReader(Protocol):
    """The DoltHub reads creating a wasteland needs (``DoltHubClient`` satisfies it)."""

    async def database_exists(self, owner: str, db: str) -> bool: ...

    async def read(
        self, owner: str, db: str, sql: str, *, ref: str = "main"
    ) -> dolthub.QueryResult: ...


@dataclass(frozen=True)
class Joining:
    """How an existing commons is checked before a wasteland joins it: ``reader`` reads
    anonymously (a public upstream)."""

    reader: CommonsReader


# ---------------------------------------------------------------------------- access


class WastelandColumns(Protocol):
    """The columns of a wasteland row that its view shows: a ``WastelandRow``, or a row
    of a statement that selected them by these names."""

    @property
    def wasteland_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def owner_type(self) -> str: ...
    @property
    def owner_user_id(self) -> str | None: ...
    @property
    def owner_org_id(self) -> str | None: ...
    @property
    def visibility(self) -> str: ...
    @property
    def upstream(self) -> str: ...
    @property
    def dolthub_org(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def status_reason(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


def facts(row: WastelandColumns) -> WastelandFacts:
    """The access-relevant parts of a wasteland row."""
    return WastelandFacts(
        owner_type=cast(OwnerType, row.owner_type),
        owner_user_id=row.owner_user_id,
        owner_org_id=row.owner_org_id,
        visibility=cast(Visibility, row.visibility),
        deleted=row.status == "deleted",
    )


def membership(row: MemberRow | None) -> Membership | None:
    """A stored member row as the access decision sees it."""
    if row is None:
        return None
    return Membership(
        role=cast(ownership.StoredRole, row.role),
        trust_level=row.trust_level,
        source=cast(ownership.MemberSource, row.source),
    )


def member_row(session: Session, wasteland_id: str, user_id: str) -> MemberRow | None:
    """The stored membership of ``user_id`` in ``wasteland_id``, if any."""
    return session.scalars(
        sa.select(MemberRow).where(
            MemberRow.wasteland_id == wasteland_id, MemberRow.user_id == user_id
        )
    ).one_or_none()


def access_to(
    session: Session, principal: Principal, wasteland_id: str, *, for_update: bool = False
) -> tuple[WastelandRow, Access]:
    """The wasteland and the caller's access to it; NOT_FOUND when it is invisible."""
    query = sa.select(WastelandRow).where(WastelandRow.wasteland_id == wasteland_id)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise errors.NotFound("wasteland not found")
    access = ownership.decide(
        principal, facts(row), membership(member_row(session, wasteland_id, principal.user_id))
    )
    return row, ownership.require_visible(access)


def view(row: WastelandColumns, my_role: Role | None, my_rig_handle: str = "") -> WastelandView:
    """The read model of a wasteland row."""
    return WastelandView(
        wasteland_id=row.wasteland_id,
        name=row.name,
        owner_type=cast(OwnerType, row.owner_type),
        owner_user_id=row.owner_user_id,
        owner_org_id=row.owner_org_id,
        visibility=cast(Visibility, row.visibility),
        upstream=row.upstream,
        dolthub_org=row.dolthub_org,
        status=cast(Status, row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        my_role=my_role,
        my_rig_handle=my_rig_handle,
        status_reason=row.status_reason if row.status == "failed" else "",
    )


# ---------------------------------------------------------------------------- create


async def create(
    sessions: sessionmaker[Session],
    principal: Principal,
    spec: NewWasteland,
    *,
    joining: Joining,
    board: BoardNotifier,
    now: Clock,
    new_id: IdFactory,
) -> WastelandView:
    """Create a wasteland joined to the existing commons ``spec.upstream``; the creator
    becomes its owner. Provisioning a new commons is :mod:`.provisioning`'s job.

    The upstream must exist and have a v1 schema.
    """
    if spec.upstream is None:
        raise ValueError("joining needs an upstream; provisioning creates one")
    if not ownership.can_create(principal, spec.owner_type, spec.owner_org_id):
        raise errors.PermissionDenied("only the org's owners and members may create its wastelands")
    upstream = spec.upstream
    if not await joining.reader.database_exists(upstream.owner, upstream.database):
        raise errors.invalid("upstream", "no such DoltHub database")
    version = await schema_version(joining.reader, upstream)
    if version is None or not _SCHEMA_V1.fullmatch(version):
        raise errors.invalid(
            "upstream", f"not a Wasteland commons with schema 1.x (found {version or 'none'})"
        )
    created = await store.run(
        sessions, insert, principal, spec,
        upstream=str(upstream), status="active", now=now(), new_id=new_id,
    )  # fmt: skip
    _log_event("wasteland.created", created)
    await board.track(created.wasteland_id, created.upstream)
    return created


def _log_event(event: str, w: WastelandView) -> None:
    log.info("wasteland %s %s (%s)", w.wasteland_id, event, w.upstream, extra={"event": event})


async def schema_version(reader: CommonsReader, ref: UpstreamRef) -> str | None:
    """The commons' ``_meta.schema_version``, or None when it has none (not a commons)."""
    try:
        result = await reader.read(ref.owner, ref.database, SCHEMA_QUERY)
    except dolthub.QueryError:
        return None
    if not result.rows:
        return None
    value = next(iter(result.rows[0].values()))
    return value.strip() if value else None


def insert(
    session: Session,
    principal: Principal,
    spec: NewWasteland,
    *,
    upstream: str,
    status: Status,
    now: datetime,
    new_id: IdFactory,
) -> WastelandView:
    """Record a new wasteland and its creator as owner (trust 3, explicit)."""
    row = WastelandRow(
        wasteland_id=new_id(),
        name=spec.name,
        owner_type=spec.owner_type,
        owner_user_id=principal.user_id if spec.owner_type == "user" else None,
        owner_org_id=spec.owner_org_id if spec.owner_type == "org" else None,
        created_by=principal.user_id,
        visibility=spec.visibility,
        upstream=upstream,
        dolthub_org=spec.dolthub_org or "",
        status=status,
        status_reason="",
        created_at=now,
        updated_at=now,
        deleted_at=None,
    )
    session.add(row)
    session.flush()
    session.add(
        MemberRow(
            member_id=new_id(),
            wasteland_id=row.wasteland_id,
            user_id=principal.user_id,
            role="owner",
            trust_level=ownership.OWNER_TRUST,
            source="explicit",
            rig_handle=None,
            rig_registered_at=None,
            joined_at=now,
            updated_at=now,
        )
    )
    session.flush()
    return view(row, "owner")


def mark_active(session: Session, wasteland_id: str, now: datetime) -> WastelandView:
    """Make a provisioning wasteland active (a wasteland deleted meanwhile stays deleted)."""
    row = session.get(WastelandRow, wasteland_id, with_for_update=True)
    if row is None:
        raise errors.NotFound("wasteland not found")
    if row.status == "provisioning":
        row.status = "active"
        row.status_reason = ""
        row.updated_at = now
    return view(row, "owner")


def mark_failed(session: Session, wasteland_id: str, reason: str, now: datetime) -> None:
    """Record that provisioning failed, and why."""
    row = session.get(WastelandRow, wasteland_id, with_for_update=True)
    if row is not None and row.status == "provisioning":
        row.status = "failed"
        row.status_reason = reason[:500]
        row.updated_at = now


def fail_stale_provisioning(session: Session, now: datetime, older_than: timedelta) -> int:
    """Mark wastelands stuck in provisioning longer than ``older_than`` (a crash mid-way)
    as failed; returns how many."""
    stale = session.scalars(
        sa.select(WastelandRow).where(
            WastelandRow.status == "provisioning", WastelandRow.updated_at < now - older_than
        )
    ).all()
    for row in stale:
        row.status = "failed"
        row.status_reason = "provisioning was interrupted"
        row.updated_at = now
    return len(stale)


# ---------------------------------------------------------------------------- read


# Every board read's access check (GetWasteland) in one statement: the wasteland's
# columns and the caller's membership and credential (at most one row each, both unique
# per wasteland and user), read as plain columns, not hydrated ORM objects. Built once.
_GET = (
    sa.select(
        WastelandRow.wasteland_id,
        WastelandRow.name,
        WastelandRow.owner_type,
        WastelandRow.owner_user_id,
        WastelandRow.owner_org_id,
        WastelandRow.visibility,
        WastelandRow.upstream,
        WastelandRow.dolthub_org,
        WastelandRow.status,
        WastelandRow.status_reason,
        WastelandRow.created_at,
        WastelandRow.updated_at,
        MemberRow.role.label("member_role"),
        MemberRow.trust_level.label("member_trust_level"),
        MemberRow.source.label("member_source"),
        MemberRow.rig_handle.label("member_rig_handle"),
        CredentialRow.rig_handle.label("credential_rig_handle"),
    )
    .select_from(WastelandRow)
    .outerjoin(
        MemberRow,
        sa.and_(
            MemberRow.wasteland_id == WastelandRow.wasteland_id,
            MemberRow.user_id == sa.bindparam("user_id"),
        ),
    )
    .outerjoin(
        CredentialRow,
        sa.and_(
            CredentialRow.wasteland_id == WastelandRow.wasteland_id,
            CredentialRow.user_id == sa.bindparam("user_id"),
        ),
    )
    .where(WastelandRow.wasteland_id == sa.bindparam("wasteland_id"))
)


def get(session: Session, principal: Principal, wasteland_id: str) -> WastelandView:
    """The wasteland if the caller may see it, else NOT_FOUND (with the caller's rig:
    the registered one, else their credential's, else "")."""
    row = session.execute(
        _GET, {"wasteland_id": wasteland_id, "user_id": principal.user_id}
    ).one_or_none()
    if row is None:
        raise errors.NotFound("wasteland not found")
    member = (
        None
        if row.member_role is None
        else Membership(
            role=cast(ownership.StoredRole, row.member_role),
            trust_level=row.member_trust_level,
            source=cast(ownership.MemberSource, row.member_source),
        )
    )
    # The same decision as access_to(), over the same facts.
    access = ownership.require_visible(ownership.decide(principal, facts(row), member))
    rig = row.member_rig_handle or row.credential_rig_handle or ""
    return view(row, access.role, rig)


def _after(key: tuple[str, ...] | None) -> tuple[datetime, str] | None:
    if key is None:
        return None
    try:
        return datetime.fromisoformat(key[0]), key[1]
    except ValueError:
        raise errors.invalid("page_token", "not a valid page token") from None


def list_for(
    session: Session, principal: Principal, org_id: str | None, page: PageRequest
) -> Page[WastelandView]:
    """The org's wastelands (``org_id``), else the caller's own ones (owned or explicit
    memberships); oldest first, deleted ones left out."""
    query = sa.select(WastelandRow).where(WastelandRow.status != "deleted")
    if org_id is not None:
        if not ownership.can_list_org(principal, org_id):
            raise errors.PermissionDenied("not a member of this org")
        query = query.where(WastelandRow.owner_type == "org", WastelandRow.owner_org_id == org_id)
    else:
        explicit = sa.select(MemberRow.wasteland_id).where(
            MemberRow.user_id == principal.user_id, MemberRow.source == "explicit"
        )
        query = query.where(
            sa.or_(
                WastelandRow.owner_user_id == principal.user_id,
                WastelandRow.wasteland_id.in_(explicit),
            )
        )
    after = _after(page.after)
    if after is not None:
        created, wid = after
        query = query.where(
            sa.or_(
                WastelandRow.created_at > created,
                sa.and_(WastelandRow.created_at == created, WastelandRow.wasteland_id > wid),
            )
        )
    rows = session.scalars(
        query.order_by(WastelandRow.created_at, WastelandRow.wasteland_id).limit(page.size + 1)
    ).all()
    more = len(rows) > page.size
    rows = rows[: page.size]
    mine = {
        m.wasteland_id: m
        for m in session.scalars(
            sa.select(MemberRow).where(
                MemberRow.user_id == principal.user_id,
                MemberRow.wasteland_id.in_([r.wasteland_id for r in rows]),
            )
        )
    }
    items: list[WastelandView] = []
    for row in rows:
        access = ownership.decide(principal, facts(row), membership(mine.get(row.wasteland_id)))
        if access is not None:
            items.append(view(row, access.role))
    token = ""
    if more and rows:
        last = rows[-1]
        token = paging.encode(LIST_KIND, (last.created_at.isoformat(), last.wasteland_id))
    return Page(items, token)


def list_active(session: Session, page: PageRequest) -> Page[WastelandView]:
    """Every active wasteland, by id (for board-sync and the executor)."""
    query = sa.select(WastelandRow).where(WastelandRow.status == "active")
    if page.after is not None:
        query = query.where(WastelandRow.wasteland_id > page.after[0])
    rows = session.scalars(query.order_by(WastelandRow.wasteland_id).limit(page.size + 1)).all()
    more = len(rows) > page.size
    rows = rows[: page.size]
    token = paging.encode(ACTIVE_KIND, (rows[-1].wasteland_id,)) if more and rows else ""
    return Page([view(r, None) for r in rows], token)


# ---------------------------------------------------------------------------- change


def update(
    session: Session,
    principal: Principal,
    wasteland_id: str,
    changes: WastelandChanges,
    now: datetime,
) -> WastelandView:
    """Rename it or change its visibility (the owner only)."""
    row, access = access_to(session, principal, wasteland_id, for_update=True)
    ownership.require(
        ownership.can_update_wasteland(access), "only the wasteland's owners may change it"
    )
    changed = False
    if changes.name is not None and changes.name != row.name:
        row.name = changes.name
        changed = True
    if changes.visibility is not None and changes.visibility != row.visibility:
        row.visibility = changes.visibility
        changed = True
    if changed:
        row.updated_at = now
    return view(row, access.role)


def soft_delete(session: Session, principal: Principal, wasteland_id: str, now: datetime) -> None:
    """Mark it deleted (the owner; org owners for an org wasteland).

    Stored DoltHub tokens are erased at once; members and towns stay until
    :func:`purge_deleted` runs after the retention period.
    """
    row, access = access_to(session, principal, wasteland_id, for_update=True)
    ownership.require(
        ownership.can_delete_wasteland(principal, facts(row), access),
        "only org owners may delete an org wasteland"
        if row.owner_type == "org"
        else "only the wasteland's owner may delete it",
    )
    row.status = "deleted"
    row.deleted_at = now
    row.updated_at = now
    session.execute(sa.delete(CredentialRow).where(CredentialRow.wasteland_id == wasteland_id))


async def delete(
    sessions: sessionmaker[Session],
    principal: Principal,
    wasteland_id: str,
    *,
    board: BoardNotifier,
    workloads: WorkloadNotifier,
    now: Clock,
) -> None:
    """Soft-delete the wasteland, then stop its workload and its board tracking before
    answering (nothing of a deleted wasteland keeps running)."""
    await store.run(sessions, soft_delete, principal, wasteland_id, now())
    log.info("wasteland %s deleted", wasteland_id, extra={"event": "wasteland.deleted"})
    await workloads.stop(wasteland_id)
    await board.untrack(wasteland_id)


def purge_deleted(session: Session, now: datetime, retention: timedelta = PURGE_AFTER) -> int:
    """Erase members, credentials and towns of wastelands deleted more than ``retention``
    ago; returns how many wastelands had data erased. The wasteland row stays as a
    tombstone so its id is never reused."""
    ids = session.scalars(
        sa.select(WastelandRow.wasteland_id).where(
            WastelandRow.status == "deleted", WastelandRow.deleted_at <= now - retention
        )
    ).all()
    if not ids:
        return 0
    touched: set[str] = set()
    for table in (MemberRow, CredentialRow, TownRow):
        touched.update(
            session.scalars(
                sa.select(table.wasteland_id).where(table.wasteland_id.in_(ids)).distinct()
            )
        )
        session.execute(sa.delete(table).where(table.wasteland_id.in_(ids)))
    return len(touched)
