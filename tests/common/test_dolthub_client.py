"""DoltHub client against faithful fakes of every documented wire variant.

Each handler answers with the shapes written down in /work/shared/spec/dolthub-api.md
(and wasteland-protocol.md §4); time is virtual (injected clock and sleep).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from wasteland_common.dolthub import (
    AlreadyExists,
    DoltHubClient,
    DoltHubError,
    Forbidden,
    NotFound,
    PullRequest,
    QueryError,
    Unauthorized,
    Unavailable,
)

from tests.common.dolthub_fakes import Fake, Handler

TOKEN = "dhat.v1.test-token-abcdef"


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    async with Fake(token=TOKEN, seed=7, start=1000.0) as f:
        yield f


def reply(status: int = 200, body: Any = None, *, text: str | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text)
    return httpx.Response(status, json=body if body is not None else {})


def path_of(request: httpx.Request) -> str:
    """The raw (still percent-encoded) path after the API prefix."""
    raw = request.url.raw_path.decode().split("?", 1)[0]
    return raw.removeprefix("/api/v1alpha1")


def read_body(rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "query_execution_status": "Success",
        "query_execution_message": "",
        "repository_owner": "hop",
        "repository_name": "wl-commons",
        "commit_ref": "main",
        "sql_query": "SELECT",
        "rows": rows,
        **extra,
    }


# --------------------------------------------------------------------------- reads


async def test_read_builds_the_documented_request(fake: Fake) -> None:
    client = fake.client(lambda r: reply(200, read_body([{"id": "w-1"}])))
    sql = "SELECT id FROM wanted WHERE title = 'a b&c'"
    await client.read("hop", "wl-commons", sql, ref="wl/alice/w-1")
    request = fake.requests[0]
    assert request.method == "GET"
    assert path_of(request) == "/hop/wl-commons/wl%2Falice%2Fw-1"
    assert request.url.params["q"] == sql
    assert request.headers["authorization"] == f"token {TOKEN}"
    assert request.headers["cache-control"] == "no-cache"


async def test_read_without_token_sends_no_authorization(fake: Fake) -> None:
    client = fake.client(lambda r: reply(200, read_body([])), token=None)
    await client.read("hop", "wl-commons", "SELECT 1")
    assert "authorization" not in fake.requests[0].headers
    assert fake.requests[0].headers["cache-control"] == "no-cache"


async def test_authenticated_read_requires_a_ref(fake: Fake) -> None:
    client = fake.client(lambda r: reply(200, read_body([])))
    with pytest.raises(ValueError, match="ref"):
        await client.read("hop", "wl-commons", "SELECT 1", ref="")
    anonymous = client.with_token(None)
    await anonymous.read("hop", "wl-commons", "SELECT 1", ref="")
    assert path_of(fake.requests[-1]) == "/hop/wl-commons"


@pytest.mark.parametrize("schema_key", ["schema", "schema_fragment"])
async def test_read_takes_column_order_from_either_schema_key(fake: Fake, schema_key: str) -> None:
    schema = [
        {"columnName": "title", "columnType": "varchar(255)"},
        {"columnName": "id", "columnType": "varchar(64)"},
    ]
    body = read_body([{"id": "w-1", "title": "Fix"}], **{schema_key: schema})
    client = fake.client(lambda r: reply(200, body))
    result = await client.read("hop", "wl-commons", "SELECT title, id FROM wanted")
    assert result.columns == ["title", "id"]
    assert result.rows == [{"title": "Fix", "id": "w-1"}]


async def test_read_without_schema_uses_first_row_key_order(fake: Fake) -> None:
    body = read_body([{"z": "1", "a": "2"}, {"a": "3", "z": "4"}])
    client = fake.client(lambda r: reply(200, body))
    result = await client.read("hop", "wl-commons", "SELECT z, a")
    assert result.columns == ["z", "a"]
    assert result.rows[1] == {"z": "4", "a": "3"}


async def test_read_with_no_rows_and_no_schema_has_no_columns(fake: Fake) -> None:
    client = fake.client(lambda r: reply(200, read_body([])))
    result = await client.read("hop", "wl-commons", "SELECT id FROM wanted WHERE 0")
    assert result.columns == []
    assert result.rows == []
    assert result.truncated is False


async def test_read_normalises_every_cell_type(fake: Fake) -> None:
    row = {
        "s": "text",
        "i": 16777216,
        "whole": 3.0,
        "frac": 2.5,
        "yes": True,
        "no": False,
        "doc": {"a": [1, 2], "b": None},
        "nil": None,
    }
    schema = [{"columnName": name, "columnType": "x"} for name in [*row, "missing"]]
    client = fake.client(lambda r: reply(200, read_body([row], schema=schema)))
    result = await client.read("hop", "wl-commons", "SELECT *")
    assert result.rows == [
        {
            "s": "text",
            "i": "16777216",
            "whole": "3",
            "frac": "2.5",
            "yes": "1",
            "no": "0",
            "doc": '{"a":[1,2],"b":null}',
            "nil": None,
            "missing": None,
        }
    ]


async def test_rowlimit_is_success_with_truncated(fake: Fake) -> None:
    body = read_body([{"id": "1"}], query_execution_status="RowLimit")
    client = fake.client(lambda r: reply(200, body))
    result = await client.read("hop", "wl-commons", "SELECT id FROM wanted")
    assert result.truncated is True
    assert result.rows == [{"id": "1"}]


@pytest.mark.parametrize("http_status", [200, 400])
async def test_sql_error_envelope_is_query_error(fake: Fake, http_status: int) -> None:
    body = {
        "query_execution_status": "Error",
        "query_execution_message": "query error: Error parsing SQL",
        "repository_owner": "hop",
        "repository_name": "wl-commons",
        "commit_ref": "main",
        "sql_query": "SELEC 1",
    }
    client = fake.client(lambda r: reply(http_status, body))
    with pytest.raises(QueryError, match="Error parsing SQL"):
        await client.read("hop", "wl-commons", "SELEC 1")


async def test_malformed_rows_are_rejected(fake: Fake) -> None:
    client = fake.client(lambda r: reply(200, read_body(["not-an-object"])))  # type: ignore[list-item]
    with pytest.raises(DoltHubError, match="malformed"):
        await client.read("hop", "wl-commons", "SELECT 1")


DATASET = [{"id": f"w-{n:02d}", "n": str(n)} for n in range(7)]
_PAGE = re.compile(r" LIMIT (\d+) OFFSET (\d+)$")


def paging_server(row_limit: int | None = None) -> Handler:
    """LIMIT/OFFSET over DATASET; with ``row_limit``, larger pages come back RowLimit."""

    def handle(request: httpx.Request) -> httpx.Response:
        match = _PAGE.search(request.url.params["q"])
        assert match, "read_all must append LIMIT/OFFSET"
        limit, offset = int(match.group(1)), int(match.group(2))
        rows = DATASET[offset : offset + limit]
        status = "Success"
        if row_limit is not None and len(rows) > row_limit:
            rows, status = rows[:row_limit], "RowLimit"
        return reply(200, read_body(rows, query_execution_status=status))

    return handle


async def test_read_all_pages_until_a_short_page(fake: Fake) -> None:
    client = fake.client(paging_server())
    rows = await client.read_all(
        "hop", "wl-commons", "SELECT id, n FROM wanted ORDER BY id", page_size=3
    )
    assert rows == DATASET
    sent = [r.url.params["q"] for r in fake.requests]
    assert sent == [
        "SELECT id, n FROM wanted ORDER BY id LIMIT 3 OFFSET 0",
        "SELECT id, n FROM wanted ORDER BY id LIMIT 3 OFFSET 3",
        "SELECT id, n FROM wanted ORDER BY id LIMIT 3 OFFSET 6",
    ]


async def test_read_all_exact_multiple_needs_one_empty_page(fake: Fake) -> None:
    client = fake.client(paging_server())
    rows = await client.read_all(
        "hop", "wl-commons", "SELECT id, n FROM wanted ORDER BY id;", page_size=7
    )
    assert rows == DATASET
    assert len(fake.requests) == 2


async def test_read_all_follows_server_row_limit(fake: Fake) -> None:
    client = fake.client(paging_server(row_limit=2))
    rows = await client.read_all("hop", "wl-commons", "SELECT id, n FROM wanted ORDER BY id")
    assert rows == DATASET


async def test_read_all_rejects_its_own_limit_but_not_a_literal(fake: Fake) -> None:
    client = fake.client(paging_server())
    with pytest.raises(ValueError, match="LIMIT"):
        await client.read_all("hop", "wl-commons", "SELECT id FROM wanted LIMIT 5")
    rows = await client.read_all(
        "hop", "wl-commons", "SELECT id, n FROM wanted WHERE title <> 'no limit here'"
    )
    assert len(rows) == 7


async def test_head_commit_uses_hashof_on_main(fake: Fake) -> None:
    client = fake.client(lambda r: reply(200, read_body([{"h": "abc123"}])))
    assert await client.head_commit("hop", "wl-commons", "wl/o'brien") == "abc123"
    request = fake.requests[0]
    assert path_of(request) == "/hop/wl-commons/main"
    assert request.url.params["q"] == "SELECT HASHOF('wl/o''brien') AS h"


async def test_head_commit_falls_back_to_dolt_log(fake: Fake) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if "HASHOF" in request.url.params["q"]:
            return reply(
                400,
                {
                    "query_execution_status": "Error",
                    "query_execution_message": "function not found",
                },
            )
        return reply(200, read_body([{"commit_hash": "def456"}]))

    client = fake.client(handle)
    assert await client.head_commit("hop", "wl-commons", "dev") == "def456"
    assert path_of(fake.requests[1]) == "/hop/wl-commons/dev"
    assert "dolt_log" in fake.requests[1].url.params["q"]


async def test_database_exists(fake: Fake) -> None:
    known = {"/hop/wl-commons/main"}

    def handle(request: httpx.Request) -> httpx.Response:
        assert "q" not in request.url.params
        return reply(200, {}) if path_of(request) in known else reply(404, text="not found")

    client = fake.client(handle)
    assert await client.database_exists("hop", "wl-commons") is True
    assert await client.database_exists("hop", "nope") is False
    # With a token, the 404 is retried once anonymously before answering False.
    assert [("authorization" in r.headers) for r in fake.requests[1:]] == [True, False]


async def test_validate_token(fake: Fake) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization")
        if auth == f"token {TOKEN}":
            return reply(200, read_body([{"1": "1"}]))
        return reply(400, text="invalid authorization")

    client = fake.client(handle)
    await client.validate_token("hop", "wl-commons")
    assert fake.requests[0].url.params["q"] == "SELECT 1"
    assert path_of(fake.requests[0]) == "/hop/wl-commons/main"
    with pytest.raises(Unauthorized):
        await client.with_token("dhat.v1.wrong-token-0000").validate_token("hop", "wl-commons")
    with pytest.raises(Unauthorized):
        await client.with_token(None).validate_token("hop", "wl-commons")


async def test_validate_token_401_is_unauthorized(fake: Fake) -> None:
    client = fake.client(lambda r: reply(401, {"message": "unauthorized"}))
    with pytest.raises(Unauthorized):
        await client.validate_token("hop", "wl-commons")


async def test_validate_token_accepts_a_valid_token_without_permission(fake: Fake) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if "authorization" in request.headers:
            return reply(404, text="no such repository")
        return reply(200, {})

    client = fake.client(handle)
    await client.validate_token("hop", "wl-commons")


# --------------------------------------------------------------------------- writes


def write_started(op: str = "operations/op-1") -> httpx.Response:
    return reply(
        200,
        {
            "query_execution_status": "Success",
            "query_execution_message": "Operation created. Poll the operation endpoint.",
            "repository_owner": "alice",
            "repository_name": "wl-commons",
            "from_branch_name": "main",
            "to_branch_name": "wl/alice/w-1",
            "query": "UPDATE",
            "operation_name": op,
        },
    )


def write_server(*polls: httpx.Response) -> Handler:
    answers = list(polls)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return write_started()
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return handle


def done(status: str = "Success", frm: str = "a" * 32, to: str = "b" * 32) -> httpx.Response:
    return reply(
        200,
        {
            "_id": "operations/op-1",
            "done": True,
            "res_details": {
                "query_execution_status": status,
                "query_execution_message": "Query OK, 1 row affected.",
                "owner_name": "alice",
                "repository_name": "wl-commons",
                "from_commit_id": frm,
                "to_commit_id": to,
            },
        },
    )


async def test_write_starts_and_polls_the_documented_endpoints(fake: Fake) -> None:
    pending = reply(200, {"_id": "operations/op-1", "done": False})
    client = fake.client(write_server(pending, done()))
    sql = "UPDATE wanted SET status='claimed' WHERE id='w-1'"
    result = await client.write("alice", "wl-commons", "main", "wl/alice/w-1", sql)
    start, poll1, poll2 = fake.requests
    assert start.method == "POST"
    assert path_of(start) == "/alice/wl-commons/write/main/wl%2Falice%2Fw-1"
    assert start.url.params["q"] == sql
    assert path_of(poll1) == "/alice/wl-commons/write"
    assert poll1.url.params["operationName"] == "operations/op-1"
    assert poll2.method == "GET"
    assert result.committed is True
    assert result.from_commit_id == "a" * 32
    assert result.to_commit_id == "b" * 32
    assert result.operation_name == "operations/op-1"
    assert result.message == "Query OK, 1 row affected."
    assert fake.time.sleeps == [0.5, 1.0]


async def test_write_accepts_legacy_flat_poll_fields(fake: Fake) -> None:
    legacy = reply(
        200,
        {
            "done": True,
            "query_execution_status": "SUCCESS",
            "query_execution_message": "ok",
            "from_commit_id": "a" * 32,
            "to_commit_id": "c" * 32,
        },
    )
    client = fake.client(write_server(legacy))
    result = await client.write("alice", "wl-commons", "main", "main", "DELETE FROM t")
    assert result.committed is True
    assert result.to_commit_id == "c" * 32


async def test_write_success_with_warning_is_ok(fake: Fake) -> None:
    client = fake.client(write_server(done("successWithWarning")))
    result = await client.write("alice", "wl-commons", "main", "main", "INSERT INTO t VALUES (1)")
    assert result.committed is True


@pytest.mark.parametrize("to", ["", "a" * 32])
async def test_write_without_new_commit_is_not_committed(fake: Fake, to: str) -> None:
    client = fake.client(write_server(done(to=to)))
    result = await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1 WHERE 0")
    assert result.committed is False


async def test_write_poll_error_status_is_query_error(fake: Fake) -> None:
    client = fake.client(write_server(done("error")))
    with pytest.raises(QueryError):
        await client.write("alice", "wl-commons", "main", "main", "INSERT INTO nope VALUES (1)")


async def test_write_done_with_empty_status_is_an_error(fake: Fake) -> None:
    client = fake.client(write_server(reply(200, {"done": True, "res_details": {}})))
    with pytest.raises(DoltHubError, match="unknown status") as info:
        await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")
    assert type(info.value) is DoltHubError


async def test_tocommitid_bare_text_400_is_a_benign_no_op(fake: Fake) -> None:
    quirk = reply(400, text="Cannot return null for non-nullable field SqlWrite.toCommitId.")
    client = fake.client(write_server(quirk))
    result = await client.write(
        "alice", "wl-commons", "main", "wl/alice/w-1", "INSERT IGNORE INTO t VALUES (1)"
    )
    assert result.committed is False
    assert result.operation_name == "operations/op-1"


async def test_tocommitid_json_error_400_is_a_query_error(fake: Fake) -> None:
    failure = reply(
        400,
        {
            "query_execution_status": "Error",
            "query_execution_message": (
                "Cannot return null for non-nullable field SqlWrite.toCommitId"
            ),
        },
    )
    client = fake.client(write_server(failure))
    with pytest.raises(QueryError, match="toCommitId"):
        await client.write(
            "alice", "wl-commons", "nobranch", "wl/alice/w-1", "INSERT INTO t VALUES (1)"
        )


async def test_write_start_error_envelope_is_query_error(fake: Fake) -> None:
    body = {
        "query_execution_status": "Error",
        "query_execution_message": "table not found: nope",
        "operation_name": "",
    }
    client = fake.client(lambda r: reply(400, body))
    with pytest.raises(QueryError, match="table not found"):
        await client.write("alice", "wl-commons", "main", "main", "INSERT INTO nope VALUES (1)")
    assert len(fake.requests) == 1


async def test_write_without_operation_name_finishes_at_once(fake: Fake) -> None:
    client = fake.client(
        lambda r: reply(200, {"query_execution_status": "Success", "operation_name": ""})
    )
    result = await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")
    assert result.committed is False
    assert len(fake.requests) == 1


async def test_long_statement_goes_in_a_json_body(fake: Fake) -> None:
    client = fake.client(write_server(done()))
    sql = "INSERT INTO t VALUES ('" + "x" * 5000 + "')"
    await client.write("alice", "wl-commons", "main", "main", sql)
    start = fake.requests[0]
    assert "q" not in start.url.params
    assert json.loads(start.content) == {"query": sql}


async def test_poll_schedule_doubles_to_the_maximum_then_times_out(fake: Fake) -> None:
    client = fake.client(
        write_server(
            reply(200, {"done": False, "res_details": {"query_execution_status": "RowsFlow"}})
        )
    )
    with pytest.raises(Unavailable, match="timed out"):
        await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")
    sleeps = fake.time.sleeps
    assert sleeps[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert max(sleeps) == 8.0
    assert sum(sleeps) == pytest.approx(120.0)


async def test_poll_gives_up_after_five_consecutive_server_errors(fake: Fake) -> None:
    client = fake.client(write_server(reply(502, text="bad gateway")))
    with pytest.raises(Unavailable, match="5 times in a row"):
        await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")
    polls = [r for r in fake.requests if r.method == "GET"]
    assert len(polls) == 5


async def test_poll_tolerates_fewer_errors_than_the_limit(fake: Fake) -> None:
    errors = [reply(503, text="busy")] * 4
    client = fake.client(write_server(*errors, done()))
    result = await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")
    assert result.committed is True


async def test_poll_tolerates_transport_errors_below_the_limit(fake: Fake) -> None:
    polls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        if request.method == "POST":
            return write_started()
        polls += 1
        if polls <= 3:
            raise httpx.ReadTimeout("slow", request=request)
        return done()

    client = fake.client(handle)
    assert (await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")).committed


async def test_poll_fails_fast_on_4xx(fake: Fake) -> None:
    client = fake.client(write_server(reply(404, {"message": "operation not found"})))
    with pytest.raises(NotFound):
        await client.write("alice", "wl-commons", "main", "main", "UPDATE t SET x=1")
    assert len([r for r in fake.requests if r.method == "GET"]) == 1


async def test_merge_branch_is_an_empty_write_and_counts_as_committed(fake: Fake) -> None:
    merged = reply(
        200,
        {
            "done": True,
            "res_details": {
                "query_execution_status": "Success",
                "query_execution_message": "merged",
                "from_commit_id": "m" * 32,
                "to_commit_id": "",
            },
        },
    )
    client = fake.client(write_server(merged))
    result = await client.merge_branch("alice", "wl-commons", "bootstrap", "main")
    start = fake.requests[0]
    assert path_of(start) == "/alice/wl-commons/write/bootstrap/main"
    assert "q" not in start.url.params
    assert start.content == b""
    assert result.committed is True
    assert result.from_commit_id == "m" * 32


async def test_merge_branch_no_op_is_not_committed(fake: Fake) -> None:
    client = fake.client(write_server(reply(400, text="SqlWrite.toCommitId is null")))
    result = await client.merge_branch("alice", "wl-commons", "bootstrap", "main")
    assert result.committed is False


# --------------------------------------------------------------------------- databases, forks


async def test_create_database_sends_the_documented_body(fake: Fake) -> None:
    ok = {
        "status": "Success",
        "repository_owner": "alice",
        "repository_name": "db",
        "visibility": "public",
    }
    client = fake.client(lambda r: reply(200, ok))
    await client.create_database("alice", "db", description="d")
    request = fake.requests[0]
    assert request.method == "POST"
    assert path_of(request) == "/database"
    assert json.loads(request.content) == {
        "ownerName": "alice",
        "repoName": "db",
        "visibility": "public",
        "description": "d",
    }


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (409, {"status": "Error", "message": "conflict"}),
        (400, {"status": "Error", "message": "database already exists"}),
        (200, {"status": "Error", "error": "duplicate repository name"}),
    ],
)
async def test_create_database_conflicts_are_already_exists(
    fake: Fake, status: int, body: dict[str, str]
) -> None:
    client = fake.client(lambda r: reply(status, body))
    with pytest.raises(AlreadyExists):
        await client.create_database("alice", "db")


async def test_create_database_error_in_200_is_an_error(fake: Fake) -> None:
    body = {"status": "Error", "message": "private repos require a paid DoltHub account"}
    client = fake.client(lambda r: reply(200, body))
    with pytest.raises(DoltHubError, match="paid"):
        await client.create_database("alice", "db", visibility="private")


class ForkServer:
    """POST /fork, GET /fork?operationName=, GET /{owner}/{db}/main."""

    def __init__(
        self,
        polls: list[dict[str, Any]],
        *,
        exists_after: int = 0,
        start: httpx.Response | None = None,
    ) -> None:
        self.polls = polls
        self.exists_after = exists_after
        self.start = start or reply(200, {"status": "Success", "operation_name": "fork-op-123"})
        self.exist_checks = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = path_of(request)
        if request.method == "POST" and path == "/fork":
            return self.start
        if path == "/fork":
            assert request.url.params["operationName"] == "fork-op-123"
            return reply(200, self.polls.pop(0) if len(self.polls) > 1 else self.polls[0])
        if path == "/alice/wl-commons/main":
            self.exist_checks += 1
            return (
                reply(200, {})
                if self.exist_checks > self.exists_after
                else reply(404, text="no such repository")
            )
        raise AssertionError(f"unexpected {request.method} {path}")


async def test_fork_starts_polls_and_confirms(fake: Fake) -> None:
    server = ForkServer(
        [
            {"status": "Pending"},
            {"status": "Success", "owner_name": "alice", "database_name": "wl-commons"},
        ]
    )
    client = fake.client(server)
    await client.fork("hop", "wl-commons", "alice")
    start = fake.requests[0]
    assert json.loads(start.content) == {
        "ownerName": "alice",
        "parentOwnerName": "hop",
        "parentDatabaseName": "wl-commons",
    }
    assert server.exist_checks == 1


@pytest.mark.parametrize("status", ["Completed", "done", "SUCCESS"])
async def test_fork_completes_on_a_status_alone(fake: Fake, status: str) -> None:
    client = fake.client(ForkServer([{"status": status}]))
    await client.fork("hop", "wl-commons", "alice")


async def test_fork_with_empty_operation_name_is_done(fake: Fake) -> None:
    server = ForkServer([], start=reply(200, {"status": "Success", "operation_name": ""}))
    client = fake.client(server)
    await client.fork("hop", "wl-commons", "alice")
    assert [path_of(r) for r in fake.requests] == ["/fork", "/alice/wl-commons/main"]


async def test_fork_waits_for_the_database_to_appear(fake: Fake) -> None:
    server = ForkServer([{"status": "Success"}], exists_after=2)
    client = fake.client(server)
    await client.fork("hop", "wl-commons", "alice")
    assert server.exist_checks >= 3


async def test_fork_already_exists_is_success(fake: Fake) -> None:
    client = fake.client(
        lambda r: reply(400, {"status": "Error", "message": "Repository already exists"})
    )
    await client.fork("hop", "wl-commons", "alice")
    assert len(fake.requests) == 1


@pytest.mark.parametrize(("status", "error"), [(403, Forbidden), (401, Unauthorized)])
async def test_fork_refused_checks_existence(
    fake: Fake, status: int, error: type[DoltHubError]
) -> None:
    refused = reply(
        status,
        {"status": "Error", "message": "API token is not allowed to operate on this resource"},
    )
    exists = ForkServer([], start=refused)
    await fake.client(exists).fork("hop", "wl-commons", "alice")
    missing = ForkServer([], start=refused, exists_after=99)
    with pytest.raises(error, match="repositories/hop/wl-commons"):
        await fake.client(missing).fork("hop", "wl-commons", "alice")


async def test_fork_poll_timeout_checks_existence(fake: Fake) -> None:
    # The existence probe after the timeout is the first one; it answers 200.
    server = ForkServer([{"status": "Pending"}])
    await fake.client(server).fork("hop", "wl-commons", "alice")
    assert sum(fake.time.sleeps) == pytest.approx(120.0)
    never = ForkServer([{"status": "Pending"}], exists_after=99)
    with pytest.raises(Unavailable, match="timed out"):
        await fake.client(never).fork("hop", "wl-commons", "alice")


async def test_fork_failure_status_fails(fake: Fake) -> None:
    client = fake.client(ForkServer([{"status": "Error", "message": "parent not found"}]))
    with pytest.raises(DoltHubError, match="parent not found"):
        await client.fork("hop", "wl-commons", "alice")


# --------------------------------------------------------------------------- branches


async def test_create_branch_body_and_idempotence(fake: Fake) -> None:
    answers = [
        reply(200, {"status": "Success", "new_branch_name": "wl/alice/w-1"}),
        reply(400, {"status": "Error", "message": "branch wl/alice/w-1 already exists"}),
    ]
    client = fake.client(lambda r: answers.pop(0))
    await client.create_branch("alice", "wl-commons", "wl/alice/w-1", "main")
    await client.create_branch("alice", "wl-commons", "wl/alice/w-1", "main")
    request = fake.requests[0]
    assert path_of(request) == "/alice/wl-commons/branches"
    assert json.loads(request.content) == {
        "revisionType": "branch",
        "revisionName": "main",
        "newBranchName": "wl/alice/w-1",
    }


async def test_create_branch_other_error_raises(fake: Fake) -> None:
    client = fake.client(lambda r: reply(400, {"status": "Error", "message": "revision not found"}))
    with pytest.raises(DoltHubError, match="revision not found"):
        await client.create_branch("alice", "wl-commons", "b", "nope")


async def test_list_and_delete_branches(fake: Fake) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return reply(
                200,
                {
                    "status": "Success",
                    "branches": [{"branch_name": "main"}, {"branch_name": "wl/a/b"}],
                },
            )
        return reply(200, {"status": "Success"})

    client = fake.client(handle)
    assert await client.list_branches("alice", "wl-commons") == ["main", "wl/a/b"]
    await client.delete_branch("alice", "wl-commons", "wl/a/b")
    assert fake.requests[1].method == "DELETE"
    assert path_of(fake.requests[1]) == "/alice/wl-commons/branches/wl%2Fa%2Fb"


async def test_delete_missing_branch_is_not_found(fake: Fake) -> None:
    client = fake.client(lambda r: reply(404, {"status": "Error", "message": "branch not found"}))
    with pytest.raises(NotFound):
        await client.delete_branch("alice", "wl-commons", "gone")


async def test_delete_branch_falls_back_to_dolt_branch_without_a_rest_route(fake: Fake) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return reply(405, text="Method Not Allowed")
        return write_server(done())(request)

    client = fake.client(handle)
    await client.delete_branch("alice", "wl-commons", "wl/a/b")
    start = fake.requests[1]
    assert path_of(start) == "/alice/wl-commons/write/main/main"
    assert start.url.params["q"] == "CALL DOLT_BRANCH('-D', 'wl/a/b')"


# --------------------------------------------------------------------------- pull requests


@pytest.mark.parametrize("answer", [{"pull_id": "66"}, {"pull_id": 66}, {"_id": "66"}])
async def test_create_pull_reads_either_id_field(fake: Fake, answer: dict[str, Any]) -> None:
    client = fake.client(lambda r: reply(200, {"status": "Success", **answer}))
    pull_id = await client.create_pull(
        "hop",
        "wl-commons",
        title="t",
        description="d",
        from_owner="alice",
        from_db="wl-commons",
        from_branch="wl/alice/w-1",
    )
    assert pull_id == "66"
    request = fake.requests[0]
    assert path_of(request) == "/hop/wl-commons/pulls"
    assert json.loads(request.content) == {
        "title": "t",
        "description": "d",
        "fromBranchOwnerName": "alice",
        "fromBranchRepoName": "wl-commons",
        "fromBranchName": "wl/alice/w-1",
        "toBranchOwnerName": "hop",
        "toBranchRepoName": "wl-commons",
        "toBranchName": "main",
    }


async def test_create_pull_duplicate_is_already_exists(fake: Fake) -> None:
    client = fake.client(
        lambda r: reply(400, {"status": "Error", "message": "pull request already exists"})
    )
    with pytest.raises(AlreadyExists):
        await client.create_pull(
            "hop", "db", title="t", description="", from_owner="a", from_db="db", from_branch="b"
        )


DOCS_PULL = {
    "status": "Success",
    "database_owner": "hop",
    "database_name": "wl-commons",
    "pull_id": "66",
    "title": "[wl] claim",
    "description": "body",
    "state": "Open",
    "from_branch_owner": "alice",
    "from_branch_database": "wl-commons",
    "from_branch_name": "wl/alice/w-1",
    "to_branch_owner": "hop",
    "to_branch_database": "wl-commons",
    "to_branch_name": "main",
    "created_at": "2025-01-01T00:00:00Z",
    "author": "alice",
}
KILO_PULL = {
    "status": "Success",
    "pull_id": 66,
    "title": "[wl] claim",
    "description": "body",
    "state": "OPEN",
    "from_branch": "wl/alice/w-1",
    "from_branch_owner_name": "alice",
    "from_branch_repo_name": "wl-commons",
    "to_branch_name": "main",
    "created_at": "2025-01-01T00:00:00Z",
    "updated_at": "2025-01-02T00:00:00Z",
    "creator_name": "alice",
}


@pytest.mark.parametrize("body", [DOCS_PULL, KILO_PULL], ids=["docs", "kilo"])
async def test_get_pull_normalises_field_variants(fake: Fake, body: dict[str, Any]) -> None:
    client = fake.client(lambda r: reply(200, body))
    pull = await client.get_pull("hop", "wl-commons", "66")
    assert pull == PullRequest(
        pull_id="66",
        title="[wl] claim",
        description="body",
        state="open",
        from_owner="alice",
        from_database="wl-commons",
        from_branch="wl/alice/w-1",
        to_owner="hop",
        to_database="wl-commons",
        to_branch="main",
        author="alice",
        created_at="2025-01-01T00:00:00Z",
    )
    assert path_of(fake.requests[0]) == "/hop/wl-commons/pulls/66"


async def test_list_pulls_follows_page_tokens(fake: Fake) -> None:
    pages = {
        None: {
            "pulls": [
                {
                    "pull_id": "1",
                    "title": "a",
                    "state": "Open",
                    "created_at": "t1",
                    "creator": "alice",
                }
            ],
            "next_page_token": "p/2",
        },
        "p/2": {
            "pulls": [
                {
                    "pull_id": 2,
                    "title": "b",
                    "state": "Merged",
                    "created_at": "t2",
                    "creator_name": "bob",
                }
            ],
            "next_page_token": "p/3",
        },
        "p/3": {
            "pulls": [
                {
                    "_id": "3",
                    "title": "c",
                    "state": "closed",
                    "created_at": "t3",
                    "creator": "carol",
                }
            ],
            "next_page_token": "",
        },
    }

    def handle(request: httpx.Request) -> httpx.Response:
        return reply(200, {"status": "Success", **pages[request.url.params.get("pageToken")]})

    client = fake.client(handle)
    pulls = await client.list_pulls("hop", "wl-commons")
    assert [(p.pull_id, p.state, p.creator) for p in pulls] == [
        ("1", "open", "alice"),
        ("2", "merged", "bob"),
        ("3", "closed", "carol"),
    ]
    assert [r.url.params.get("pageToken") for r in fake.requests] == [None, "p/2", "p/3"]


async def test_list_pulls_stops_on_a_repeating_token(fake: Fake) -> None:
    client = fake.client(lambda r: reply(200, {"pulls": [], "next_page_token": "same"}))
    with pytest.raises(DoltHubError, match="repeats"):
        await client.list_pulls("hop", "wl-commons")


async def test_close_and_comment(fake: Fake) -> None:
    client = fake.client(
        lambda r: reply(200, {"status": "Success", "pull_id": "66", "state": "closed"})
    )
    await client.close_pull("hop", "wl-commons", "66")
    await client.comment_pull("hop", "wl-commons", "66", "looks good")
    close, comment = fake.requests
    assert close.method == "PATCH"
    assert path_of(close) == "/hop/wl-commons/pulls/66"
    assert json.loads(close.content) == {"state": "closed"}
    assert comment.method == "POST"
    assert path_of(comment) == "/hop/wl-commons/pulls/66/comments"
    assert json.loads(comment.content) == {"comment": "looks good"}


class MergeServer:
    def __init__(
        self, polls: list[dict[str, Any]], states: list[str], start: httpx.Response | None = None
    ) -> None:
        self.polls = polls
        self.states = states
        self.start = start or reply(
            200,
            {
                "status": "Success",
                "pull_id": "66",
                "operation_name": "repositoryOwners/hop/repositories/wl-commons/jobs/j-1",
                "user_operation_name": "users/hop/userOperations/u-1",
            },
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = path_of(request)
        if request.method == "POST":
            assert path == "/hop/wl-commons/pulls/66/merge"
            return self.start
        if path.endswith("/merge"):
            assert request.url.params["operationName"].endswith("jobs/j-1")
            return reply(200, self.polls.pop(0) if len(self.polls) > 1 else self.polls[0])
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return reply(200, {**DOCS_PULL, "state": state})


@pytest.mark.parametrize(
    "final",
    [
        {"status": "Success", "job_created": True, "job_status": "Completed"},
        {"status": "Success", "job_status": "completed"},
        {"done": True, "res_details": {"query_execution_status": "Success"}},
    ],
)
async def test_merge_pull_polls_until_complete_and_confirms(
    fake: Fake, final: dict[str, Any]
) -> None:
    server = MergeServer(
        [{"status": "Success", "job_status": "In Progress"}, final], ["Merging", "Merged"]
    )
    await fake.client(server).merge_pull("hop", "wl-commons", "66")
    gets = [path_of(r) for r in fake.requests if r.method == "GET"]
    assert gets[:2] == ["/hop/wl-commons/pulls/66/merge"] * 2
    assert gets[-1] == "/hop/wl-commons/pulls/66"


@pytest.mark.parametrize(
    "failure",
    [
        {"status": "Success", "job_status": "Failed"},
        {"status": "Error", "message": "merge conflict"},
        {
            "done": True,
            "res_details": {
                "query_execution_status": "Error",
                "query_execution_message": "conflict",
            },
        },
    ],
)
async def test_merge_pull_job_failure_raises(fake: Fake, failure: dict[str, Any]) -> None:
    server = MergeServer([failure], ["Open"])
    with pytest.raises(DoltHubError):
        await fake.client(server).merge_pull("hop", "wl-commons", "66")


async def test_merge_pull_already_merged_is_success(fake: Fake) -> None:
    refused = reply(400, {"status": "Error", "message": "Error merging a pull request."})
    server = MergeServer([], ["Merged"], start=refused)
    await fake.client(server).merge_pull("hop", "wl-commons", "66")


async def test_merge_pull_refused_and_open_raises(fake: Fake) -> None:
    refused = reply(400, {"status": "Error", "message": "Error merging a pull request."})
    server = MergeServer([], ["Open"], start=refused)
    with pytest.raises(DoltHubError, match="Error merging"):
        await fake.client(server).merge_pull("hop", "wl-commons", "66")


async def test_merge_pull_closed_meanwhile_raises(fake: Fake) -> None:
    server = MergeServer([{"job_status": "Completed"}], ["Closed"])
    with pytest.raises(DoltHubError, match="closed"):
        await fake.client(server).merge_pull("hop", "wl-commons", "66")


# --------------------------------------------------------------------------- misc


async def test_with_token_shares_the_pool_and_changes_identity(fake: Fake) -> None:
    client = fake.client(lambda r: reply(200, read_body([])))
    bob = client.with_token("dhat.v1.bob-token-123456")
    await bob.read("hop", "wl-commons", "SELECT 1")
    await bob.aclose()  # must not close the shared pool
    await client.read("hop", "wl-commons", "SELECT 1")
    assert [r.headers["authorization"] for r in fake.requests] == [
        "token dhat.v1.bob-token-123456",
        f"token {TOKEN}",
    ]


def test_rejects_a_non_http_base_url() -> None:
    with pytest.raises(ValueError, match="http"):
        DoltHubClient("ftp://example.test")
