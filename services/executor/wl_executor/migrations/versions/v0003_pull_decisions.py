"""Operations may merge or close an upstream pull request (the review inbox).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_OLD = (
    "kind IN ('join', 'post', 'claim', 'unclaim', 'done', 'accept', 'reject', 'close', 'sync',"
    " 'register_town')"
)
_NEW = (
    "kind IN ('join', 'post', 'claim', 'unclaim', 'done', 'accept', 'reject', 'close', 'sync',"
    " 'register_town', 'merge_pull', 'close_pull')"
)


def upgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.drop_constraint("ck_operations_kind", type_="check")
        batch.create_check_constraint("ck_operations_kind", _NEW)


def downgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.drop_constraint("ck_operations_kind", type_="check")
        batch.create_check_constraint("ck_operations_kind", _OLD)
