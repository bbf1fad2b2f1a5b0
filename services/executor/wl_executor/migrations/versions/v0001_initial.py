"""Runtimes and operations.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from wasteland_common.db import UTCDateTime

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "runtimes",
        sa.Column("wasteland_id", sa.String(128), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("endpoint", sa.String(255), nullable=True),
        sa.Column("instance_id", sa.String(128), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("last_activity_at", UTCDateTime(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "state IN ('sleeping', 'starting', 'running', 'stopping', 'failed')",
            name="ck_runtimes_state",
        ),
    )
    op.create_table(
        "operations",
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
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name="ck_operations_status"
        ),
        sa.CheckConstraint(
            "kind IN ('join', 'post', 'claim', 'unclaim', 'done', 'accept', 'reject', "
            "'close', 'sync')",
            name="ck_operations_kind",
        ),
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_operations_user_key"),
    )
    op.create_index(
        "ix_operations_wasteland_status", "operations", ["wasteland_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_operations_wasteland_status", table_name="operations")
    op.drop_table("operations")
    op.drop_table("runtimes")
