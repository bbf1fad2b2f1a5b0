"""Gastown towns taking part in a wasteland as agent rigs under the caller's rig."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from wasteland_common import errors
from wasteland_common.auth import Principal

from . import members, ownership
from .credentials import credential_row
from .store import CredentialRow, TownRow
from .wastelands import access_to, member_row


@dataclass(frozen=True)
class TownView:
    """A connected town."""

    town_id: str
    rig_handle: str
    owner_email: str
    parent_rig: str
    connected_by: str
    connected_at: datetime
    pull_request_url: str = ""


@dataclass(frozen=True)
class NewTown:
    """A checked ConnectTown request."""

    wasteland_id: str
    town_id: str
    rig_handle: str
    owner_email: str


def view(row: TownRow) -> TownView:
    """The read model of a town row."""
    return TownView(
        town_id=row.town_id,
        rig_handle=row.rig_handle,
        owner_email=row.owner_email,
        parent_rig=row.parent_rig,
        connected_by=row.connected_by,
        connected_at=row.connected_at,
        pull_request_url=row.pull_request_url or "",
    )


def connect(
    session: Session,
    principal: Principal,
    town: NewTown,
    *,
    now: datetime,
    new_id: Callable[[], str],
) -> TownView:
    """Connect a town as an agent rig whose parent is the caller's rig.

    The caller needs a rig here (a connected credential); a reader of a public wasteland
    becomes a contributor. The town's registration on DoltHub (a pull request) follows as
    an action; :func:`record_registration` keeps its outcome.
    """
    wasteland, access = access_to(session, principal, town.wasteland_id, for_update=True)
    ownership.require(
        ownership.can_connect(access), "site admins may read this wasteland but not take part"
    )
    if wasteland.status != "active":
        raise errors.FailedPrecondition("the wasteland is not active")
    credential = credential_row(session, town.wasteland_id, principal.user_id)
    member = member_row(session, town.wasteland_id, principal.user_id)
    parent = (member.rig_handle if member else None) or (
        credential.rig_handle if credential else None
    )
    if parent is None:
        raise errors.FailedPrecondition("connect DoltHub first")
    members.ensure_member(session, principal, town.wasteland_id, access, now=now, new_id=new_id)
    if session.get(TownRow, (town.wasteland_id, town.town_id)) is not None:
        raise errors.AlreadyExists("town_id: this town is already connected")
    taken_by_credential = session.scalars(
        sa.select(CredentialRow.user_id).where(
            CredentialRow.wasteland_id == town.wasteland_id,
            CredentialRow.rig_handle == town.rig_handle,
        )
    ).first()
    if (
        members.rig_handle_taken(session, town.wasteland_id, town.rig_handle, except_user=None)
        or taken_by_credential is not None
    ):
        raise errors.AlreadyExists(
            "rig_handle: already used by another rig in this wasteland",
            [errors.FieldViolation("rig_handle", "already used in this wasteland")],
        )
    row = TownRow(
        wasteland_id=town.wasteland_id,
        town_id=town.town_id,
        rig_handle=town.rig_handle,
        owner_email=town.owner_email,
        parent_rig=parent,
        connected_by=principal.user_id,
        connected_at=now,
        pull_request_url="",
    )
    session.add(row)
    session.flush()
    return view(row)


def list_towns(session: Session, principal: Principal, wasteland_id: str) -> list[TownView]:
    """Every town connected to a wasteland the caller may see, oldest first."""
    access_to(session, principal, wasteland_id)
    rows = session.scalars(
        sa.select(TownRow)
        .where(TownRow.wasteland_id == wasteland_id)
        .order_by(TownRow.connected_at, TownRow.town_id)
    ).all()
    return [view(r) for r in rows]


def disconnect(session: Session, principal: Principal, wasteland_id: str, town_id: str) -> None:
    """Disconnect a town (whoever connected it, or a maintainer or owner)."""
    _, access = access_to(session, principal, wasteland_id, for_update=True)
    refusal = "only whoever connected the town, maintainers and owners may disconnect it"
    ownership.require(access.is_member, refusal)
    row = session.get(TownRow, (wasteland_id, town_id))
    if row is None:
        raise errors.NotFound("town not found")
    ownership.require(
        row.connected_by == principal.user_id or access.at_least("maintainer"), refusal
    )
    session.delete(row)


def record_registration(
    session: Session, wasteland_id: str, town_id: str, *, registered: bool, pull_request_url: str
) -> None:
    """Keep how the town's DoltHub registration ended: the pull request that carries it,
    or (it failed) forget the town so it can be connected again."""
    row = session.get(TownRow, (wasteland_id, town_id))
    if row is None:
        return
    if registered:
        row.pull_request_url = pull_request_url
    else:
        session.delete(row)
