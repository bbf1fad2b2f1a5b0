"""MySQL → SQLite translation, checked by running the result on a real SQLite database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from dolthub_sandbox import dialect, sqlrun
from dolthub_sandbox.errors import SqlError
from dolthub_sandbox.seed import commons_ddl
from hypothesis import given
from hypothesis import strategies as st


class NoDolt:
    """Hooks for statements that use no Dolt extension."""

    database = "db"
    ref = "main"

    def hashof(self, ref: str) -> str:
        raise AssertionError("unexpected HASHOF")

    def system_table(self, name: str) -> None:
        raise AssertionError("unexpected system table")

    def table_function(self, name: str, args: list[str]) -> str:
        raise AssertionError("unexpected table function")


def execute(conn: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for statement in dialect.to_sqlite(dialect.parse_statement(sql), NoDolt(), name_columns=True):
        rows = conn.execute(statement).fetchall()
    return rows


@pytest.fixture
def conn() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("PRAGMA case_sensitive_like = ON")
    sqlrun.register_functions(db, lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    for statement in commons_ddl():
        execute(db, statement)
    return db


def test_commons_schema_keeps_types_and_constraints(conn: sqlite3.Connection) -> None:
    types = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(wanted)")}
    assert types["tags"] == "JSON_TEXT"
    assert types["created_at"] == "TIMESTAMP_TEXT"
    assert types["priority"] == "INT"
    assert types["sandbox_required"] == "TINYINT(1)"
    execute(conn, "INSERT INTO wanted (id, title, tags) VALUES ('w', 't', '123')")
    # JSON text stays text (NUMERIC affinity would have turned it into an integer).
    assert conn.execute("SELECT typeof(tags), priority, status FROM wanted").fetchall() == [
        ("text", 2, "open")
    ]
    with pytest.raises(sqlite3.IntegrityError):
        execute(
            conn, "INSERT INTO stamps (id, author, subject, valence) VALUES ('s', 'a', 'a', '{}')"
        )
    with pytest.raises(sqlite3.IntegrityError):
        execute(conn, "INSERT INTO boot_blocks VALUES ('h', 's', '{}', 1.5, 'v', NOW())")
    execute(conn, "INSERT INTO rig_links (id, rig_a, rig_b) VALUES ('1', 'a', 'b')")
    with pytest.raises(sqlite3.IntegrityError):
        execute(conn, "INSERT INTO rig_links (id, rig_a, rig_b) VALUES ('2', 'a', 'b')")
    with pytest.raises(sqlite3.IntegrityError):
        execute(conn, "INSERT INTO rigs (handle) VALUES (NULL)")


def test_mysql_dml_forms(conn: sqlite3.Connection) -> None:
    execute(conn, "INSERT INTO _meta VALUES ('k', 'v1')")
    execute(conn, "INSERT IGNORE INTO _meta VALUES ('k', 'ignored')")
    execute(
        conn,
        "INSERT INTO _meta VALUES ('k', 'v2') AS new "
        "ON DUPLICATE KEY UPDATE value = CONCAT(value, '+', new.value)",
    )
    assert execute(conn, "SELECT value FROM _meta WHERE `key` = 'k'") == [("v1+v2",)]
    execute(conn, "REPLACE INTO _meta (`key`, value) VALUES ('k', 'r')")
    assert execute(conn, "SELECT value FROM _meta WHERE `key` = 'k'") == [("r",)]
    execute(
        conn,
        "INSERT INTO _meta (`key`, value) SELECT 'k', 'sel' FROM _meta "
        "ON DUPLICATE KEY UPDATE value = VALUES(value)",
    )
    assert execute(conn, "SELECT value FROM _meta WHERE `key` = 'k'") == [("sel",)]
    execute(conn, "INSERT INTO wanted (id, title, created_at) VALUES ('w', 't', NOW())")
    assert execute(conn, "SELECT created_at, CURDATE() FROM wanted") == [
        ("2026-01-02 03:04:05", "2026-01-02")
    ]
    assert execute(conn, "SELECT SUBSTRING_INDEX('wl/a/b', '/', 2), LEFT('abc', 2)") == [
        ("wl/a", "ab")
    ]
    execute(conn, "TRUNCATE TABLE _meta")
    assert execute(conn, "SELECT COUNT(*) FROM _meta") == [(0,)]


def test_result_column_names_follow_mysql(conn: sqlite3.Connection) -> None:
    parsed = dialect.parse_statement(
        "SELECT id, COUNT(*), w.title AS t, priority  +  1, `status` FROM wanted w GROUP BY id"
    )
    sql = dialect.to_sqlite(parsed, NoDolt(), name_columns=True)[0]
    cursor = conn.execute(sql)
    assert [d[0] for d in cursor.description] == ["id", "COUNT(*)", "t", "priority  +  1", "status"]


def test_statement_splitting() -> None:
    assert dialect.split_statements("SELECT 1; -- note\n") == ["SELECT 1"]
    assert dialect.split_statements("SELECT ';'; SELECT 2") == ["SELECT ';'", "SELECT 2"]
    assert dialect.split_statements(" -- only a comment") == []
    assert dialect.projection_texts("SELECT DISTINCT a, f(b, c), 'x,y' FROM t") == [
        "a",
        "f(b, c)",
        "'x,y'",
    ]


@pytest.mark.parametrize("sql", ["SELEC 1", "SHOW DATABASES", "CALL dolt_branch(x)", ""])
def test_bad_statements_raise_sql_errors(sql: str) -> None:
    with pytest.raises(SqlError):
        dialect.parse_statement(sql)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30))
def test_string_literals_round_trip(value: str) -> None:
    """A value quoted MySQL-style (backslash and quote doubled) reads back unchanged."""
    literal = "'" + value.replace("\\", "\\\\").replace("'", "''").replace("\x00", "\\0") + "'"
    db = sqlite3.connect(":memory:")
    sql = dialect.to_sqlite(
        dialect.parse_statement(f"SELECT {literal} AS v"), NoDolt(), name_columns=True
    )[0]
    assert db.execute(sql).fetchall() == [(value,)]
