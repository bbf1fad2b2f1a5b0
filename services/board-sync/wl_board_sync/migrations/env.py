"""Alembic environment: migrations run on the connection ``db.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from wl_board_sync.store import VERSION_TABLE, Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("board-sync migrations run through wasteland_common.db.migrate")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
