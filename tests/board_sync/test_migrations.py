"""The hand-written migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from wasteland_common import db
from wl_board_sync.server import MIGRATIONS
from wl_board_sync.store import VERSION_TABLE, Base


def test_migrations_match_the_models_and_rerun_cleanly(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        db.migrate(engine, MIGRATIONS)
        db.migrate(engine, MIGRATIONS)  # at head already: nothing to do, no error
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            diff = compare_metadata(context, Base.metadata)
            assert context.get_current_revision() == "0005_board_revision"
    finally:
        engine.dispose()
    assert diff == []
