"""Each wasteland's durable event log: board changes and the activity log.

Revision ID: 0003_wasteland_events
Revises: 0002_pending_posts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from wasteland_common.db import UTCDateTime

revision = "0003_wasteland_events"
down_revision = "0002_pending_posts"
branch_labels = None
depends_on = None

# The values as of this revision (a later kind or status needs its own migration).
_STATUSES = "'open', 'claimed', 'in_review', 'completed', 'withdrawn'"
_KINDS = (
    "'created', 'provisioned', 'member_added', 'member_removed', 'credential_connected', "
    "'credential_removed', 'rig_registered', 'posted', 'claimed', 'unclaimed', 'done', "
    "'accepted', 'rejected', 'closed', 'merged', 'pull_closed', 'fork_synced', 'woke', "
    "'slept', 'sync_failed'"
)


def upgrade() -> None:
    op.create_table(
        "wasteland_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("wasteland_id", sa.String(128), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("wanted_id", sa.String(128), nullable=True),
        sa.Column("pull_id", sa.String(128), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_wasteland_events"),
        sa.UniqueConstraint("event_id", name="uq_wasteland_events_event_id"),
        sa.CheckConstraint(
            "category IN ('board', 'activity')", name="ck_wasteland_events_category_known"
        ),
        sa.CheckConstraint(
            f"(category = 'activity' AND kind IN ({_KINDS}) AND status IS NULL)"
            f" OR (category = 'board' AND kind IS NULL AND status IN ({_STATUSES}))",
            name="ck_wasteland_events_kind_or_status",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_wasteland_events_tail", "wasteland_events", ["wasteland_id", "seq"])
    op.create_index("ix_wasteland_events_age", "wasteland_events", ["category", "at"])


def downgrade() -> None:
    op.drop_index("ix_wasteland_events_age", table_name="wasteland_events")
    op.drop_index("ix_wasteland_events_tail", table_name="wasteland_events")
    op.drop_table("wasteland_events")
