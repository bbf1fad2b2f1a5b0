"""Alembic environment: runs on the connection ``wasteland_common.db.migrate`` hands over."""

from __future__ import annotations

from alembic import context

VERSION_TABLE = "alembic_version_executor"

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through the alembic CLI
    raise RuntimeError("run migrations through wasteland_common.db.migrate")

context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
