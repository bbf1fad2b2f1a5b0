"""The asynchronous DoltHub REST client every service uses.

One :class:`DoltHubClient` owns an httpx transport (a connection pool);
:meth:`DoltHubClient.with_token` gives views of it that act as another DoltHub identity.
Requests go straight to the transport: this client needs none of ``httpx.AsyncClient``'s
cookies, redirects, auth flows or parameter merging, and those cost about a fifth of
board-sync's CPU per idle poll (measured with ``make bench``, scenario idle).
Requests are retried with jittered exponential backoff only where a retry cannot repeat
an effect (see :meth:`DoltHubClient._send`); asynchronous operations (writes, merges,
forks) are started and then polled to completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, Self, TypeVar
from urllib.parse import quote as _url_quote

import httpx
from pydantic import SecretStr

from .. import metrics
from . import _transport, _wire
from ._secret import SecretToken
from .errors import (
    AlreadyExists,
    DoltHubError,
    Forbidden,
    NotFound,
    QueryError,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from .models import PollPolicy, PullRequest, PullSummary, QueryResult, RetryPolicy, WriteResult
from .sql import bind

DEFAULT_BASE_URL = "https://www.dolthub.com/api/v1alpha1"
WEB_BASE_URL = "https://www.dolthub.com/repositories"

logger = logging.getLogger("wasteland_common.dolthub")

T = TypeVar("T")

# Longer statements go in a JSON body ({"query": …}) instead of the URL.
_MAX_QUERY_IN_URL = 4000
_BODY_EXCERPT = 300
_MAX_PULL_PAGES = 1000
# Transport failures that prove the request never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_SINGLE_ATTEMPT = RetryPolicy(attempts=1)
# What httpx.AsyncClient would send by default (the transport adds Host and lengths).
_DEFAULT_HEADERS = {
    "accept": "*/*",
    "accept-encoding": "gzip, deflate",
    "user-agent": "hosted-wasteland",
}
_LIMIT_RE = re.compile(r"\blimit\b", re.IGNORECASE)
_STRING_LITERAL_RE = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"", re.DOTALL)


class _PollTimeout(Unavailable):
    """An asynchronous operation did not finish within ``PollPolicy.timeout``."""


def _path(*segments: str) -> str:
    # Every segment is escaped whole, so a branch "wl/alice/w-1" travels as wl%2Falice%2Fw-1.
    return "/".join(_url_quote(segment, safe="") for segment in segments)


@functools.lru_cache(maxsize=64)
def _hashof(branch: str) -> str:
    # Bound once per branch name: every idle poll of every commons asks for "main".
    return bind("SELECT HASHOF(?) AS h", branch)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP-date; fall back to our own backoff
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds


class DoltHubClient:
    """Async client for the DoltHub REST API (v1alpha1).

    ``base_url`` is the API root (services pass ``DOLTHUB_API_URL``). ``token`` is the
    DoltHub API token sent as ``authorization: token …``; it never appears in a repr, an
    exception message or a log line. ``sleep`` and ``clock`` are injectable so tests run
    the retry and polling schedules without waiting. ``limits`` sizes the connection pool
    it creates (httpx's defaults otherwise): httpcore checks every pooled connection on
    each request and response, so a pool kept larger than the requests in flight costs
    CPU on every request.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        token: str | SecretStr | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe default
        poll: PollPolicy = PollPolicy(),  # noqa: B008 - frozen dataclass, safe default
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timeout: float = 30.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        limits: httpx.Limits | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("the DoltHub base URL must be an http(s) URL")
        self._base_url = base_url.rstrip("/")
        self._token = _secret(token)
        self._owns_transport = transport is None
        if transport is None:
            transport = _transport.pool(limits or httpx.Limits(), self._base_url)
        self._transport = transport
        self._retry = retry
        self._poll = poll
        self._sleep = sleep
        self._timeouts = httpx.Timeout(timeout).as_dict()
        self._rng = rng if rng is not None else random.Random()
        self._clock = clock

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._base_url

    @property
    def has_token(self) -> bool:
        """Whether requests carry an ``authorization`` header."""
        return self._token is not None

    def with_token(self, token: str | SecretStr | None) -> DoltHubClient:
        """A client acting as another identity over the same connection pool.

        Closing the returned client does not close the shared pool; close the original.
        """
        other = DoltHubClient.__new__(DoltHubClient)
        other.__dict__.update(self.__dict__)
        other._token = _secret(token)
        other._owns_transport = False
        return other

    async def aclose(self) -> None:
        """Close the connection pool if this client created it."""
        if self._owns_transport:
            await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        token = "set" if self._token is not None else "none"
        return f"DoltHubClient(base_url={self._base_url!r}, token=<{token}>)"

    # ------------------------------------------------------------------ SQL reads

    async def read(
        self, owner: str, db: str, sql: str, *, ref: str = "main", own: bool = False
    ) -> QueryResult:
        """Run one read-only SQL statement at ``ref`` (branch, tag or commit hash).

        Raises QueryError when DoltHub reports an SQL error (HTTP 400, or 200 with status
        Error); a ``RowLimit`` answer is a success with ``truncated=True``. An empty ``ref``
        reads the default branch and is only allowed without a token (DoltHub rejects
        branchless authenticated reads). ``own``: the token can write ``owner/db``, so a
        404 is the answer (no anonymous retry, which only helps a token without
        permission on a public database).
        """
        if not ref:
            if self._token is not None:
                raise ValueError("authenticated DoltHub reads must name a ref")
            segments: tuple[str, ...] = (owner, db)
        else:
            segments = (owner, db, ref)
        what = f"read {owner}/{db}@{ref or '<default>'}"
        response = await self._send(
            "GET",
            _path(*segments),
            what,
            params={"q": sql},
            safe=True,
            anonymous_fallback=not own,
            call="read",
        )
        body = self._body_or_raise(response, what, sql=True)
        if _wire.envelope_status(body) == "error":
            raise self._error(response.status_code, response.text, what, sql=True)
        return _wire.parse_query(body)

    async def read_all(
        self, owner: str, db: str, sql: str, *, ref: str = "main", page_size: int = 500
    ) -> list[dict[str, str | None]]:
        """Every row of ``sql`` at ``ref``, fetched page by page with LIMIT/OFFSET.

        ``sql`` must not have its own LIMIT and should have a total ORDER BY so pages are
        stable. Pages shrink to DoltHub's row limit when it truncates one (``RowLimit``).
        """
        if page_size < 1:
            raise ValueError("page_size must be positive")
        statement = sql.strip().rstrip(";").rstrip()
        if _LIMIT_RE.search(_STRING_LITERAL_RE.sub("''", statement)):
            raise ValueError("read_all adds LIMIT/OFFSET itself; pass SQL without LIMIT")
        rows: list[dict[str, str | None]] = []
        offset = 0
        size = page_size
        while True:
            page = await self.read(owner, db, f"{statement} LIMIT {size} OFFSET {offset}", ref=ref)
            rows.extend(page.rows)
            offset += len(page.rows)
            if page.truncated:
                if not page.rows:
                    raise DoltHubError(f"read {owner}/{db}@{ref}: RowLimit with no rows")
                size = len(page.rows)
                continue
            if len(page.rows) < size:
                return rows

    async def head_commit(self, owner: str, db: str, branch: str = "main") -> str:
        """The commit hash at the head of ``branch``.

        Uses ``SELECT HASHOF(branch)`` on ``main``; falls back to the newest ``dolt_log``
        entry on the branch when HASHOF is not available.
        """
        try:
            result = await self.read(owner, db, _hashof(branch))
            value = _first_cell(result)
            if value:
                return value
        except QueryError:
            logger.debug("HASHOF failed on %s/%s; falling back to dolt_log", owner, db)
        result = await self.read(owner, db, "SELECT commit_hash FROM dolt_log LIMIT 1", ref=branch)
        value = _first_cell(result)
        if not value:
            raise NotFound(f"DoltHub head of {owner}/{db}@{branch}: no commit found")
        return value

    async def database_exists(self, owner: str, db: str) -> bool:
        """Whether ``owner/db`` exists and is visible to this identity (or anonymously)."""
        what = f"exists {owner}/{db}"
        response = await self._send(
            "GET",
            _path(owner, db, "main"),
            what,
            safe=True,
            anonymous_fallback=True,
            call="database_exists",
        )
        status = response.status_code
        if 200 <= status < 300:
            return True
        if status == 404 or (status < 500 and "no such repository" in response.text.lower()):
            return False
        self._raise_for(response, what)

    async def validate_token(self, owner: str, db: str) -> None:
        """Check the token with a cheap authenticated read (``SELECT 1`` on ``owner/db@main``).

        Raises Unauthorized when DoltHub rejects the token (or there is none), NotFound when
        the database is visible neither to the token nor anonymously.
        """
        if self._token is None:
            raise Unauthorized("no DoltHub token to validate")
        what = f"validate token on {owner}/{db}"
        response = await self._send(
            "GET",
            _path(owner, db, "main"),
            what,
            params={"q": "SELECT 1"},
            safe=True,
            call="validate_token",
        )
        status = response.status_code
        if 200 <= status < 300:
            body = self._body_or_raise(response, what, sql=True)
            if _wire.envelope_status(body) == "error":
                raise self._error(status, response.text, what, sql=True)
            return
        error = self._error(status, response.text, what, sql=True)
        # A valid token without explicit permission on a public database gets 404; if the
        # database reads anonymously, the token itself was accepted.
        if isinstance(error, NotFound) and await self.with_token(None).database_exists(owner, db):
            return
        raise error

    # ------------------------------------------------------------------ SQL writes

    async def write(
        self, owner: str, db: str, from_branch: str, to_branch: str, sql: str
    ) -> WriteResult:
        """Run one SQL statement on ``to_branch`` (created from ``from_branch`` if missing)
        and wait for DoltHub to commit it.

        ``committed`` is False when the statement changed nothing. Raises QueryError when
        the statement fails.
        """
        if not sql.strip():
            raise ValueError("write needs an SQL statement; use merge_branch to merge")
        return await self._write(owner, db, from_branch, to_branch, sql, merge=False)

    async def merge_branch(self, owner: str, db: str, branch: str, into: str) -> WriteResult:
        """Merge ``branch`` into ``into`` (DoltHub's empty-query write) and wait for it."""
        return await self._write(owner, db, branch, into, None, merge=True)

    async def _write(
        self, owner: str, db: str, from_branch: str, to_branch: str, sql: str | None, *, merge: bool
    ) -> WriteResult:
        verb = "merge" if merge else "write"
        what = f"{verb} {owner}/{db} {from_branch}->{to_branch}"
        params: dict[str, str] | None = None
        json_body: dict[str, str] | None = None
        if sql is not None:
            if len(sql) > _MAX_QUERY_IN_URL:
                json_body = {"query": sql}
            else:
                params = {"q": sql}
        response = await self._send(
            "POST",
            _path(owner, db, "write", from_branch, to_branch),
            what,
            params=params,
            json=json_body,
            safe=False,
            call="write",
        )
        body = self._body_or_raise(response, what, sql=True)
        if _wire.envelope_status(body) == "error":
            raise self._error(response.status_code, response.text, what, sql=True)
        operation = _wire.text_field(body, "operation_name", "operation_name:")
        if not operation:
            # No operation to poll: DoltHub finished (or had nothing to do) synchronously.
            return _write_result(body, "", merge=merge)

        async def poll_once() -> WriteResult | None:
            return await self._poll_write(owner, db, operation, what, merge=merge)

        return await self._await(what, poll_once)

    async def _poll_write(
        self, owner: str, db: str, operation: str, what: str, *, merge: bool
    ) -> WriteResult | None:
        response = await self._send(
            "GET",
            _path(owner, db, "write"),
            what,
            params={"operationName": operation},
            safe=True,
            policy=_SINGLE_ATTEMPT,
            quiet=True,
            call="write_status",
        )
        status = response.status_code
        if status >= 400:
            text = response.text
            body = _wire.json_object(text)
            is_error_envelope = body is not None and _wire.envelope_status(body) == "error"
            if status < 500 and "sqlwrite.tocommitid" in text.lower() and not is_error_envelope:
                # DoltHub's answer for a write that changed nothing: toCommitId is null.
                return WriteResult(operation, "", "", False, "no changes")
            self._raise_for(response, what, sql=True)
        body = self._body_or_raise(response, what, sql=True)
        details = _wire.write_details(body)
        state = _wire.envelope_status(details)
        message = _wire.envelope_message(details)
        if state == "error":
            raise QueryError(self._scrub(f"DoltHub {what}: {message or 'failed'}"), status=status)
        done = body.get("done") is True
        if state in ("success", "successwithwarning") or (done and state):
            return _write_result(details, operation, merge=merge)
        if done:
            raise DoltHubError(
                f"DoltHub {what}: operation {operation} finished with unknown status"
            )
        return None

    async def probe_write(self, owner: str, db: str) -> str:
        """Check that this identity may write ``owner/db`` (a commons or a fork of one) and
        return the DoltHub user it acts as ("" when DoltHub does not say).

        Writes a statement that changes nothing (``DELETE FROM _meta WHERE 1 = 0``) to a
        scratch branch and deletes the branch again: nothing is left behind. Raises
        Forbidden or Unauthorized when the token may not write, NotFound when the database
        does not exist.
        """
        if self._token is None:
            raise Unauthorized("no DoltHub token to check")
        branch = f"wl-access-check-{secrets.token_hex(6)}"
        result = await self.write(owner, db, "main", branch, "DELETE FROM `_meta` WHERE 1 = 0")
        with contextlib.suppress(NotFound):  # the no-op write may not create the branch
            await self.delete_branch(owner, db, branch)
        return _wire.operation_user(result.operation_name)

    async def contains_commit(self, owner: str, db: str, commit: str, *, ref: str = "main") -> bool:
        """Whether ``commit`` is in the history of ``owner/db@ref``."""
        result = await self.read(
            owner, db, bind("SELECT COUNT(*) AS n FROM dolt_log WHERE commit_hash = ?", commit),
            ref=ref,
        )  # fmt: skip
        value = _first_cell(result)
        return value is not None and value.strip() not in ("", "0")

    # ------------------------------------------------------------------ databases

    async def create_database(
        self, owner: str, db: str, *, visibility: str = "public", description: str = ""
    ) -> None:
        """Create an empty database ``owner/db``; raises AlreadyExists if it exists."""
        if visibility not in ("public", "private"):
            raise ValueError("visibility must be 'public' or 'private'")
        what = f"create database {owner}/{db}"
        payload = {
            "ownerName": owner,
            "repoName": db,
            "visibility": visibility,
            "description": description,
        }
        response = await self._send(
            "POST", "database", what, json=payload, safe=False, call="create_database"
        )
        text = response.text
        duplicate = "duplicate" in text.lower() or "already exists" in text.lower()
        if response.status_code >= 400 or _envelope_failed(text):
            if response.status_code == 409 or duplicate:
                raise AlreadyExists(
                    f"DoltHub {what}: the database already exists", status=response.status_code
                )
            self._raise_for(response, what)

    async def fork(self, parent_owner: str, parent_db: str, new_owner: str) -> None:
        """Fork ``parent_owner/parent_db`` into ``new_owner`` (same database name) and
        return once the fork exists. Succeeds if the fork already exists.

        Raises Forbidden (403) or Unauthorized (401) when DoltHub refuses and no fork
        exists; Unavailable when the operation does not finish in time.
        """
        what = f"fork {parent_owner}/{parent_db} into {new_owner}"
        payload = {
            "ownerName": new_owner,
            "parentOwnerName": parent_owner,
            "parentDatabaseName": parent_db,
        }
        response = await self._send("POST", "fork", what, json=payload, safe=False, call="fork")
        text = response.text
        if response.status_code >= 400 or _envelope_failed(text):
            lowered = text.lower()
            if "already exists" in lowered or "already been forked" in lowered:
                return
            error = self._error(response.status_code, text, what)
            if isinstance(error, Unauthorized | Forbidden):
                if await self.database_exists(new_owner, parent_db):
                    return
                error.message += f" (fork it at {WEB_BASE_URL}/{parent_owner}/{parent_db})"
            raise error
        body = self._body_or_raise(response, what)
        operation = _wire.text_field(body, "operation_name", "operationName")
        if operation:

            async def poll_once() -> bool | None:
                return await self._poll_fork(operation, what)

            try:
                await self._await(what, poll_once)
            except _PollTimeout:
                if await self.database_exists(new_owner, parent_db):
                    return
                raise

        async def visible() -> bool | None:
            return True if await self.database_exists(new_owner, parent_db) else None

        if not await self.database_exists(new_owner, parent_db):
            await self._await(f"{what} (waiting for the fork to appear)", visible)

    async def _poll_fork(self, operation: str, what: str) -> bool | None:
        response = await self._send(
            "GET",
            "fork",
            what,
            params={"operationName": operation},
            safe=True,
            policy=_SINGLE_ATTEMPT,
            quiet=True,
            call="fork_status",
        )
        if response.status_code >= 400 and "already exists" in response.text.lower():
            return True
        body = self._body_or_raise(response, what)
        state = _wire.envelope_status(body)
        if state in ("error", "failed", "failure"):
            raise self._error(response.status_code, response.text, what)
        owner_name = _wire.text_field(body, "owner_name", "ownerName")
        database_name = _wire.text_field(body, "database_name", "databaseName")
        if (owner_name and database_name) or state in ("success", "done", "completed"):
            return True
        return None

    # ------------------------------------------------------------------ branches

    async def create_branch(
        self,
        owner: str,
        db: str,
        new_branch: str,
        revision: str,
        *,
        revision_type: str = "branch",
    ) -> None:
        """Create ``new_branch`` at ``revision`` (a branch, ref or commit per
        ``revision_type``). Succeeds if the branch already exists."""
        if revision_type not in ("branch", "ref", "commit"):
            raise ValueError("revision_type must be 'branch', 'ref' or 'commit'")
        what = f"create branch {owner}/{db}:{new_branch}"
        payload = {
            "revisionType": revision_type,
            "revisionName": revision,
            "newBranchName": new_branch,
        }
        # Idempotent thanks to the "already exists" rule, so safe to retry.
        response = await self._send(
            "POST",
            _path(owner, db, "branches"),
            what,
            json=payload,
            safe=True,
            call="create_branch",
        )
        text = response.text
        if response.status_code >= 400 or _envelope_failed(text):
            if "already exists" in text.lower():
                return
            self._raise_for(response, what)

    async def list_branches(self, owner: str, db: str) -> list[str]:
        """Every branch name of ``owner/db``."""
        what = f"list branches {owner}/{db}"
        response = await self._send(
            "GET",
            _path(owner, db, "branches"),
            what,
            safe=True,
            anonymous_fallback=True,
            call="list_branches",
        )
        return _wire.parse_branches(self._body_or_raise(response, what))

    async def delete_branch(self, owner: str, db: str, branch: str) -> None:
        """Delete ``branch``; raises NotFound when it (or the database) does not exist."""
        what = f"delete branch {owner}/{db}:{branch}"
        response = await self._send(
            "DELETE", _path(owner, db, "branches", branch), what, safe=True, call="delete_branch"
        )
        if response.status_code in (404, 405) and _wire.json_object(response.text) is None:
            # No REST delete route on this server: use Dolt's procedure through a write.
            await self.write(owner, db, "main", "main", bind("CALL DOLT_BRANCH('-D', ?)", branch))
            return
        self._body_or_raise(response, what)

    # ------------------------------------------------------------------ pull requests

    async def create_pull(
        self,
        owner: str,
        db: str,
        *,
        title: str,
        description: str,
        from_owner: str,
        from_db: str,
        from_branch: str,
        to_branch: str = "main",
    ) -> str:
        """Open a pull request on ``owner/db`` (the destination) from
        ``from_owner/from_db:from_branch`` into ``to_branch``; returns its id.

        Raises AlreadyExists when DoltHub reports an open PR for the same branches.
        """
        what = f"create pull on {owner}/{db} from {from_owner}/{from_db}:{from_branch}"
        payload = {
            "title": title,
            "description": description,
            "fromBranchOwnerName": from_owner,
            "fromBranchRepoName": from_db,
            "fromBranchName": from_branch,
            "toBranchOwnerName": owner,
            "toBranchRepoName": db,
            "toBranchName": to_branch,
        }
        response = await self._send(
            "POST", _path(owner, db, "pulls"), what, json=payload, safe=False, call="create_pull"
        )
        body = self._body_or_raise(response, what)
        pull_id = _wire.pull_id_of(body)
        if pull_id:
            return pull_id
        # No id in the answer: find the open PR for this branch pair.
        for summary in await self.list_pulls(owner, db):
            if summary.state != "open":
                continue
            pull = await self.get_pull(owner, db, summary.pull_id)
            if (pull.from_owner, pull.from_database, pull.from_branch, pull.to_branch) == (
                from_owner,
                from_db,
                from_branch,
                to_branch,
            ):
                return pull.pull_id
        raise DoltHubError(f"DoltHub {what}: created, but DoltHub returned no pull id")

    async def get_pull(self, owner: str, db: str, pull_id: str) -> PullRequest:
        """One pull request of ``owner/db`` in detail."""
        what = f"get pull {owner}/{db}#{pull_id}"
        response = await self._send(
            "GET",
            _path(owner, db, "pulls", pull_id),
            what,
            safe=True,
            anonymous_fallback=True,
            call="get_pull",
        )
        body = self._body_or_raise(response, what)
        return _wire.parse_pull(body, owner=owner, db=db, pull_id=pull_id)

    async def list_pulls(self, owner: str, db: str) -> list[PullSummary]:
        """Every pull request of ``owner/db`` (all pages), in DoltHub's order."""
        what = f"list pulls {owner}/{db}"
        pulls: list[PullSummary] = []
        token = ""
        seen: set[str] = set()
        for _ in range(_MAX_PULL_PAGES):
            params = {"pageToken": token} if token else None
            response = await self._send(
                "GET",
                _path(owner, db, "pulls"),
                what,
                params=params,
                safe=True,
                anonymous_fallback=True,
                call="list_pulls",
            )
            page, token = _wire.parse_pull_page(self._body_or_raise(response, what))
            pulls.extend(page)
            if not token:
                return pulls
            if token in seen:
                raise DoltHubError(f"DoltHub {what}: page token repeats")
            seen.add(token)
        raise DoltHubError(f"DoltHub {what}: more than {_MAX_PULL_PAGES} pages")

    async def close_pull(self, owner: str, db: str, pull_id: str) -> None:
        """Close a pull request without merging it."""
        what = f"close pull {owner}/{db}#{pull_id}"
        response = await self._send(
            "PATCH",
            _path(owner, db, "pulls", pull_id),
            what,
            json={"state": "closed"},
            safe=True,
            call="close_pull",
        )
        self._body_or_raise(response, what)

    async def comment_pull(self, owner: str, db: str, pull_id: str, comment: str) -> None:
        """Add a comment to a pull request."""
        what = f"comment on pull {owner}/{db}#{pull_id}"
        response = await self._send(
            "POST",
            _path(owner, db, "pulls", pull_id, "comments"),
            what,
            json={"comment": comment},
            safe=False,
            call="comment_pull",
        )
        self._body_or_raise(response, what)

    async def merge_pull(self, owner: str, db: str, pull_id: str) -> None:
        """Merge a pull request and return once DoltHub shows it merged.

        Succeeds at once if it is already merged. Raises QueryError/DoltHubError when the
        merge job fails, Unavailable when it does not finish in time.
        """
        what = f"merge pull {owner}/{db}#{pull_id}"
        response = await self._send(
            "POST", _path(owner, db, "pulls", pull_id, "merge"), what, safe=False, call="merge_pull"
        )
        if response.status_code >= 400 or _envelope_failed(response.text):
            error = self._error(response.status_code, response.text, what)
            if not isinstance(error, RateLimited | Unavailable):
                try:
                    if (await self.get_pull(owner, db, pull_id)).state == "merged":
                        return
                except DoltHubError:
                    pass
            raise error
        body = self._body_or_raise(response, what)
        operation = _wire.text_field(body, "operation_name", "operationName")
        if operation:

            async def poll_once() -> bool | None:
                return await self._poll_merge(owner, db, pull_id, operation, what)

            await self._await(what, poll_once)

        async def merged() -> bool | None:
            state = (await self.get_pull(owner, db, pull_id)).state
            if state == "merged":
                return True
            if state not in ("open", "merging", ""):
                raise DoltHubError(f"DoltHub {what}: the pull request is {state}, not merged")
            return None

        if not await merged():
            await self._await(f"{what} (waiting for state merged)", merged)

    async def _poll_merge(
        self, owner: str, db: str, pull_id: str, operation: str, what: str
    ) -> bool | None:
        response = await self._send(
            "GET",
            _path(owner, db, "pulls", pull_id, "merge"),
            what,
            params={"operationName": operation},
            safe=True,
            policy=_SINGLE_ATTEMPT,
            quiet=True,
            call="merge_status",
        )
        body = self._body_or_raise(response, what)
        job_status = _wire.text_field(body, "job_status").strip().lower()
        if job_status in ("failed", "error"):
            raise DoltHubError(
                self._scrub(f"DoltHub {what}: job {job_status}: {_wire.envelope_message(body)}")
            )
        details = _wire.write_details(body)
        state = _wire.envelope_status(details)
        if state in ("error", "failed", "failure"):
            message = _wire.envelope_message(details) or state
            raise QueryError(self._scrub(f"DoltHub {what}: {message}"))
        if job_status == "completed" or body.get("done") is True:
            return True
        if _wire.text_field(body, "state").lower() == "merged":
            return True
        return None

    # ------------------------------------------------------------------ transport

    async def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        call: str = "other",
        params: dict[str, str] | None = None,
        json: Any = None,
        safe: bool,
        anonymous_fallback: bool = False,
        policy: RetryPolicy | None = None,
        quiet: bool = False,
    ) -> httpx.Response:
        """Send one logical request (see :meth:`_send_with_retries`) and count it in the
        DoltHub metrics under ``call`` (a fixed name per client method; give every new
        method its own) with its outcome and duration, retries included. Every DoltHub
        request goes through here."""
        started = self._clock()
        status: int | None = None
        try:
            response = await self._send_with_retries(
                method,
                path,
                what,
                call=call,
                params=params,
                json=json,
                safe=safe,
                anonymous_fallback=anonymous_fallback,
                policy=policy,
                quiet=quiet,
            )
        except DoltHubError as exc:
            status = exc.status
            raise
        else:
            status = response.status_code
            return response
        finally:
            metrics.record_dolthub_call(call, status, self._clock() - started)

    async def _send_with_retries(
        self,
        method: str,
        path: str,
        what: str,
        *,
        call: str,
        params: dict[str, str] | None,
        json: Any,
        safe: bool,
        anonymous_fallback: bool,
        policy: RetryPolicy | None,
        quiet: bool,
    ) -> httpx.Response:
        """Send one logical request, retrying where that cannot repeat an effect.

        ``safe`` requests (reads, idempotent updates) are retried on 429, 5xx and every
        transport error. Unsafe ones (writes, forks, merges, creations) only when the
        server cannot have acted: connection failures, 429 and 503. Retries stop after
        ``policy.attempts`` requests or when the next wait would pass the time budget.
        A ``Retry-After`` header sets the wait; one beyond the budget ends the retries.

        Returns the final response unless retries ran out on a retryable failure, which
        raises RateLimited (429) or Unavailable. ``quiet`` skips the warning (pollers log
        their own).
        """
        policy = policy or self._retry
        url = f"{self._base_url}/{path}"
        use_token = self._token is not None
        anonymous_tried = False
        start = self._clock()
        slept = 0.0
        attempt = 0
        while True:
            attempt += 1
            headers = {"cache-control": "no-cache"}
            if use_token and self._token is not None:
                headers["authorization"] = f"token {self._token.reveal()}"
            try:
                response = await self._exchange(method, url, params, json, headers)
            except httpx.TransportError as exc:
                reason = self._scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
                retryable = safe or isinstance(exc, _NOT_SENT)
                delay = self._delay(policy, attempt, None, start, slept) if retryable else None
                if delay is not None:
                    self._log_retry(method, path, reason, attempt, policy, delay)
                    metrics.DOLTHUB_RETRIES.labels(call).inc()
                    await self._sleep(delay)
                    slept += delay
                    continue
                message = f"DoltHub {what}: {reason}"
                if not retryable:
                    message += " (not retried: the request may have reached DoltHub)"
                if not quiet:
                    logger.warning(
                        "dolthub %s %s failed after %d attempt(s): %s",
                        method,
                        path,
                        attempt,
                        reason,
                    )
                raise Unavailable(message) from exc

            status = response.status_code
            if status == 429 or status >= 500:
                retryable = safe or status in (429, 503)
                if not retryable:
                    return response
                retry_after = _retry_after(response) if status in (429, 503) else None
                delay = self._delay(policy, attempt, retry_after, start, slept)
                if delay is not None:
                    self._log_retry(method, path, f"HTTP {status}", attempt, policy, delay)
                    metrics.DOLTHUB_RETRIES.labels(call).inc()
                    await self._sleep(delay)
                    slept += delay
                    continue
                if not quiet:
                    logger.warning(
                        "dolthub %s %s failed after %d attempt(s): HTTP %d",
                        method,
                        path,
                        attempt,
                        status,
                    )
                excerpt = self._excerpt(response.text)
                if status == 429:
                    raise RateLimited(
                        f"DoltHub {what}: rate limited (HTTP 429){excerpt}",
                        retry_after=retry_after,
                    )
                raise Unavailable(f"DoltHub {what}: HTTP {status}{excerpt}", status=status)

            if (
                anonymous_fallback
                and use_token
                and not anonymous_tried
                and method == "GET"
                and (
                    status == 404
                    or (400 <= status < 500 and "no such repository" in response.text.lower())
                )
            ):
                # A token without explicit permission on a public database gets 404;
                # the same read without the header may succeed.
                logger.debug(
                    "dolthub %s %s: HTTP %d with token; retrying anonymously", method, path, status
                )
                anonymous_tried = True
                use_token = False
                attempt -= 1
                continue
            return response

    async def _exchange(
        self,
        method: str,
        url: str,
        params: dict[str, str] | None,
        json: Any,
        headers: dict[str, str],
    ) -> httpx.Response:
        """One HTTP exchange through the transport, the body read whole."""
        request = httpx.Request(
            method,
            url,
            params=params,
            json=json,
            headers={**_DEFAULT_HEADERS, **headers},
            extensions={"timeout": self._timeouts},
        )
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    def _delay(
        self,
        policy: RetryPolicy,
        attempt: int,
        retry_after: float | None,
        start: float,
        slept: float,
    ) -> float | None:
        """The wait before the next attempt, or None when the policy allows no more."""
        if attempt >= policy.attempts:
            return None
        if retry_after is not None:
            delay = retry_after
        else:
            ceiling = min(policy.max_delay, policy.base_delay * (2 ** (attempt - 1)))
            delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        # With a fake sleep the clock may stand still; count the waits we made as well.
        elapsed = max(self._clock() - start, slept)
        if elapsed + delay > policy.budget_seconds:
            return None
        return delay

    def _log_retry(
        self, method: str, path: str, reason: str, attempt: int, policy: RetryPolicy, delay: float
    ) -> None:
        logger.info(
            "dolthub %s %s: %s; retry %d/%d in %.2fs",
            method,
            path,
            reason,
            attempt,
            policy.attempts - 1,
            delay,
        )

    async def _await(self, what: str, poll_once: Callable[[], Awaitable[T | None]]) -> T:
        """Poll until ``poll_once`` returns a value, on the PollPolicy schedule.

        Transient failures (transport, 5xx, 429) are tolerated up to
        ``max_consecutive_errors`` in a row; any other error ends the wait at once.
        """
        policy = self._poll
        start = self._clock()
        slept = 0.0
        delay = policy.initial
        failures = 0
        last: DoltHubError | None = None
        while True:
            remaining = policy.timeout - max(self._clock() - start, slept)
            if remaining <= 0:
                suffix = f" (last error: {last})" if last is not None else ""
                logger.warning("dolthub %s: timed out after %.0fs", what, policy.timeout)
                raise _PollTimeout(f"DoltHub {what}: timed out after {policy.timeout:g}s{suffix}")
            wait = min(delay, remaining)
            await self._sleep(wait)
            slept += wait
            delay = min(delay * 2, policy.maximum)
            try:
                result = await poll_once()
            except (Unavailable, RateLimited) as exc:
                failures += 1
                last = exc
                if failures >= policy.max_consecutive_errors:
                    logger.warning(
                        "dolthub %s: %d consecutive poll failures: %s", what, failures, exc
                    )
                    if isinstance(exc, RateLimited):
                        raise RateLimited(
                            f"DoltHub {what}: polling failed {failures} times in a row: {exc}",
                            retry_after=exc.retry_after,
                        ) from exc
                    raise Unavailable(
                        f"DoltHub {what}: polling failed {failures} times in a row: {exc}"
                    ) from exc
                if isinstance(exc, RateLimited) and exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                logger.info("dolthub %s: poll failed (%d in a row): %s", what, failures, exc)
                continue
            failures = 0
            if result is not None:
                return result

    # ------------------------------------------------------------------ answers and errors

    def _scrub(self, text: str) -> str:
        return self._token.scrub(text) if self._token is not None else text

    def _excerpt(self, text: str) -> str:
        body = _wire.json_object(text)
        detail = _wire.envelope_message(body) if body is not None else text
        detail = " ".join(detail.split())[:_BODY_EXCERPT]
        return f": {self._scrub(detail)}" if detail else ""

    def _body_or_raise(
        self, response: httpx.Response, what: str, *, sql: bool = False
    ) -> _wire.JsonObject:
        """The JSON object of a successful answer; raises the mapped error for an HTTP
        error, a non-SQL ``status: Error`` envelope, or a body that is not an object."""
        if response.status_code >= 300:
            self._raise_for(response, what, sql=sql)
        body = _wire.json_object(response.text)
        if body is None:
            raise DoltHubError(
                f"DoltHub {what}: the answer is not a JSON object", status=response.status_code
            )
        if not sql and _wire.envelope_status(body) == "error":
            raise self._error(response.status_code, response.text, what)
        return body

    def _raise_for(self, response: httpx.Response, what: str, *, sql: bool = False) -> NoReturn:
        raise self._error(response.status_code, response.text, what, sql=sql)

    def _error(self, status: int, text: str, what: str, *, sql: bool = False) -> DoltHubError:
        """The client error for a failed answer (an HTTP error or an ``Error`` envelope)."""
        lowered = text.lower()
        excerpt = self._excerpt(text)
        message = f"DoltHub {what}: HTTP {status}{excerpt}"
        body = _wire.json_object(text)
        error_envelope = body is not None and _wire.envelope_status(body) == "error"
        error: DoltHubError
        if status == 401 or "invalid authorization" in lowered:
            error = Unauthorized(message, status=status)
        elif status == 403 or "not allowed to operate" in lowered:
            error = Forbidden(message, status=status)
        elif status == 404 or "no such repository" in lowered:
            error = NotFound(message, status=status)
        elif status == 429:
            error = RateLimited(message, retry_after=None, status=status)
        elif status >= 500:
            error = Unavailable(message, status=status)
        elif sql and error_envelope:
            error = QueryError(message, status=status)
        elif status == 409 or "already exists" in lowered:
            error = AlreadyExists(message, status=status)
        else:
            error = DoltHubError(message, status=status)
        if isinstance(error, Unavailable | RateLimited):
            logger.warning("dolthub %s failed: HTTP %d", what, status)
        else:
            logger.debug("dolthub %s failed: HTTP %d", what, status)
        return error


def _secret(token: str | SecretStr | None) -> SecretToken | None:
    if isinstance(token, SecretStr):
        token = token.get_secret_value()
    return SecretToken(token) if token else None


def _envelope_failed(text: str) -> bool:
    body = _wire.json_object(text)
    return body is not None and _wire.envelope_status(body) == "error"


def _first_cell(result: QueryResult) -> str | None:
    if not result.rows or not result.columns:
        return None
    return result.rows[0].get(result.columns[0])


def _write_result(details: _wire.JsonObject, operation: str, *, merge: bool) -> WriteResult:
    from_commit = _wire.text_field(details, "from_commit_id", "fromCommitId")
    to_commit = _wire.text_field(details, "to_commit_id", "toCommitId")
    if merge and not to_commit:
        # After a merge DoltHub leaves to_commit_id empty; from_commit_id is the merge.
        committed = bool(from_commit)
    else:
        committed = bool(to_commit) and to_commit != from_commit
    return WriteResult(
        operation_name=operation,
        from_commit_id=from_commit,
        to_commit_id=to_commit,
        committed=committed,
        message=_wire.envelope_message(details),
    )
