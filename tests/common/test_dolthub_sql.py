"""SQL literal helpers: quoting round-trips through a MySQL parser and cannot inject."""

from __future__ import annotations

import sqlite3

import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp
from wasteland_common.dolthub import bind, escape_like, quote, quote_identifier

SPECIALS = ["a", "b", "'", '"', "\\", "%", "_", ";", "-", "\n", " ", "é", "`"]
TRICKY = st.text(alphabet=st.sampled_from([*SPECIALS, "\x00"]), max_size=20)
# SQLite's LIKE stops at NUL, so the LIKE property leaves NUL out.
LIKE_TEXT = st.text(alphabet=st.sampled_from(SPECIALS), max_size=20)
ANY_TEXT = st.one_of(TRICKY, st.text(max_size=40))


def test_quote_examples() -> None:
    assert quote("it's") == "'it''s'"
    assert quote("a\\b") == "'a\\\\b'"
    assert quote(None) == "NULL"
    assert quote("") == "''"


@given(ANY_TEXT)
def test_quote_round_trips_as_one_mysql_literal(value: str) -> None:
    sql = f"SELECT id FROM wanted WHERE title = {quote(value)}"  # noqa: S608 - under test
    tree = sqlglot.parse_one(sql, read="mysql")
    where = tree.args["where"].this
    assert isinstance(where, exp.EQ)
    literal = where.expression
    assert isinstance(literal, exp.Literal)
    assert literal.is_string
    assert literal.this == value


@pytest.fixture(scope="module")
def sqlite() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA case_sensitive_like = ON")
    return conn


@given(prefix=LIKE_TEXT, candidate=LIKE_TEXT)
def test_escape_like_matches_the_prefix_literally(
    sqlite: sqlite3.Connection, prefix: str, candidate: str
) -> None:
    pattern = escape_like(prefix) + "%"
    (matched,) = sqlite.execute("SELECT ? LIKE ? ESCAPE '\\'", (candidate, pattern)).fetchone()
    assert bool(matched) == candidate.startswith(prefix)


def test_escape_like_examples() -> None:
    assert escape_like("wl/a_b%") == "wl/a\\_b\\%"
    assert quote(escape_like("a_b") + "%") == "'a\\\\_b%'"


@given(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s))
def test_quote_identifier_round_trips(name: str) -> None:
    sql = f"SELECT {quote_identifier(name)} FROM t"  # noqa: S608 - under test
    tree = sqlglot.parse_one(sql, read="mysql")
    column = tree.expressions[0]
    assert isinstance(column, exp.Column)
    assert column.name == name


def test_quote_identifier_rejects_empty() -> None:
    with pytest.raises(ValueError, match="identifier"):
        quote_identifier("")


def test_bind_examples() -> None:
    assert bind("SELECT * FROM wanted WHERE id = ? AND priority <= ?", "w-'1", 2) == (
        "SELECT * FROM wanted WHERE id = 'w-''1' AND priority <= 2"
    )
    assert bind("SELECT '?', `a?b`, \"?\" FROM t WHERE x = ?", None) == (
        "SELECT '?', `a?b`, \"?\" FROM t WHERE x = NULL"
    )
    assert bind("SELECT ? + ?", True, 1.5) == "SELECT 1 + 1.5"
    assert bind("SELECT 'it''s ?' WHERE a = ?", "x") == "SELECT 'it''s ?' WHERE a = 'x'"
    assert bind("SELECT 'a\\'?' WHERE a = ?", "x") == "SELECT 'a\\'?' WHERE a = 'x'"


@pytest.mark.parametrize(
    ("template", "values"),
    [("SELECT ?", ()), ("SELECT 1", ("x",)), ("SELECT 'open", ()), ("SELECT ?", (float("nan"),))],
)
def test_bind_rejects_mismatches(template: str, values: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        bind(template, *values)  # type: ignore[arg-type]


@given(ANY_TEXT, st.integers(min_value=-(2**62), max_value=2**62))
def test_bind_produces_the_same_literals_a_parser_reads(text: str, number: int) -> None:
    sql = bind("SELECT id FROM wanted WHERE title = ? AND priority = ?", text, number)
    where = sqlglot.parse_one(sql, read="mysql").args["where"].this
    assert isinstance(where, exp.And)
    title, priority = where.this.expression, where.expression.expression
    assert title.this == text
    assert int(priority.this if isinstance(priority, exp.Literal) else priority.sql()) == number
