"""The hand-written migrations build exactly the schema store.py describes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from wasteland_common import db
from wl_registry.server import MIGRATIONS
from wl_registry.store import metadata


def test_migrations_upgrade_cleanly_and_match_the_models(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        db.migrate(engine, MIGRATIONS)
        db.migrate(engine, MIGRATIONS)  # a second run is a no-op
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            assert context.get_current_revision() == "0003"
            tables = set(sa.inspect(conn).get_table_names())
        assert {"wastelands", "members", "credentials", "towns", "upstream_credentials"} <= tables
    finally:
        engine.dispose()


def test_check_constraints_hold(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        db.migrate(engine, MIGRATIONS)
        now = db.utcnow()
        row = {
            "wasteland_id": "w1", "name": "n", "owner_type": "user", "owner_user_id": "u",
            "owner_org_id": None, "created_by": "u", "visibility": "public",
            "upstream": "a/b", "dolthub_org": "", "status": "active", "status_reason": "",
            "created_at": now, "updated_at": now, "deleted_at": None,
        }  # fmt: skip
        table = metadata.tables["wastelands"]
        with engine.begin() as conn:
            conn.execute(table.insert().values(**row))
        for bad in (
            {"status": "weird"},
            {"visibility": "secret"},
            {"owner_type": "org"},  # org without org id, with a user id
            {"status": "deleted"},  # deleted without deleted_at
        ):
            try:
                with engine.begin() as conn:
                    conn.execute(table.insert().values(**{**row, "wasteland_id": "w2", **bad}))
            except sa.exc.IntegrityError:
                continue
            raise AssertionError(f"{bad} was accepted")
    finally:
        engine.dispose()
