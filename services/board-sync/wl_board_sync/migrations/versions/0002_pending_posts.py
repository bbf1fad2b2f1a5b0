"""Pending posts: items only on their poster's open pull request.

Revision ID: 0002_pending_posts
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_pending_posts"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("board_wanted") as batch:
        batch.add_column(sa.Column("pending_post_rig", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("board_wanted") as batch:
        batch.drop_column("pending_post_rig")
