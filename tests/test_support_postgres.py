"""The Postgres fixture itself: a real server that answers SQL."""

import sqlalchemy as sa

from tests.support.postgres import Cluster


def test_cluster_gives_fresh_databases(postgres_cluster: Cluster) -> None:
    first = sa.create_engine(postgres_cluster.create_database())
    second = sa.create_engine(postgres_cluster.create_database())
    with first.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x int)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    with second.connect() as conn:
        names = conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))
        assert list(names) == []
    with first.connect() as conn:
        assert conn.execute(sa.text("SELECT version()")).scalar_one().startswith("PostgreSQL")
    first.dispose()
    second.dispose()
