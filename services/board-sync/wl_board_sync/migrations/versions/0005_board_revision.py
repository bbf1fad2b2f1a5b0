"""The board revision: changes with every change of a wasteland's cached board, so
readers can cache what they built from it.

Revision ID: 0005_board_revision
Revises: 0004_pull_reviews
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_board_revision"
down_revision = "0004_pull_reviews"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("board_wastelands") as batch:
        batch.add_column(
            sa.Column("board_revision", sa.String(32), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("board_wastelands") as batch:
        batch.drop_column("board_revision")
