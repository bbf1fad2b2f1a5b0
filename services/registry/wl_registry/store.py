"""The registry's tables (one metadata; migrations/ mirrors it by hand)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from wasteland_common import errors
from wasteland_common.db import UTCDateTime, run_in_session

T = TypeVar("T")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

OWNER_TYPES = ("user", "org")
VISIBILITIES = ("public", "private")
STATUSES = ("provisioning", "active", "failed", "deleted")
STORED_ROLES = ("owner", "maintainer", "contributor")
MEMBER_SOURCES = ("explicit", "org")

USER_ID_LEN = 200
HANDLE_LEN = 64


def _in(column: str, values: tuple[str, ...]) -> str:
    # Fixed vocabularies from this module, never user input.
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class WastelandRow(Base):
    """A wasteland: a Wasteland commons on DoltHub hosted for a user or an org."""

    __tablename__ = "wastelands"

    wasteland_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    owner_type: Mapped[str] = mapped_column(sa.String(8))
    owner_user_id: Mapped[str | None] = mapped_column(sa.String(USER_ID_LEN), index=True)
    owner_org_id: Mapped[str | None] = mapped_column(sa.String(USER_ID_LEN), index=True)
    created_by: Mapped[str] = mapped_column(sa.String(USER_ID_LEN))
    visibility: Mapped[str] = mapped_column(sa.String(8))
    upstream: Mapped[str] = mapped_column(sa.String(2 * HANDLE_LEN + 1))
    dolthub_org: Mapped[str] = mapped_column(sa.String(HANDLE_LEN))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    # Why provisioning failed, in words safe to show the owner.
    status_reason: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.CheckConstraint(_in("owner_type", OWNER_TYPES), name="owner_type"),
        sa.CheckConstraint(_in("visibility", VISIBILITIES), name="visibility"),
        sa.CheckConstraint(_in("status", STATUSES), name="status"),
        sa.CheckConstraint(
            "(owner_type = 'user' AND owner_user_id IS NOT NULL AND owner_org_id IS NULL)"
            " OR (owner_type = 'org' AND owner_org_id IS NOT NULL AND owner_user_id IS NULL)",
            name="owner",
        ),
        sa.CheckConstraint("(status = 'deleted') = (deleted_at IS NOT NULL)", name="deleted"),
    )


class MemberRow(Base):
    """A user's membership of a wasteland (role, trust level, registered rig)."""

    __tablename__ = "members"

    member_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    wasteland_id: Mapped[str] = mapped_column(
        sa.ForeignKey("wastelands.wasteland_id", ondelete="CASCADE")
    )
    user_id: Mapped[str] = mapped_column(sa.String(USER_ID_LEN), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    trust_level: Mapped[int] = mapped_column(sa.Integer)
    source: Mapped[str] = mapped_column(sa.String(8))
    rig_handle: Mapped[str | None] = mapped_column(sa.String(HANDLE_LEN))
    rig_registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.UniqueConstraint("wasteland_id", "user_id"),
        sa.UniqueConstraint("wasteland_id", "rig_handle"),
        sa.CheckConstraint(_in("role", STORED_ROLES), name="role"),
        sa.CheckConstraint(_in("source", MEMBER_SOURCES), name="source"),
        sa.CheckConstraint("trust_level BETWEEN 0 AND 3", name="trust_level"),
    )


class CredentialRow(Base):
    """A user's DoltHub token for one wasteland, envelope-encrypted (see crypto.py)."""

    __tablename__ = "credentials"

    credential_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    wasteland_id: Mapped[str] = mapped_column(
        sa.ForeignKey("wastelands.wasteland_id", ondelete="CASCADE")
    )
    user_id: Mapped[str] = mapped_column(sa.String(USER_ID_LEN))
    dolthub_org: Mapped[str] = mapped_column(sa.String(HANDLE_LEN))
    rig_handle: Mapped[str] = mapped_column(sa.String(HANDLE_LEN))
    key_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    wrapped_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    key_nonce: Mapped[bytes] = mapped_column(sa.LargeBinary)
    token_nonce: Mapped[bytes] = mapped_column(sa.LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)
    token_hint: Mapped[str] = mapped_column(sa.String(4))
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The last fork-currency check of the user's fork (None: not checked or unknown).
    fork_behind: Mapped[bool | None] = mapped_column(sa.Boolean(), nullable=True)
    fork_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (sa.UniqueConstraint("wasteland_id", "user_id"),)

    def __repr__(self) -> str:
        # Never the ciphertext or key material.
        return (
            f"CredentialRow(wasteland_id={self.wasteland_id!r}, user_id={self.user_id!r},"
            f" key_id={self.key_id!r})"
        )


class UpstreamCredentialRow(Base):
    """The wasteland's token with write access on its upstream commons, envelope-encrypted
    like member credentials (associated data binds it to the wasteland)."""

    __tablename__ = "upstream_credentials"

    wasteland_id: Mapped[str] = mapped_column(
        sa.ForeignKey("wastelands.wasteland_id", ondelete="CASCADE"), primary_key=True
    )
    dolthub_user: Mapped[str] = mapped_column(sa.String(HANDLE_LEN))
    connected_by: Mapped[str] = mapped_column(sa.String(USER_ID_LEN))
    key_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    wrapped_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    key_nonce: Mapped[bytes] = mapped_column(sa.LargeBinary)
    token_nonce: Mapped[bytes] = mapped_column(sa.LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)
    token_hint: Mapped[str] = mapped_column(sa.String(4))
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"UpstreamCredentialRow(wasteland_id={self.wasteland_id!r}, key_id={self.key_id!r})"


class TownRow(Base):
    """A Gastown town taking part in a wasteland as an agent rig."""

    __tablename__ = "towns"

    wasteland_id: Mapped[str] = mapped_column(
        sa.ForeignKey("wastelands.wasteland_id", ondelete="CASCADE"), primary_key=True
    )
    town_id: Mapped[str] = mapped_column(sa.String(USER_ID_LEN), primary_key=True)
    rig_handle: Mapped[str] = mapped_column(sa.String(HANDLE_LEN))
    owner_email: Mapped[str] = mapped_column(sa.String(254))
    parent_rig: Mapped[str] = mapped_column(sa.String(HANDLE_LEN))
    connected_by: Mapped[str] = mapped_column(sa.String(USER_ID_LEN))
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The upstream pull request that registers the town's agent rig ("" until it is open).
    pull_request_url: Mapped[str] = mapped_column(sa.String(500), server_default="")

    __table_args__ = (sa.UniqueConstraint("wasteland_id", "rig_handle"),)


metadata = Base.metadata


class AccessChangeRow(Base):
    """One change that may change who sees a wasteland, or how (``access_changes``)."""

    __tablename__ = "access_changes"

    change_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    # NULL: every wasteland (a bulk change whose rows were not loaded).
    wasteland_id: Mapped[str | None] = mapped_column(sa.String(64))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


async def run(
    sessions: sessionmaker[Session], fn: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """``fn(session, *args, **kwargs)`` in one transaction (in a worker thread).

    A uniqueness or constraint clash with a concurrent request becomes ABORTED, so the
    caller may retry, instead of an internal error.
    """
    try:
        return await run_in_session(sessions, fn, *args, **kwargs)
    except sa.exc.IntegrityError:
        raise errors.Aborted("a concurrent change got there first; try again") from None
