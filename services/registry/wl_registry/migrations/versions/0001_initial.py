"""Initial registry schema: wastelands, members, credentials, towns.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wasteland_common.db import UTCDateTime

revision = "0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    """Create the four tables with their constraints and indexes."""
    op.create_table(
        "wastelands",
        sa.Column("wasteland_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner_type", sa.String(8), nullable=False),
        sa.Column("owner_user_id", sa.String(200), nullable=True),
        sa.Column("owner_org_id", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("visibility", sa.String(8), nullable=False),
        sa.Column("upstream", sa.String(129), nullable=False),
        sa.Column("dolthub_org", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("wasteland_id", name="pk_wastelands"),
        sa.CheckConstraint("owner_type IN ('user', 'org')", name="ck_wastelands_owner_type"),
        sa.CheckConstraint(
            "visibility IN ('public', 'private')", name="ck_wastelands_visibility"
        ),
        sa.CheckConstraint(
            "status IN ('provisioning', 'active', 'failed', 'deleted')",
            name="ck_wastelands_status",
        ),
        sa.CheckConstraint(
            "(owner_type = 'user' AND owner_user_id IS NOT NULL AND owner_org_id IS NULL)"
            " OR (owner_type = 'org' AND owner_org_id IS NOT NULL AND owner_user_id IS NULL)",
            name="ck_wastelands_owner",
        ),
        sa.CheckConstraint(
            "(status = 'deleted') = (deleted_at IS NOT NULL)", name="ck_wastelands_deleted"
        ),
    )
    op.create_index("ix_wastelands_owner_user_id", "wastelands", ["owner_user_id"])
    op.create_index("ix_wastelands_owner_org_id", "wastelands", ["owner_org_id"])
    op.create_index("ix_wastelands_status", "wastelands", ["status"])

    op.create_table(
        "members",
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("wasteland_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("trust_level", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("rig_handle", sa.String(64), nullable=True),
        sa.Column("rig_registered_at", UTCDateTime(), nullable=True),
        sa.Column("joined_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name="pk_members"),
        sa.ForeignKeyConstraint(
            ["wasteland_id"],
            ["wastelands.wasteland_id"],
            name="fk_members_wasteland_id_wastelands",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("wasteland_id", "user_id", name="uq_members_wasteland_id_user_id"),
        sa.UniqueConstraint(
            "wasteland_id", "rig_handle", name="uq_members_wasteland_id_rig_handle"
        ),
        sa.CheckConstraint(
            "role IN ('owner', 'maintainer', 'contributor')", name="ck_members_role"
        ),
        sa.CheckConstraint("source IN ('explicit', 'org')", name="ck_members_source"),
        sa.CheckConstraint("trust_level BETWEEN 0 AND 3", name="ck_members_trust_level"),
    )
    op.create_index("ix_members_user_id", "members", ["user_id"])

    op.create_table(
        "credentials",
        sa.Column("credential_id", sa.String(64), nullable=False),
        sa.Column("wasteland_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("dolthub_org", sa.String(64), nullable=False),
        sa.Column("rig_handle", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("token_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("token_hint", sa.String(4), nullable=False),
        sa.Column("connected_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("credential_id", name="pk_credentials"),
        sa.ForeignKeyConstraint(
            ["wasteland_id"],
            ["wastelands.wasteland_id"],
            name="fk_credentials_wasteland_id_wastelands",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "wasteland_id", "user_id", name="uq_credentials_wasteland_id_user_id"
        ),
    )
    op.create_index("ix_credentials_key_id", "credentials", ["key_id"])

    op.create_table(
        "towns",
        sa.Column("wasteland_id", sa.String(64), nullable=False),
        sa.Column("town_id", sa.String(200), nullable=False),
        sa.Column("rig_handle", sa.String(64), nullable=False),
        sa.Column("owner_email", sa.String(254), nullable=False),
        sa.Column("parent_rig", sa.String(64), nullable=False),
        sa.Column("connected_by", sa.String(200), nullable=False),
        sa.Column("connected_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("wasteland_id", "town_id", name="pk_towns"),
        sa.ForeignKeyConstraint(
            ["wasteland_id"],
            ["wastelands.wasteland_id"],
            name="fk_towns_wasteland_id_wastelands",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("wasteland_id", "rig_handle", name="uq_towns_wasteland_id_rig_handle"),
    )


def downgrade() -> None:
    """Drop everything upgrade created."""
    op.drop_table("towns")
    op.drop_index("ix_credentials_key_id", table_name="credentials")
    op.drop_table("credentials")
    op.drop_index("ix_members_user_id", table_name="members")
    op.drop_table("members")
    op.drop_index("ix_wastelands_status", table_name="wastelands")
    op.drop_index("ix_wastelands_owner_org_id", table_name="wastelands")
    op.drop_index("ix_wastelands_owner_user_id", table_name="wastelands")
    op.drop_table("wastelands")
