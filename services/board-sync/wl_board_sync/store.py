"""board-sync's tables: the tracked wastelands with their schedule, the cached board, and
each wasteland's durable event log.

The cache holds, per wasteland, the commons tables the board shows (wanted, completions,
stamps, rigs) as last read from DoltHub, plus the pending overlay of each wanted item (the
state an open pull request proposes). ``effective_status``/``effective_claimed_by`` are
what the board shows: the pending state when there is one, else the upstream state. They
are stored (not computed per query) so filters, counts and sorting stay plain SQL.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from wasteland_common.activity import KINDS
from wasteland_common.db import UTCDateTime
from wasteland_common.review import PULL_KINDS

from .commons import STATUSES

_STATUS_LIST = ", ".join(f"'{s}'" for s in STATUSES)
_KIND_LIST = ", ".join(f"'{k}'" for k in KINDS)
_PULL_KIND_LIST = ", ".join(f"'{k}'" for k in PULL_KINDS)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Alembic's version table for this service (services may share a PostgreSQL database).
VERSION_TABLE = "board_sync_alembic_version"


def tags_of(tags_json: str) -> list[str]:
    """The tags of a stored JSON array (strings only; [] for anything else)."""
    value = json.loads(tags_json)
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []


def new_board_revision() -> str:
    """A board revision no wasteland has had before (random, so replicas and a wasteland
    tracked again never reuse one)."""
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class TrackedWasteland(Base):
    """A wasteland board-sync polls, with its schedule, lease and last sync."""

    __tablename__ = "board_wastelands"

    wasteland_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    upstream_owner: Mapped[str] = mapped_column(sa.String(255))
    upstream_db: Mapped[str] = mapped_column(sa.String(255))
    # None: the service default (POLL_INTERVAL_SECONDS).
    poll_interval_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    head_commit: Mapped[str | None] = mapped_column(sa.String(128))
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tracked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Changes (to a value never used before) in every transaction that changes what the
    # board shows of this wasteland's cache: the key readers cache built pages under
    # (``read_cache``). '' only on rows older than the column (migration 0005).
    board_revision: Mapped[str] = mapped_column(
        sa.String(32), default=new_board_revision, server_default=""
    )

    __table_args__ = (
        sa.CheckConstraint("failures >= 0", name="failures_non_negative"),
        sa.CheckConstraint(
            "poll_interval_seconds IS NULL OR poll_interval_seconds > 0", name="interval_positive"
        ),
    )

    @property
    def upstream(self) -> str:
        return f"{self.upstream_owner}/{self.upstream_db}"


def _wasteland_fk() -> sa.ForeignKey:
    return sa.ForeignKey("board_wastelands.wasteland_id", ondelete="CASCADE")


class CachedWanted(Base):
    """One wanted item of a wasteland as last read, with its pending overlay."""

    __tablename__ = "board_wanted"

    wasteland_id: Mapped[str] = mapped_column(sa.String(128), _wasteland_fk(), primary_key=True)
    wanted_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    title: Mapped[str] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
    project: Mapped[str | None] = mapped_column(sa.String(64))
    type: Mapped[str | None] = mapped_column(sa.String(32))
    priority: Mapped[int] = mapped_column(sa.Integer)
    # The JSON array of tags, in upstream order (the tags table serves the filter).
    tags_json: Mapped[str] = mapped_column(sa.Text)
    posted_by: Mapped[str | None] = mapped_column(sa.String(255))
    claimed_by: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(32))
    effort_level: Mapped[str | None] = mapped_column(sa.String(16))
    evidence_url: Mapped[str | None] = mapped_column(sa.Text)
    sandbox_required: Mapped[bool] = mapped_column(sa.Boolean)
    sandbox_scope: Mapped[str | None] = mapped_column(sa.Text)
    sandbox_min_tier: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Sort keys: epoch seconds, 0 when the commons has no timestamp (never NULL, so
    # ordering and keyset paging behave the same on SQLite and PostgreSQL).
    created_ts: Mapped[int] = mapped_column(sa.BigInteger)
    updated_ts: Mapped[int] = mapped_column(sa.BigInteger)
    pending_status: Mapped[str | None] = mapped_column(sa.String(32))
    pending_claimed_by: Mapped[str | None] = mapped_column(sa.String(255))
    pending_rig: Mapped[str | None] = mapped_column(sa.String(255))
    pending_pull_id: Mapped[str | None] = mapped_column(sa.String(128))
    effective_status: Mapped[str] = mapped_column(sa.String(32))
    effective_claimed_by: Mapped[str | None] = mapped_column(sa.String(255))
    # Set on a pending post (an item only on this rig's open pull request): only this rig
    # sees it on the board until the pull request is merged.
    pending_post_rig: Mapped[str | None] = mapped_column(sa.String(255))

    __table_args__ = (
        sa.CheckConstraint(f"status IN ({_STATUS_LIST})", name="status_known"),
        sa.CheckConstraint(
            f"pending_status IS NULL OR pending_status IN ({_STATUS_LIST})",
            name="pending_status_known",
        ),
        sa.CheckConstraint(f"effective_status IN ({_STATUS_LIST})", name="effective_status_known"),
        sa.Index("ix_board_wanted_status", "wasteland_id", "effective_status"),
        sa.Index("ix_board_wanted_priority", "wasteland_id", "priority", "created_ts"),
        sa.Index("ix_board_wanted_created", "wasteland_id", "created_ts"),
        sa.Index("ix_board_wanted_updated", "wasteland_id", "updated_ts"),
    )

    @property
    def tags(self) -> list[str]:
        return tags_of(self.tags_json)

    @property
    def is_pending(self) -> bool:
        return self.pending_status is not None


class CachedWantedTag(Base):
    """One (item, tag) pair: what the tag filter matches."""

    __tablename__ = "board_wanted_tags"

    wasteland_id: Mapped[str] = mapped_column(sa.String(128), _wasteland_fk(), primary_key=True)
    wanted_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tag: Mapped[str] = mapped_column(sa.Text, primary_key=True)

    __table_args__ = (sa.Index("ix_board_wanted_tags_tag", "wasteland_id", "tag"),)


class CachedCompletion(Base):
    """One completion of a wasteland as last read."""

    __tablename__ = "board_completions"

    wasteland_id: Mapped[str] = mapped_column(sa.String(128), _wasteland_fk(), primary_key=True)
    completion_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    wanted_id: Mapped[str] = mapped_column(sa.String(64))
    completed_by: Mapped[str | None] = mapped_column(sa.String(255))
    evidence: Mapped[str | None] = mapped_column(sa.Text)
    validated_by: Mapped[str | None] = mapped_column(sa.String(255))
    stamp_id: Mapped[str | None] = mapped_column(sa.String(64))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_ts: Mapped[int] = mapped_column(sa.BigInteger)

    __table_args__ = (
        sa.Index("ix_board_completions_wanted", "wasteland_id", "wanted_id"),
        sa.Index("ix_board_completions_completed", "wasteland_id", "completed_ts"),
    )


class CachedStamp(Base):
    """One stamp of a wasteland as last read."""

    __tablename__ = "board_stamps"

    wasteland_id: Mapped[str] = mapped_column(sa.String(128), _wasteland_fk(), primary_key=True)
    stamp_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    author: Mapped[str] = mapped_column(sa.String(255))
    subject: Mapped[str] = mapped_column(sa.String(255))
    quality: Mapped[int] = mapped_column(sa.Integer)
    reliability: Mapped[int] = mapped_column(sa.Integer)
    severity: Mapped[str | None] = mapped_column(sa.String(16))
    context_id: Mapped[str | None] = mapped_column(sa.String(64))
    context_type: Mapped[str | None] = mapped_column(sa.String(32))
    skill_tags_json: Mapped[str] = mapped_column(sa.Text)
    message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (sa.Index("ix_board_stamps_context", "wasteland_id", "context_id"),)

    @property
    def skill_tags(self) -> list[str]:
        value = json.loads(self.skill_tags_json)
        return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []


class CachedRig(Base):
    """One registered rig of a wasteland as last read."""

    __tablename__ = "board_rigs"

    wasteland_id: Mapped[str] = mapped_column(sa.String(128), _wasteland_fk(), primary_key=True)
    handle: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(255))
    rig_type: Mapped[str | None] = mapped_column(sa.String(16))
    parent_rig: Mapped[str | None] = mapped_column(sa.String(255))
    trust_level: Mapped[int] = mapped_column(sa.Integer)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dolthub_org: Mapped[str | None] = mapped_column(sa.String(255))


class WastelandEvent(Base):
    """One entry of a wasteland's event log: a board change (an item's shown status
    changed) or an activity (design/api.md ``Activity``).

    ``seq`` is the log's order: every writer takes the log lock before it inserts (see
    ``events.append``), so rows commit in ``seq`` order and a reader that has seen
    ``seq`` n has seen everything before it. SQLite's AUTOINCREMENT keeps a ``seq`` from
    ever being reused after old rows are purged. No foreign key to ``board_wastelands``:
    a wasteland has activity before board-sync tracks it, and keeps it after.
    """

    __tablename__ = "wasteland_events"

    seq: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # The producer's key: an id is recorded once.
    event_id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    wasteland_id: Mapped[str] = mapped_column(sa.String(128))
    category: Mapped[str] = mapped_column(sa.String(16))
    # The activity kind (activity rows) / the item's new shown status (board rows).
    kind: Mapped[str | None] = mapped_column(sa.String(32))
    status: Mapped[str | None] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(200))
    wanted_id: Mapped[str | None] = mapped_column(sa.String(128))
    pull_id: Mapped[str | None] = mapped_column(sa.String(128))
    detail: Mapped[str] = mapped_column(sa.Text)
    request_id: Mapped[str] = mapped_column(sa.String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.CheckConstraint("category IN ('board', 'activity')", name="category_known"),
        sa.CheckConstraint(
            f"(category = 'activity' AND kind IN ({_KIND_LIST}) AND status IS NULL)"
            f" OR (category = 'board' AND kind IS NULL AND status IN ({_STATUS_LIST}))",
            name="kind_or_status",
        ),
        sa.Index("ix_wasteland_events_tail", "wasteland_id", "seq"),
        sa.Index("ix_wasteland_events_age", "category", "at"),
        {"sqlite_autoincrement": True},
    )


class PullReview(Base):
    """What the review inbox read about one upstream pull request, kept so a listing does
    not read it again: where it comes from (never changes), the diff range last read and
    its row changes (a range's changes never change), and the merge check at the upstream
    head it was last made against. A finished pull request keeps what was read while it was
    open, when its branch may be gone."""

    __tablename__ = "board_pull_reviews"

    wasteland_id: Mapped[str] = mapped_column(sa.String(128), _wasteland_fk(), primary_key=True)
    pull_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    from_owner: Mapped[str] = mapped_column(sa.String(255))
    from_db: Mapped[str] = mapped_column(sa.String(255))
    from_branch: Mapped[str] = mapped_column(sa.String(255))
    to_branch: Mapped[str] = mapped_column(sa.String(255))
    author: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The diff range (base...head commits) the changes were read from; None: not read.
    base_commit: Mapped[str | None] = mapped_column(sa.String(128))
    head_commit: Mapped[str | None] = mapped_column(sa.String(128))
    # JSON list of row changes; None: unknown (the branch is gone or unreadable).
    changes_json: Mapped[str | None] = mapped_column(sa.Text)
    kind: Mapped[str] = mapped_column(sa.String(16))
    wanted_id: Mapped[str | None] = mapped_column(sa.String(64))
    author_rig: Mapped[str | None] = mapped_column(sa.String(255))
    # The upstream head the merge check and the warnings were made against.
    checked_at_head: Mapped[str | None] = mapped_column(sa.String(128))
    mergeable: Mapped[bool | None] = mapped_column(sa.Boolean)
    warnings_json: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (sa.CheckConstraint(f"kind IN ({_PULL_KIND_LIST})", name="kind_known"),)


CACHE_TABLES: tuple[type[Base], ...] = (
    CachedWantedTag,
    CachedWanted,
    CachedCompletion,
    CachedStamp,
    CachedRig,
)


def get_wasteland(session: Session, wasteland_id: str) -> TrackedWasteland | None:
    """The tracked wasteland, or None."""
    return session.get(TrackedWasteland, wasteland_id)


def delete_cache(session: Session, wasteland_id: str) -> None:
    """Remove every cached row of ``wasteland_id`` (not the wasteland itself, nor its
    pull-request reviews: a sync replaces the board, not the inbox)."""
    for model in CACHE_TABLES:
        session.execute(sa.delete(model).where(model.wasteland_id == wasteland_id))  # type: ignore[attr-defined]


def delete_reviews(session: Session, wasteland_id: str) -> None:
    """Forget what the review inbox read for ``wasteland_id`` (its upstream changed, or it
    is no longer tracked)."""
    session.execute(sa.delete(PullReview).where(PullReview.wasteland_id == wasteland_id))
