"""Operations may register a town.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_OLD = "kind IN ('join', 'post', 'claim', 'unclaim', 'done', 'accept', 'reject', 'close', 'sync')"
_NEW = (
    "kind IN ('join', 'post', 'claim', 'unclaim', 'done', 'accept', 'reject', 'close', 'sync',"
    " 'register_town')"
)


def upgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.drop_constraint("ck_operations_kind", type_="check")
        batch.create_check_constraint("ck_operations_kind", _NEW)


def downgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.drop_constraint("ck_operations_kind", type_="check")
        batch.create_check_constraint("ck_operations_kind", _OLD)
