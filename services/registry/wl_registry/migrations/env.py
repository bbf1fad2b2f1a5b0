"""Alembic environment for the registry: runs on the connection wasteland_common.db.migrate
passes in ``config.attributes["connection"]`` (or on DATABASE_URL when run by hand)."""

from __future__ import annotations

import os

from alembic import context

from wl_registry.store import metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Upgrade on the given connection, else on DATABASE_URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from wasteland_common.db import make_engine

    engine = make_engine(os.environ.get("DATABASE_URL", "sqlite+pysqlite:///.run/registry.db"))
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


run()
