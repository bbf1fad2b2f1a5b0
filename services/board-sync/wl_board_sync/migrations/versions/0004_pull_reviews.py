"""The review inbox's per-pull-request reads.

Revision ID: 0004_pull_reviews
Revises: 0003_wasteland_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from wasteland_common.db import UTCDateTime

revision = "0004_pull_reviews"
down_revision = "0003_wasteland_events"
branch_labels = None
depends_on = None

_KINDS = (
    "'registration', 'post', 'claim', 'unclaim', 'done', 'accept', 'reject', 'close',"
    " 'town', 'fork_sync', 'other'"
)


def upgrade() -> None:
    op.create_table(
        "board_pull_reviews",
        sa.Column("wasteland_id", sa.String(128), nullable=False),
        sa.Column("pull_id", sa.String(32), nullable=False),
        sa.Column("from_owner", sa.String(255), nullable=False),
        sa.Column("from_db", sa.String(255), nullable=False),
        sa.Column("from_branch", sa.String(255), nullable=False),
        sa.Column("to_branch", sa.String(255), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=True),
        sa.Column("base_commit", sa.String(128), nullable=True),
        sa.Column("head_commit", sa.String(128), nullable=True),
        sa.Column("changes_json", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("wanted_id", sa.String(64), nullable=True),
        sa.Column("author_rig", sa.String(255), nullable=True),
        sa.Column("checked_at_head", sa.String(128), nullable=True),
        sa.Column("mergeable", sa.Boolean(), nullable=True),
        sa.Column("warnings_json", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("wasteland_id", "pull_id", name="pk_board_pull_reviews"),
        sa.ForeignKeyConstraint(
            ["wasteland_id"],
            ["board_wastelands.wasteland_id"],
            name="fk_board_pull_reviews_wasteland_id_board_wastelands",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(f"kind IN ({_KINDS})", name="ck_board_pull_reviews_kind_known"),
    )


def downgrade() -> None:
    op.drop_table("board_pull_reviews")
