"""The tracked wastelands and the board cache.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from wasteland_common.db import UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

_STATUSES = "'open', 'claimed', 'in_review', 'completed', 'withdrawn'"


def _wasteland_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["wasteland_id"],
        ["board_wastelands.wasteland_id"],
        name=f"fk_{table}_wasteland_id_board_wastelands",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "board_wastelands",
        sa.Column("wasteland_id", sa.String(128), nullable=False),
        sa.Column("upstream_owner", sa.String(255), nullable=False),
        sa.Column("upstream_db", sa.String(255), nullable=False),
        sa.Column("poll_interval_seconds", sa.Integer(), nullable=True),
        sa.Column("head_commit", sa.String(128), nullable=True),
        sa.Column("synced_at", UTCDateTime(), nullable=True),
        sa.Column("next_poll_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
        sa.Column("tracked_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("wasteland_id", name="pk_board_wastelands"),
        sa.CheckConstraint(
            "failures >= 0", name="ck_board_wastelands_failures_non_negative"
        ),
        sa.CheckConstraint(
            "poll_interval_seconds IS NULL OR poll_interval_seconds > 0",
            name="ck_board_wastelands_interval_positive",
        ),
    )
    op.create_index(
        "ix_board_wastelands_next_poll_at", "board_wastelands", ["next_poll_at"]
    )

    op.create_table(
        "board_wanted",
        sa.Column("wasteland_id", sa.String(128), nullable=False),
        sa.Column("wanted_id", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("project", sa.String(64), nullable=True),
        sa.Column("type", sa.String(32), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("tags_json", sa.Text(), nullable=False),
        sa.Column("posted_by", sa.String(255), nullable=True),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("effort_level", sa.String(16), nullable=True),
        sa.Column("evidence_url", sa.Text(), nullable=True),
        sa.Column("sandbox_required", sa.Boolean(), nullable=False),
        sa.Column("sandbox_scope", sa.Text(), nullable=True),
        sa.Column("sandbox_min_tier", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.Column("created_ts", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.Column("pending_status", sa.String(32), nullable=True),
        sa.Column("pending_claimed_by", sa.String(255), nullable=True),
        sa.Column("pending_rig", sa.String(255), nullable=True),
        sa.Column("pending_pull_id", sa.String(128), nullable=True),
        sa.Column("effective_status", sa.String(32), nullable=False),
        sa.Column("effective_claimed_by", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("wasteland_id", "wanted_id", name="pk_board_wanted"),
        _wasteland_fk("board_wanted"),
        sa.CheckConstraint(f"status IN ({_STATUSES})", name="ck_board_wanted_status_known"),
        sa.CheckConstraint(
            f"pending_status IS NULL OR pending_status IN ({_STATUSES})",
            name="ck_board_wanted_pending_status_known",
        ),
        sa.CheckConstraint(
            f"effective_status IN ({_STATUSES})",
            name="ck_board_wanted_effective_status_known",
        ),
    )
    op.create_index(
        "ix_board_wanted_status", "board_wanted", ["wasteland_id", "effective_status"]
    )
    op.create_index(
        "ix_board_wanted_priority", "board_wanted", ["wasteland_id", "priority", "created_ts"]
    )
    op.create_index("ix_board_wanted_created", "board_wanted", ["wasteland_id", "created_ts"])
    op.create_index("ix_board_wanted_updated", "board_wanted", ["wasteland_id", "updated_ts"])

    op.create_table(
        "board_wanted_tags",
        sa.Column("wasteland_id", sa.String(128), nullable=False),
        sa.Column("wanted_id", sa.String(64), nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("wasteland_id", "wanted_id", "tag", name="pk_board_wanted_tags"),
        _wasteland_fk("board_wanted_tags"),
    )
    op.create_index("ix_board_wanted_tags_tag", "board_wanted_tags", ["wasteland_id", "tag"])

    op.create_table(
        "board_completions",
        sa.Column("wasteland_id", sa.String(128), nullable=False),
        sa.Column("completion_id", sa.String(64), nullable=False),
        sa.Column("wanted_id", sa.String(64), nullable=False),
        sa.Column("completed_by", sa.String(255), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("validated_by", sa.String(255), nullable=True),
        sa.Column("stamp_id", sa.String(64), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("validated_at", UTCDateTime(), nullable=True),
        sa.Column("completed_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("wasteland_id", "completion_id", name="pk_board_completions"),
        _wasteland_fk("board_completions"),
    )
    op.create_index(
        "ix_board_completions_wanted", "board_completions", ["wasteland_id", "wanted_id"]
    )
    op.create_index(
        "ix_board_completions_completed", "board_completions", ["wasteland_id", "completed_ts"]
    )

    op.create_table(
        "board_stamps",
        sa.Column("wasteland_id", sa.String(128), nullable=False),
        sa.Column("stamp_id", sa.String(64), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("reliability", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("context_id", sa.String(64), nullable=True),
        sa.Column("context_type", sa.String(32), nullable=True),
        sa.Column("skill_tags_json", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("wasteland_id", "stamp_id", name="pk_board_stamps"),
        _wasteland_fk("board_stamps"),
    )
    op.create_index("ix_board_stamps_context", "board_stamps", ["wasteland_id", "context_id"])

    op.create_table(
        "board_rigs",
        sa.Column("wasteland_id", sa.String(128), nullable=False),
        sa.Column("handle", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(255), nullable=True),
        sa.Column("rig_type", sa.String(16), nullable=True),
        sa.Column("parent_rig", sa.String(255), nullable=True),
        sa.Column("trust_level", sa.Integer(), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=True),
        sa.Column("dolthub_org", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("wasteland_id", "handle", name="pk_board_rigs"),
        _wasteland_fk("board_rigs"),
    )


def downgrade() -> None:
    for table in (
        "board_rigs",
        "board_stamps",
        "board_completions",
        "board_wanted_tags",
        "board_wanted",
        "board_wastelands",
    ):
        op.drop_table(table)
