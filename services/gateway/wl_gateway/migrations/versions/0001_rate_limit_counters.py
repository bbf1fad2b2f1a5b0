"""The shared rate-limit counters.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wasteland_common.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("request_count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint(
            "user_id", "operation", "window_start", name="pk_rate_limit_counters"
        ),
        sa.CheckConstraint(
            "operation IN ('claim', 'done', 'post', 'browse')", name="ck_rate_limit_operation"
        ),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_counters")
