"""The access-change log the gateway's access cache is invalidated from.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wasteland_common.db import UTCDateTime

revision = "0003"
down_revision: str | None = "0002"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    """Add the access_changes table."""
    op.create_table(
        "access_changes",
        sa.Column("change_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("wasteland_id", sa.String(64), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("change_id", name="pk_access_changes"),
    )
    op.create_index("ix_access_changes_changed_at", "access_changes", ["changed_at"])


def downgrade() -> None:
    """Drop the access_changes table."""
    op.drop_index("ix_access_changes_changed_at", table_name="access_changes")
    op.drop_table("access_changes")
