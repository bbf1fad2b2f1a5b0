"""HTTP: routing on the raw path, request parsing, response envelopes, faults and stats.

Refs arrive with ``/`` encoded as ``%2F`` (``wl%2Falice%2Fw-abc``), so routing splits the
*raw* path and unquotes each segment itself. Every route lists the databases it touches;
those get request statistics and injected faults before the handler runs. Handlers are
plain synchronous functions run in a worker thread; domain errors (:class:`ApiError`,
:class:`SqlError`) become the JSON envelope DoltHub uses for that family of endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, unquote

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from . import access, dialect, pulls, sqlrun
from .config import SandboxConfig
from .errors import (
    NO_SUCH_REPOSITORY,
    NOT_ALLOWED,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    SqlError,
)
from .faults import Faults, Stats, Target, parse_settings
from .operations import Operations, check_branch_name
from .repo import Repo
from .seed import seed_demo
from .storage import PullRecord, Store, Visibility

API_PREFIX = "/api/v1alpha1"
NOOP_WRITE_BODY = "Cannot return null for non-nullable field SqlWrite.toCommitId."
WRITE_QUEUED = (
    "Operation created. Poll the operation endpoint to see the execution status of this query."
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

log = logging.getLogger("dolthub_sandbox.http")

Family = Literal["read", "write", "status"]


class Sandbox:
    """Everything the handlers share: config, store, operations, faults, stats."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        fresh = not (config.data_dir / "meta.sqlite3").exists()
        self.store = Store(config.data_dir, config.ids)
        if fresh and config.seed == "demo" and self.store.is_empty():
            seed_demo(self.store, config.clock)
        self.ops = Operations(self.store, config)
        self.faults = Faults(self.store)
        self.stats = Stats()
        self.ops.settle_all()

    def close(self) -> None:
        self.store.close()


@dataclass
class Call:
    """The parts of a request a handler may use."""

    method: str
    query: Mapping[str, str]
    authorization: str | None
    body: bytes

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object ({} when empty)."""
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except ValueError as err:
            raise BadRequest("request body is not valid JSON") from err
        if not isinstance(value, dict):
            raise BadRequest("request body must be a JSON object")
        return value


Handler = Callable[["Sandbox", "Match", Call], Response]


@dataclass
class Match:
    """A routed API request."""

    kind: str
    family: Family
    handler: Handler
    owner: str = ""
    db: str = ""
    args: dict[str, str] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)  # fields echoed in error envelopes


# ====================================================================== helpers


def _json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _string(body: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def _caller(sb: Sandbox, call: Call) -> access.Caller:
    return access.authenticate(sb.store, call.authorization)


def _error_response(match: Match | None, status: int, message: str) -> JSONResponse:
    family = match.family if match else "status"
    context = match.context if match else {}
    if family == "read":
        body: dict[str, Any] = {
            "query_execution_status": "Error",
            "query_execution_message": message,
            **context,
        }
    elif family == "write":
        body = {
            "query_execution_status": "Error",
            "query_execution_message": message,
            **context,
            "operation_name": "",
        }
    else:
        body = {"status": "Error", "message": message, **context}
    return _json(body, status)


# ====================================================================== SQL read


def handle_read(sb: Sandbox, m: Match, call: Call) -> Response:
    caller = _caller(sb, call)
    q = call.query.get("q")
    ref = m.args.get("ref")
    if ref is None:
        if q is not None and caller.user is not None:
            raise BadRequest(
                "authenticated requests must name a ref: GET /{owner}/{database}/{ref}?q=…"
            )
        ref = "main"
    m.context["commit_ref"] = ref
    database = access.readable(sb.store, caller, m.owner, m.db)
    if (
        caller.user is not None
        and sb.faults.get((m.owner, m.db)).token_reads_not_found
        and not sb.store.is_member(database.owner, caller.user)
    ):
        raise NotFound(f"{NO_SUCH_REPOSITORY}: {m.owner}/{m.db}")
    sb.ops.settle(m.owner, m.db)
    repo = Repo(sb.store, m.owner, m.db)
    commit = repo.try_resolve(ref)
    if commit is None:
        raise NotFound(f"branch not found: {ref}")
    if q is None:
        return _json(
            {
                "status": "Success",
                "repository_owner": m.owner,
                "repository_name": m.db,
                "commit_ref": ref,
                "commit_id": commit,
            }
        )
    result = sqlrun.run_read(
        repo, commit, ref, q, row_limit=sb.config.row_limit, clock=sb.config.clock
    )
    names = [name for name, _ in result.columns]
    return _json(
        {
            "query_execution_status": "RowLimit" if result.truncated else "Success",
            "query_execution_message": "",
            "repository_owner": m.owner,
            "repository_name": m.db,
            "commit_ref": ref,
            "sql_query": q,
            "schema": [{"columnName": n, "columnType": t} for n, t in result.columns],
            "rows": [dict(zip(names, row, strict=True)) for row in result.rows],
        }
    )


def handle_database_info(sb: Sandbox, m: Match, call: Call) -> Response:
    if "q" in call.query:
        return handle_read(sb, m, call)
    caller = _caller(sb, call)
    database = access.readable(sb.store, caller, m.owner, m.db)
    return _json(
        {
            "status": "Success",
            "repository_owner": database.owner,
            "repository_name": database.name,
            "visibility": database.visibility,
            "description": database.description,
            "default_branch": "main",
        }
    )


# ====================================================================== SQL write


def handle_write(sb: Sandbox, m: Match, call: Call) -> Response:
    caller = _caller(sb, call)
    access.writable(sb.store, caller, m.owner, m.db)
    user = access.require_user(caller)
    query = call.query.get("q")
    if query is None:
        query = _string(call.json_object(), "query", required=False)
    if query is not None and not query.strip():
        query = None
    m.context["query"] = query or ""
    params: dict[str, Any] = {"from": m.args["from"], "to": m.args["to"], "query": None}
    if query is not None:
        statements = dialect.split_statements(query)
        if not statements:
            raise BadRequest("query was empty")
        if len(statements) > 1:
            raise BadRequest(f"only one SQL statement is allowed per write, got {len(statements)}")
        params["query"] = statements[0]
        params["message"] = query.strip()
    name = sb.ops.submit("write", (m.owner, m.db), user, params)
    return _json(
        {
            "query_execution_status": "Success",
            "query_execution_message": WRITE_QUEUED,
            "repository_owner": m.owner,
            "repository_name": m.db,
            "from_branch_name": m.args["from"],
            "to_branch_name": m.args["to"],
            "query": query or "",
            "operation_name": name,
        }
    )


def handle_write_poll(sb: Sandbox, m: Match, call: Call) -> Response:
    name = call.query.get("operationName")
    if not name:
        raise BadRequest("operationName is required")
    access.readable(sb.store, _caller(sb, call), m.owner, m.db)
    op = sb.ops.get(name)
    if op is None or op.kind != "write" or (op.owner, op.database) != (m.owner, m.db):
        raise NotFound(f"operation not found: {name}")
    if not op.done or op.result is None:
        return _json({"_id": name, "done": False})
    result = op.result
    if result["outcome"] == "noop":
        return PlainTextResponse(NOOP_WRITE_BODY, status_code=400)
    details: dict[str, Any] = {"owner_name": m.owner, "repository_name": m.db}
    if result["outcome"] == "error":
        details = {
            "query_execution_status": "Error",
            "query_execution_message": result["message"],
            **details,
            "from_commit_id": "",
            "to_commit_id": "",
        }
    else:
        details = {
            "query_execution_status": "Success",
            "query_execution_message": f"Query OK, {result['rows']} rows affected.",
            **details,
            "from_commit_id": result["from_commit_id"],
            "to_commit_id": result["to_commit_id"],
        }
    return _json({"_id": name, "done": True, "res_details": details})


# ====================================================================== databases & forks


def handle_create_database(sb: Sandbox, m: Match, call: Call) -> Response:
    body = call.json_object()
    m.context.update(
        {
            "description": body.get("description") or "",
            "repository_owner": body.get("ownerName") or "",
            "repository_name": body.get("repoName") or "",
            "visibility": body.get("visibility") or "",
        }
    )
    owner, name = _string(body, "ownerName"), _string(body, "repoName")
    visibility = _string(body, "visibility")
    description = _string(body, "description", required=False) or ""
    if owner is None or name is None:
        raise BadRequest("ownerName and repoName are required")
    if visibility == "public":
        kind: Visibility = "public"
    elif visibility == "private":
        kind = "private"
    else:
        raise BadRequest("visibility must be 'public' or 'private'")
    user = access.require_user(_caller(sb, call))
    if not sb.store.is_member(owner, user):
        raise Forbidden(NOT_ALLOWED)
    if not _NAME.match(name):
        raise BadRequest(f"invalid database name: {name!r}")
    with sb.store.database_lock(owner, name):
        if sb.store.get_database(owner, name) is not None or any(
            op.kind == "fork" for op in sb.store.pending_operations(owner, name)
        ):
            raise Conflict(f"database {owner}/{name} already exists")
        sb.store.create_database(owner, name, kind, description, author=user, now=sb.config.clock())
    return _json(
        {
            "status": "Success",
            "description": description,
            "repository_owner": owner,
            "repository_name": name,
            "visibility": visibility,
        }
    )


def handle_fork(sb: Sandbox, m: Match, call: Call) -> Response:
    body = call.json_object()
    owner = _string(body, "ownerName")
    parent_owner = _string(body, "parentOwnerName")
    parent_name = _string(body, "parentDatabaseName")
    if owner is None or parent_owner is None or parent_name is None:
        raise BadRequest("ownerName, parentOwnerName and parentDatabaseName are required")
    caller = _caller(sb, call)
    user = access.require_user(caller)
    if not sb.store.is_member(owner, user):
        raise Forbidden(NOT_ALLOWED)
    access.readable(sb.store, caller, parent_owner, parent_name)
    with sb.store.database_lock(owner, parent_name):
        if sb.store.get_database(owner, parent_name) is not None or any(
            op.kind == "fork" for op in sb.store.pending_operations(owner, parent_name)
        ):
            raise Conflict(f"database {owner}/{parent_name} already exists")
    name = sb.ops.submit(
        "fork",
        (owner, parent_name),
        user,
        {"parent_owner": parent_owner, "parent_name": parent_name},
    )
    return _json({"status": "Success", "operation_name": name})


def handle_fork_poll(sb: Sandbox, m: Match, call: Call) -> Response:
    name = call.query.get("operationName")
    if not name:
        raise BadRequest("operationName is required")
    _caller(sb, call)
    op = sb.ops.get(name)
    if op is None or op.kind != "fork":
        raise NotFound(f"operation not found: {name}")
    if not op.done or op.result is None:
        return _json({"status": "Pending", "owner_name": "", "database_name": ""})
    if op.result["outcome"] == "error":
        return _json(
            {
                "status": "Error",
                "message": op.result["message"],
                "owner_name": "",
                "database_name": "",
            },
            400,
        )
    return _json(
        {
            "status": "Success",
            "owner_name": op.result["owner_name"],
            "database_name": op.result["database_name"],
        }
    )


# ====================================================================== branches


def handle_branches_list(sb: Sandbox, m: Match, call: Call) -> Response:
    access.readable(sb.store, _caller(sb, call), m.owner, m.db)
    sb.ops.settle(m.owner, m.db)
    return _json(
        {
            "status": "Success",
            "database_owner": m.owner,
            "database_name": m.db,
            "branches": [{"branch_name": b.name} for b in sb.store.branches(m.owner, m.db)],
        }
    )


def handle_branch_create(sb: Sandbox, m: Match, call: Call) -> Response:
    access.writable(sb.store, _caller(sb, call), m.owner, m.db)
    body = call.json_object()
    values = {k: body.get(k) for k in ("revisionType", "revisionName", "newBranchName")}
    if not all(isinstance(v, str) and v for v in values.values()):
        raise BadRequest("revisionType, revisionName and newBranchName are required")
    kind, revision, new = (str(values[k]) for k in values)
    if kind not in ("branch", "ref", "commit"):
        raise BadRequest("revisionType must be one of branch, ref, commit")
    try:
        check_branch_name(new)
    except SqlError as err:
        raise BadRequest(err.message) from err
    sb.ops.settle(m.owner, m.db)
    repo = Repo(sb.store, m.owner, m.db)
    with sb.store.database_lock(m.owner, m.db):
        if kind == "branch":
            start = repo.head(revision)
        elif kind == "commit":
            start = revision if sb.store.reachable(m.owner, m.db, revision) else None
        else:
            start = repo.try_resolve(revision)
        if start is None:
            raise BadRequest(f"{kind} not found: {revision}")
        if repo.head(new) is not None:
            raise BadRequest(f"branch {new} already exists")
        sb.store.set_branch(m.owner, m.db, new, start)
    return _json(
        {
            "status": "Success",
            "database_owner": m.owner,
            "database_name": m.db,
            "new_branch_name": new,
            "revision_type": kind,
            "revision_name": revision,
        }
    )


def handle_branch_delete(sb: Sandbox, m: Match, call: Call) -> Response:
    access.writable(sb.store, _caller(sb, call), m.owner, m.db)
    branch = m.args["branch"]
    if branch == "main":
        raise BadRequest("cannot delete the default branch main")
    sb.ops.settle(m.owner, m.db)
    with sb.store.database_lock(m.owner, m.db):
        if not sb.store.delete_branch(m.owner, m.db, branch):
            raise NotFound(f"branch not found: {branch}")
    return _json(
        {
            "status": "Success",
            "database_owner": m.owner,
            "database_name": m.db,
            "branch_name": branch,
        }
    )


# ====================================================================== pulls


def _pull_summary(pull: PullRecord) -> dict[str, Any]:
    return {
        "pull_id": str(pull.pull_id),
        "title": pull.title,
        "description": pull.description,
        "state": pull.state,
        "created_at": pull.created_at,
        "creator": pull.author,
    }


def handle_pull_create(sb: Sandbox, m: Match, call: Call) -> Response:
    caller = _caller(sb, call)
    access.require_user(caller)
    dest = access.readable(sb.store, caller, m.owner, m.db)
    body = call.json_object()
    keys = (
        "title",
        "fromBranchOwnerName",
        "fromBranchRepoName",
        "fromBranchName",
        "toBranchOwnerName",
        "toBranchRepoName",
        "toBranchName",
    )
    missing = [k for k in keys if not isinstance(body.get(k), str) or not body.get(k)]
    if missing:
        raise BadRequest(f"Error creating a pull request: missing {', '.join(missing)}")
    new = pulls.NewPull(
        title=body["title"],
        description=_string(body, "description", required=False) or "",
        from_owner=body["fromBranchOwnerName"],
        from_database=body["fromBranchRepoName"],
        from_branch=body["fromBranchName"],
        to_owner=body["toBranchOwnerName"],
        to_database=body["toBranchRepoName"],
        to_branch=body["toBranchName"],
    )
    sb.ops.settle(m.owner, m.db)
    sb.ops.settle(new.from_owner, new.from_database)
    pull = pulls.create(sb.store, caller, dest, new, sb.config.clock())
    return _json(
        {
            "status": "Success",
            "title": pull.title,
            "description": pull.description,
            "from_owner_name": pull.from_owner,
            "from_repository_name": pull.from_database,
            "from_branch_name": pull.from_branch,
            "to_owner_name": pull.owner,
            "to_repository_name": pull.database,
            "to_branch_name": pull.to_branch,
            "pull_id": str(pull.pull_id),
            "_id": str(pull.pull_id),
        }
    )


def handle_pull_list(sb: Sandbox, m: Match, call: Call) -> Response:
    dest = access.readable(sb.store, _caller(sb, call), m.owner, m.db)
    sb.ops.settle(m.owner, m.db)
    items, next_token = pulls.page(
        sb.store, dest, call.query.get("pageToken") or None, sb.config.pulls_page_size
    )
    return _json(
        {
            "status": "Success",
            "database_owner": m.owner,
            "database_name": m.db,
            "pulls": [_pull_summary(p) for p in items],
            "next_page_token": next_token,
        }
    )


def _pull_detail(pull: PullRecord) -> dict[str, Any]:
    return {
        "status": "Success",
        "database_owner": pull.owner,
        "database_name": pull.database,
        "pull_id": str(pull.pull_id),
        "title": pull.title,
        "description": pull.description,
        "state": pull.state,
        "from_branch_owner": pull.from_owner,
        "from_branch_database": pull.from_database,
        "from_branch_name": pull.from_branch,
        "from_branch": pull.from_branch,
        "to_branch_owner": pull.owner,
        "to_branch_database": pull.database,
        "to_branch_name": pull.to_branch,
        "created_at": pull.created_at,
        "updated_at": pull.updated_at,
        "author": pull.author,
    }


def handle_pull_get(sb: Sandbox, m: Match, call: Call) -> Response:
    dest = access.readable(sb.store, _caller(sb, call), m.owner, m.db)
    sb.ops.settle(m.owner, m.db)
    return _json(_pull_detail(pulls.get(sb.store, dest, m.args["pull_id"])))


def handle_pull_update(sb: Sandbox, m: Match, call: Call) -> Response:
    caller = _caller(sb, call)
    access.require_user(caller)
    dest = access.readable(sb.store, caller, m.owner, m.db)
    body = call.json_object()
    title = _string(body, "title", required=False)
    description = _string(body, "description", required=False)
    state = _string(body, "state", required=False)
    if title is None and description is None and state is None:
        raise BadRequest("Error updating a pull request: give title, description or state")
    sb.ops.settle(m.owner, m.db)
    pull = pulls.update(
        sb.store,
        caller,
        dest,
        pulls.get(sb.store, dest, m.args["pull_id"]),
        title=title,
        description=description,
        state=state,
        now=sb.config.clock(),
    )
    return _json(
        {
            "status": "Success",
            "database_owner": m.owner,
            "database_name": m.db,
            "pull_id": str(pull.pull_id),
            "title": pull.title,
            "description": pull.description,
            "state": pull.state,
        }
    )


def handle_pull_comment(sb: Sandbox, m: Match, call: Call) -> Response:
    caller = _caller(sb, call)
    user = access.require_user(caller)
    dest = access.readable(sb.store, caller, m.owner, m.db)
    comment = _string(call.json_object(), "comment")
    if not comment:
        raise BadRequest("comment is required")
    pull = pulls.get(sb.store, dest, m.args["pull_id"])
    sb.store.add_comment(m.owner, m.db, pull.pull_id, user, comment, sb.config.clock())
    return _json(
        {
            "status": "Success",
            "repository_owner": m.owner,
            "repository_name": m.db,
            "pull_id": str(pull.pull_id),
            "comment": comment,
        }
    )


def handle_pull_merge(sb: Sandbox, m: Match, call: Call) -> Response:
    caller = _caller(sb, call)
    dest = access.writable(sb.store, caller, m.owner, m.db)
    user = access.require_user(caller)
    sb.ops.settle(m.owner, m.db)
    pull = pulls.get(sb.store, dest, m.args["pull_id"])
    if pull.state != "Open":
        raise BadRequest(f"Error merging a pull request: the pull request is {pull.state.lower()}")
    job = f"repositoryOwners/{m.owner}/repositories/{m.db}/jobs/{sb.config.ids.uuid()}"
    user_op = f"users/{user}/userOperations/{sb.config.ids.uuid()}"
    sb.ops.submit(
        "pull_merge",
        (m.owner, m.db),
        user,
        {"pull_id": pull.pull_id, "user_operation_name": user_op},
        name=job,
    )
    return _json(
        {
            "status": "Success",
            "database_owner": m.owner,
            "database_name": m.db,
            "pull_id": str(pull.pull_id),
            "operation_name": job,
            "user_operation_name": user_op,
        }
    )


def handle_pull_merge_poll(sb: Sandbox, m: Match, call: Call) -> Response:
    name = call.query.get("operationName")
    if not name:
        raise BadRequest("operationName is required")
    access.readable(sb.store, _caller(sb, call), m.owner, m.db)
    op = sb.ops.get(name)
    if (
        op is None
        or op.kind != "pull_merge"
        or (op.owner, op.database) != (m.owner, m.db)
        or str(op.params.get("pull_id")) != m.args["pull_id"]
    ):
        raise NotFound(f"operation not found: {name}")
    body: dict[str, Any] = {
        "status": "Success",
        "operation_name": name,
        "job_created": True,
        "database_owner": m.owner,
        "database_name": m.db,
        "pull_id": m.args["pull_id"],
        "job_status": "In Progress",
    }
    if op.done and op.result is not None:
        if op.result["outcome"] == "error":
            body.update(status="Error", message=op.result["message"], job_status="Failed")
        else:
            body.update(job_status="Completed", job_id=name.rsplit("/", 1)[-1])
    return _json(body)


# ====================================================================== routing


def _read_match(owner: str, db: str, ref: str | None, query: Mapping[str, str]) -> Match:
    context = {
        "repository_owner": owner,
        "repository_name": db,
        "commit_ref": ref or "main",
        "sql_query": query.get("q", ""),
    }
    if ref is None:
        return Match(
            "read" if "q" in query else "database",
            "read",
            handle_database_info,
            owner,
            db,
            {},
            [(owner, db)],
            context,
        )
    return Match(
        "read" if "q" in query else "exists",
        "read",
        handle_read,
        owner,
        db,
        {"ref": ref},
        [(owner, db)],
        context,
    )


def route(method: str, raw: list[str], query: Mapping[str, str]) -> Match | int:
    """The match for an API request, or 404/405 when none applies."""
    seg = [unquote(s) for s in raw]
    n = len(seg)
    if n == 1 and raw[0] == "fork":
        if method == "POST":
            return Match("fork", "status", handle_fork)
        return Match("fork_poll", "status", handle_fork_poll) if method == "GET" else 405
    if n == 1 and raw[0] == "database":
        return (
            Match("create_database", "status", handle_create_database) if method == "POST" else 405
        )
    if n < 2 or not seg[0] or not seg[1]:
        return 404
    owner, db = seg[0], seg[1]
    targets = [(owner, db)]
    status_ctx: dict[str, Any] = {}

    def status(kind: str, handler: Handler, **args: str) -> Match:
        return Match(kind, "status", handler, owner, db, dict(args), targets, status_ctx)

    if n == 2:
        return _read_match(owner, db, None, query) if method == "GET" else 405
    keyword = raw[2]
    if keyword == "write" and n == 5:
        if method != "POST":
            return 405
        context = {
            "repository_owner": owner,
            "repository_name": db,
            "from_branch_name": seg[3],
            "to_branch_name": seg[4],
            "query": "",
        }
        return Match(
            "write",
            "write",
            handle_write,
            owner,
            db,
            {"from": seg[3], "to": seg[4]},
            targets,
            context,
        )
    if keyword == "write" and n == 3 and (method == "POST" or "operationName" in query):
        if method != "GET":
            return 405
        return status("write_poll", handle_write_poll)
    if keyword == "branches":
        if n == 3:
            if method == "GET":
                return status("branches_list", handle_branches_list)
            return status("branches_create", handle_branch_create) if method == "POST" else 405
        if method == "DELETE":
            return status("branches_delete", handle_branch_delete, branch="/".join(seg[3:]))
    if keyword == "pulls":
        if n == 3:
            if method == "GET":
                return status("pulls_list", handle_pull_list)
            return status("pulls_create", handle_pull_create) if method == "POST" else 405
        pull_id = seg[3]
        if n == 4:
            if method == "GET":
                return status("pulls_get", handle_pull_get, pull_id=pull_id)
            if method == "PATCH":
                return status("pulls_update", handle_pull_update, pull_id=pull_id)
            return 405
        if n == 5 and raw[4] == "comments":
            return (
                status("pulls_comment", handle_pull_comment, pull_id=pull_id)
                if method == "POST"
                else 405
            )
        if n == 5 and raw[4] == "merge":
            if method == "POST":
                return status("pulls_merge", handle_pull_merge, pull_id=pull_id)
            if method == "GET":
                return status("pulls_merge_poll", handle_pull_merge_poll, pull_id=pull_id)
            return 405
    if method == "GET":
        return _read_match(owner, db, "/".join(seg[2:]), query)
    return 404 if method in ("POST", "PATCH", "DELETE", "PUT") else 405


def _late_targets(sb: Sandbox, m: Match, call: Call) -> list[Target]:
    """Databases touched by routes that name them in the body or in an operation."""
    try:
        if m.kind == "fork":
            body = call.json_object()
            targets = [
                (str(body.get("ownerName")), str(body.get("parentDatabaseName"))),
                (str(body.get("parentOwnerName")), str(body.get("parentDatabaseName"))),
            ]
            return targets
        if m.kind == "create_database":
            body = call.json_object()
            return [(str(body.get("ownerName")), str(body.get("repoName")))]
        if m.kind == "fork_poll":
            op = sb.store.get_operation(call.query.get("operationName", ""))
            if op is not None:
                return [
                    (op.owner, op.database),
                    (str(op.params.get("parent_owner")), str(op.params.get("parent_name"))),
                ]
        if m.kind == "pulls_create":
            body = call.json_object()
            return [
                *m.targets,
                (str(body.get("fromBranchOwnerName")), str(body.get("fromBranchRepoName"))),
            ]
    except ApiError:
        return m.targets
    return m.targets


def _serve(sb: Sandbox, m: Match, call: Call) -> Response:
    """Run a handler, turning domain errors into DoltHub's envelopes."""
    try:
        return m.handler(sb, m, call)
    except ApiError as err:
        return _error_response(m, err.status, err.message)
    except SqlError as err:
        status = 400
        if m.family == "read" and sb.faults.get((m.owner, m.db)).sql_errors_as_200:
            status = 200
        return _error_response(m, status, err.message)


async def api(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    started = time.monotonic()
    raw_path = bytes(request.scope.get("raw_path") or quote(request.scope["path"]).encode())
    raw_text = raw_path.split(b"?", 1)[0].decode("latin-1")
    rest = raw_text[len(API_PREFIX) :].strip("/")
    call = Call(
        request.method,
        request.query_params,
        request.headers.get("authorization"),
        await request.body(),
    )
    matched = route(request.method, rest.split("/") if rest else [], call.query)
    if isinstance(matched, int):
        response: Response = _error_response(
            None, matched, "not found" if matched == 404 else "method not allowed"
        )
        kind = "unknown"
    else:
        kind = matched.kind
        matched.targets = await to_thread.run_sync(_late_targets, sb, matched, call)
        sb.stats.record(request.method, kind, matched.targets)
        decision = sb.faults.decide(matched.targets)
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        if decision.status == 429:
            response = PlainTextResponse(
                "429 Too Many Requests", status_code=429, headers={"Retry-After": "1"}
            )
        elif decision.status is not None:
            response = PlainTextResponse("503 Service Unavailable", status_code=503)
        else:
            response = await to_thread.run_sync(_serve, sb, matched, call)
    log.info(
        "%s %s [%s] -> %d",
        request.method,
        raw_text,
        kind,
        response.status_code,
        extra={
            "event": "request",
            "status": response.status_code,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        },
    )
    return response


# ====================================================================== admin


async def healthz(request: Request) -> Response:
    return _json({"status": "ok"})


async def admin_faults(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    if request.method == "GET":
        owner, db = request.query_params.get("owner", ""), request.query_params.get("db", "")
        settings = sb.faults.get((owner, db))
        return _json({"owner": owner, "db": db, "settings": settings.__dict__})
    call = Call("POST", request.query_params, None, await request.body())
    try:
        target, settings = parse_settings(call.json_object())
    except ApiError as err:
        return _json({"status": "Error", "message": err.message}, err.status)
    await to_thread.run_sync(sb.faults.set, target, settings)
    return _json({"owner": target[0], "db": target[1], "settings": settings.__dict__})


async def admin_stats(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    owner, db = request.query_params.get("owner"), request.query_params.get("db")
    target = (owner, db) if owner and db else None
    counts = sb.stats.snapshot(target)
    return _json(
        {"owner": owner or "", "db": db or "", "counts": counts, "total": sum(counts.values())}
    )


async def admin_stats_reset(request: Request) -> Response:
    request.app.state.sandbox.stats.reset()
    return _json({"status": "ok"})


def create_app(config: SandboxConfig) -> Starlette:
    """The sandbox as an ASGI app; state lives in ``config.data_dir`` (seeded when empty
    and ``config.seed == "demo"``). ``app.state.sandbox`` exposes the internals."""
    sandbox = Sandbox(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        sandbox.close()

    methods = ["GET", "POST", "PATCH", "DELETE", "PUT"]
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/_sandbox/faults", admin_faults, methods=["GET", "POST"]),
            Route("/_sandbox/stats", admin_stats, methods=["GET"]),
            Route("/_sandbox/stats/reset", admin_stats_reset, methods=["POST"]),
            Route(API_PREFIX + "/{rest:path}", api, methods=methods),
        ],
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    return app
