"""Upstream credentials, fork currency on member credentials, towns' pull requests.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wasteland_common.db import UTCDateTime

revision = "0002"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    """Add the upstream_credentials table and the new columns."""
    op.create_table(
        "upstream_credentials",
        sa.Column("wasteland_id", sa.String(64), nullable=False),
        sa.Column("dolthub_user", sa.String(64), nullable=False),
        sa.Column("connected_by", sa.String(200), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("token_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("token_hint", sa.String(4), nullable=False),
        sa.Column("connected_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("wasteland_id", name="pk_upstream_credentials"),
        sa.ForeignKeyConstraint(
            ["wasteland_id"],
            ["wastelands.wasteland_id"],
            name="fk_upstream_credentials_wasteland_id_wastelands",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_upstream_credentials_key_id", "upstream_credentials", ["key_id"])
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("fork_behind", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("fork_checked_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("towns") as batch:
        batch.add_column(
            sa.Column("pull_request_url", sa.String(500), nullable=False, server_default="")
        )


def downgrade() -> None:
    """Drop what upgrade added."""
    with op.batch_alter_table("towns") as batch:
        batch.drop_column("pull_request_url")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("fork_checked_at")
        batch.drop_column("fork_behind")
    op.drop_index("ix_upstream_credentials_key_id", table_name="upstream_credentials")
    op.drop_table("upstream_credentials")
