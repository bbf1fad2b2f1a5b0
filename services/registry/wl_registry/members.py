"""Members of a wasteland: list, add, update, remove, and the rig a join registered.

Stored rows are either explicit memberships (they grant their role) or ``org`` rows that
only remember an org member's rig (org membership itself comes from the caller's JWT).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session
from wasteland_common import errors
from wasteland_common.auth import Principal

from . import ownership, paging
from .ownership import Access, MemberSource, StoredRole
from .paging import Page, PageRequest
from .store import CredentialRow, MemberRow, TownRow, WastelandRow
from .wastelands import access_to, member_row

LIST_KIND = "members"


@dataclass(frozen=True)
class MemberView:
    """A membership as the API shows it."""

    user_id: str
    role: StoredRole
    trust_level: int
    rig_handle: str | None
    joined_at: datetime
    source: MemberSource


def view(row: MemberRow) -> MemberView:
    """The read model of a member row."""
    return MemberView(
        user_id=row.user_id,
        role=cast(StoredRole, row.role),
        trust_level=row.trust_level,
        rig_handle=row.rig_handle,
        joined_at=row.joined_at,
        source=cast(MemberSource, row.source),
    )


def list_members(
    session: Session, principal: Principal, wasteland_id: str, page: PageRequest
) -> Page[MemberView]:
    """The stored members of a wasteland the caller may see, by join time."""
    access_to(session, principal, wasteland_id)
    query = sa.select(MemberRow).where(MemberRow.wasteland_id == wasteland_id)
    if page.after is not None:
        try:
            joined = datetime.fromisoformat(page.after[0])
        except ValueError:
            raise errors.invalid("page_token", "not a valid page token") from None
        query = query.where(
            sa.or_(
                MemberRow.joined_at > joined,
                sa.and_(MemberRow.joined_at == joined, MemberRow.member_id > page.after[1]),
            )
        )
    rows = session.scalars(
        query.order_by(MemberRow.joined_at, MemberRow.member_id).limit(page.size + 1)
    ).all()
    more = len(rows) > page.size
    rows = rows[: page.size]
    token = ""
    if more and rows:
        token = paging.encode(LIST_KIND, (rows[-1].joined_at.isoformat(), rows[-1].member_id))
    return Page([view(r) for r in rows], token)


def add(
    session: Session,
    principal: Principal,
    wasteland_id: str,
    *,
    user_id: str,
    role: StoredRole,
    trust_level: int,
    now: datetime,
    new_id: Callable[[], str],
) -> MemberView:
    """Make ``user_id`` an explicit member (maintainers and owners only)."""
    _, access = access_to(session, principal, wasteland_id, for_update=True)
    ownership.require(
        ownership.can_manage_members(access), "only maintainers and owners may add members"
    )
    row = member_row(session, wasteland_id, user_id)
    if row is not None and row.source == "explicit":
        raise errors.AlreadyExists("user_id: already a member of this wasteland")
    if row is None:
        row = MemberRow(
            member_id=new_id(),
            wasteland_id=wasteland_id,
            user_id=user_id,
            rig_handle=None,
            rig_registered_at=None,
            joined_at=now,
        )
        session.add(row)
    # An org row becomes explicit, keeping the rig it recorded.
    row.role = role
    row.trust_level = trust_level
    row.source = "explicit"
    row.updated_at = now
    session.flush()
    return view(row)


def update(
    session: Session,
    principal: Principal,
    wasteland_id: str,
    *,
    user_id: str,
    role: StoredRole | None,
    trust_level: int | None,
    now: datetime,
) -> MemberView:
    """Change a member's role and/or trust level (maintainers and owners only)."""
    _, access = access_to(session, principal, wasteland_id, for_update=True)
    ownership.require(
        ownership.can_manage_members(access), "only maintainers and owners may change members"
    )
    row = member_row(session, wasteland_id, user_id)
    if row is None:
        raise errors.NotFound("member not found")
    if row.source == "explicit" and row.role == "owner":
        raise errors.FailedPrecondition("an owner's membership cannot be changed")
    if row.source == "org":
        # Editing an org member's standing turns it into an explicit membership.
        row.source = "explicit"
        row.role = "contributor" if row.role == "owner" else row.role
    if role is not None:
        row.role = role
    if trust_level is not None:
        row.trust_level = trust_level
    row.updated_at = now
    session.flush()
    return view(row)


def remove(session: Session, principal: Principal, wasteland_id: str, *, user_id: str) -> None:
    """Remove a member (maintainers and owners, or the member themself) and erase their
    stored DoltHub credential for this wasteland. An owner cannot remove themself."""
    wasteland, access = access_to(session, principal, wasteland_id, for_update=True)
    ownership.require(
        ownership.can_remove_member(access, caller_id=principal.user_id, target_id=user_id),
        "only maintainers and owners may remove other members",
    )
    row = member_row(session, wasteland_id, user_id)
    if row is None:
        raise errors.NotFound("member not found")
    if row.source == "explicit" and row.role == "owner":
        if user_id == principal.user_id:
            raise errors.FailedPrecondition("an owner cannot remove themself")
        ownership.require(access.role == "owner", "only owners may remove an owner")
        if wasteland.owner_type == "user" and wasteland.owner_user_id == user_id:
            raise errors.FailedPrecondition("the wasteland's owner cannot be removed")
    session.delete(row)
    session.execute(
        sa.delete(CredentialRow).where(
            CredentialRow.wasteland_id == wasteland_id, CredentialRow.user_id == user_id
        )
    )


def ensure_member(
    session: Session,
    principal: Principal,
    wasteland_id: str,
    access: Access,
    *,
    now: datetime,
    new_id: Callable[[], str],
) -> MemberRow:
    """The caller's member row, created when they take part for the first time.

    A reader of a public wasteland becomes an explicit contributor (trust 1); an org
    member gets an ``org`` row that only records their rig.
    """
    row = member_row(session, wasteland_id, principal.user_id)
    if row is not None:
        return row
    if access.source == "public":
        role, trust, source = "contributor", ownership.CONTRIBUTOR_TRUST, "explicit"
    elif access.source == "org":
        role, trust, source = access.role, access.trust_level, "org"
    else:
        raise errors.PermissionDenied("site admins may read this wasteland but not take part")
    row = MemberRow(
        member_id=new_id(),
        wasteland_id=wasteland_id,
        user_id=principal.user_id,
        role=role,
        trust_level=trust,
        source=source,
        rig_handle=None,
        rig_registered_at=None,
        joined_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def rig_handle_taken(
    session: Session, wasteland_id: str, rig_handle: str, *, except_user: str | None
) -> bool:
    """Whether another member's rig or a town already uses ``rig_handle`` here."""
    member = session.scalars(
        sa.select(MemberRow.user_id).where(
            MemberRow.wasteland_id == wasteland_id, MemberRow.rig_handle == rig_handle
        )
    ).first()
    if member is not None and member != except_user:
        return True
    town = session.scalars(
        sa.select(TownRow.town_id).where(
            TownRow.wasteland_id == wasteland_id, TownRow.rig_handle == rig_handle
        )
    ).first()
    return town is not None


def record_rig(
    session: Session, wasteland_id: str, *, user_id: str, rig_handle: str, now: datetime
) -> MemberView:
    """Remember the rig a successful join registered for ``user_id`` (executor only)."""
    wasteland = session.get(WastelandRow, wasteland_id)
    if wasteland is None or wasteland.status == "deleted":
        raise errors.NotFound("wasteland not found")
    row = member_row(session, wasteland_id, user_id)
    if row is None:
        raise errors.FailedPrecondition("the user is not a member of this wasteland")
    if rig_handle_taken(session, wasteland_id, rig_handle, except_user=user_id):
        raise errors.AlreadyExists("rig_handle: already registered in this wasteland")
    if row.rig_handle != rig_handle or row.rig_registered_at is None:
        row.rig_handle = rig_handle
        row.rig_registered_at = now
        row.updated_at = now
    session.flush()
    return view(row)
