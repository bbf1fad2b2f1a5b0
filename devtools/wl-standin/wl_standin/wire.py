"""The DoltHub REST calls of the real ``wl``, request for request.

Two classes mirror the two HTTP clients inside the real CLI:

* :class:`RemoteDB` — SQL reads (``""`` ref → upstream ``main``, any other ref → the
  fork), one-statement writes to the fork with the branch-has-data probe, write-operation
  polling (0.5 s doubling to 8 s, 2 min, 5 consecutive errors, ``toCommitId`` 400 = no-op
  success), branch listing, deletion and diffs.
* :class:`DoltHubProvider` — fork (REST or GraphQL) with polling and the existence
  fallback, and pull requests against upstream (create, list, find, update, close, the
  pending-PR scan).

They talk HTTP directly (no retries, the real CLI's timeouts, its exact URL escaping and
JSON bodies) rather than through ``wasteland_common.dolthub.DoltHubClient``, whose retry
policy, request shapes and error texts differ from what the real binary puts on the wire.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from wasteland_common.dolthub import diffs

from . import dml
from .csvdata import data_lines, json_to_csv, read_csv_records, second_line
from .env import REMOTE_API_BASE, REPO_WEB_BASE, Clock
from .errors import WlError
from .gofmt import (
    GoDecodeError,
    decode_struct,
    json_dumps,
    parse_json,
    path_escape,
    query_escape,
    quote_go,
    string_map_rows,
    truncate_runes,
)

USER_AGENT = "wl-standin/0.1 (Go-http-client/1.1 compatible)"
_POLL_INITIAL = 0.5
_POLL_MAX = 8.0
_POLL_DEADLINE = 120.0


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class TransportError(Exception):
    """The request never got an HTTP answer (Go's ``*url.Error``)."""


def _cause(exc: httpx.HTTPError, url: httpx.URL) -> str:
    host = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
    if isinstance(exc, httpx.TimeoutException):
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    if isinstance(exc, httpx.ConnectError):
        inner = exc.__cause__ or exc.__context__
        while inner is not None and not isinstance(inner, OSError):
            inner = inner.__cause__ or inner.__context__
        if isinstance(inner, OSError) and inner.errno == errno.ECONNREFUSED:
            return f"dial tcp {host}: connect: connection refused"
        return f"dial tcp {host}: {exc}"
    return str(exc) or type(exc).__name__


class Transport:
    """One HTTP exchange at a time, following redirects like Go's default client."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        # Like Go's default transport: proxies and CA files from the environment, but
        # loopback addresses are never proxied.
        if client is None:
            direct: dict[str, httpx.BaseTransport | None] = {
                f"all://{host}": httpx.HTTPTransport()
                for host in ("127.0.0.1", "localhost", "[::1]")
            }
            client = httpx.Client(follow_redirects=True, trust_env=True, mounts=direct)
        self._client = client

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """Send one request; :class:`TransportError` with Go's wording when it fails."""
        all_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"}
        all_headers.update(headers or {})
        target = httpx.URL(url)
        try:
            resp = self._client.request(
                method,
                target,
                headers=all_headers,
                content=body if body is not None else b"",
                timeout=timeout,
            )
        except httpx.HTTPError as exc:
            raise TransportError(f'{method.capitalize()} "{url}": {_cause(exc, target)}') from exc
        return Response(resp.status_code, resp.content)


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"token {token}"}


# --- RemoteDB -----------------------------------------------------------------------------


@dataclass
class RemoteDB:
    """SQL over the DoltHub API: reads of upstream ``main`` and of fork refs; writes to the
    fork only (``backend.RemoteDB``)."""

    transport: Transport
    base: str
    token: str
    read_owner: str
    read_db: str
    write_owner: str
    write_db: str
    mode: str
    clock: Clock = field(default_factory=Clock)

    # HTTP helpers -----------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return _auth(self.token) if self.token else {}

    def _send(self, method: str, url: str) -> bytes:
        try:
            resp = self.transport.request(method, url, timeout=60.0, headers=self._headers())
        except TransportError as exc:
            raise WlError(str(exc)) from exc
        if not 200 <= resp.status < 300:
            raise WlError(f"HTTP {resp.status}: {truncate_runes(resp.text, 200)}")
        return resp.body

    # reads -------------------------------------------------------------------------------

    def query(self, sql: str, ref: str) -> str:
        """CSV text of ``sql``; ``ref == ""`` reads upstream main, else the fork at ``ref``."""
        owner, db, branch = self.read_owner, self.read_db, "main"
        if ref != "":
            owner, db, branch = self.write_owner, self.write_db, ref
        url = f"{self.base}/{owner}/{db}/{path_escape(branch)}?q={query_escape(sql)}"
        try:
            body = self._send("GET", url)
        except WlError as exc:
            raise exc.wrap("query failed") from exc
        return json_to_csv(body)

    def _query_fork_branch(self, sql: str, branch: str) -> str:
        url = (
            f"{self.base}/{self.write_owner}/{self.write_db}/{path_escape(branch)}"
            f"?q={query_escape(sql)}"
        )
        try:
            body = self._send("GET", url)
        except WlError as exc:
            raise exc.wrap("queryForkBranch failed") from exc
        return json_to_csv(body)

    def branches(self, prefix: str) -> list[str]:
        """Fork branches whose name starts with ``prefix`` (read on the fork's main)."""
        sql = dml.select_branches_like(prefix)
        url = f"{self.base}/{self.write_owner}/{self.write_db}/main?q={query_escape(sql)}"
        try:
            body = self._send("GET", url)
        except WlError as exc:
            raise exc.wrap("branches query failed") from exc
        return data_lines(json_to_csv(body))

    # writes ------------------------------------------------------------------------------

    def exec(self, branch: str, stmts: list[str]) -> None:
        """Run ``stmts`` one write call each on the fork's ``branch``.

        The first write starts from the fork's ``main`` unless the branch already holds
        the item's row; every later statement writes ``branch`` → ``branch``.
        """
        if branch == "":
            branch = "main"
        from_branch = "main"
        if branch != "main" and self._branch_has_data(branch):
            from_branch = branch
        for stmt in stmts:
            self._exec_one(from_branch, branch, stmt)
            from_branch = branch

    def _exec_one(self, from_branch: str, to_branch: str, stmt: str) -> None:
        url = (
            f"{self.base}/{self.write_owner}/{self.write_db}/write/"
            f"{path_escape(from_branch)}/{path_escape(to_branch)}?q={query_escape(stmt)}"
        )
        try:
            body = self._send("POST", url)
        except WlError as exc:
            raise exc.wrap("exec failed") from exc
        self._finish_write(body, "write operation failed", "parsing write response")

    def _exec_on_main(self, sql: str) -> None:
        url = (
            f"{self.base}/{self.write_owner}/{self.write_db}/write/main/main?q={query_escape(sql)}"
        )
        try:
            body = self._send("POST", url)
        except WlError as exc:
            raise exc.wrap("execOnMain failed") from exc
        self._finish_write(body, "exec error", "parsing write response")

    def _finish_write(self, body: bytes, error_prefix: str, parse_prefix: str) -> None:
        try:
            resp = decode_struct(
                body,
                {
                    "operation_name": "string",
                    "query_execution_status": "string",
                    "query_execution_message": "string",
                },
            )
        except GoDecodeError as exc:
            raise WlError(f"{parse_prefix}: {exc}") from exc
        if resp["query_execution_status"] == "Error":
            raise WlError(f"{error_prefix}: {resp['query_execution_message']}")
        if resp["operation_name"]:
            self._poll(resp["operation_name"])

    def _poll(self, operation: str) -> None:
        backoff = _POLL_INITIAL
        deadline = self.clock.monotonic() + _POLL_DEADLINE
        last_error: WlError | None = None
        consecutive = 0
        while True:
            self.clock.sleep(backoff)
            if self.clock.monotonic() > deadline:
                break
            url = (
                f"{self.base}/{self.write_owner}/{self.write_db}/write"
                f"?operationName={query_escape(operation)}"
            )
            try:
                body = self._send("GET", url)
            except WlError as exc:
                # DoltHub answers a write that changed nothing with HTTP 400 about a null
                # toCommitId; the real CLI counts that as success.
                if "sqlwrite.tocommitid" in str(exc).lower():
                    return
                last_error = exc
                consecutive += 1
                if consecutive >= 5:
                    raise WlError(f"polling write operation {quote_go(operation)}: {exc}") from exc
                if backoff < _POLL_MAX:
                    backoff *= 2
                continue
            consecutive = 0
            outcome = self._poll_outcome(body, operation)
            if outcome is not None:
                if outcome:
                    raise WlError(outcome)
                return
            if backoff < _POLL_MAX:
                backoff *= 2
        if last_error is not None:
            raise WlError(
                f"timed out waiting for write operation {quote_go(operation)} "
                f"(last error: {last_error})"
            )
        raise WlError(f"timed out waiting for write operation {quote_go(operation)}")

    @staticmethod
    def _poll_outcome(body: bytes, operation: str) -> str | None:
        """None = keep polling, "" = success, anything else = the failure message."""
        try:
            resp = decode_struct(
                body,
                {
                    "done": "bool",
                    "res_details": "object",
                    "query_execution_status": "string",
                    "query_execution_message": "string",
                },
            )
            details = decode_struct(
                resp["res_details"],
                {"query_execution_status": "string", "query_execution_message": "string"},
            )
        except GoDecodeError:
            return None
        status, message = details["query_execution_status"], details["query_execution_message"]
        if status == "":
            status, message = resp["query_execution_status"], resp["query_execution_message"]
        status = status.lower()
        if status == "error":
            return f"write operation failed: {message}"
        if status in ("success", "successwithwarning"):
            return ""
        if resp["done"]:
            if status == "":
                return f"write operation {quote_go(operation)} finished with unknown status"
            return ""
        return None

    def _branch_has_data(self, branch: str) -> bool:
        parts = branch.split("/", 2)
        if len(parts) != 3 or parts[0] != "wl" or parts[2] == "":
            return self._branch_exists(branch)
        try:
            csv_text = self._query_fork_branch(dml.select_count_wanted(parts[2]), branch)
        except WlError:
            return False
        first = second_line(csv_text)
        return first is not None and first != "0"

    def _branch_exists(self, branch: str) -> bool:
        try:
            csv_text = self._query_fork_branch(dml.select_count_branch(branch), "main")
        except WlError:
            return False
        first = second_line(csv_text)
        return first is not None and first != "0"

    def delete_branch(self, branch: str) -> None:
        """``CALL DOLT_BRANCH('-D', …)`` through a ``main``→``main`` write on the fork."""
        if branch in ("", "main"):
            return
        self._exec_on_main(dml.call_delete_branch(branch))

    def can_wild_west(self) -> None:
        raise WlError(
            "wild-west mode requires direct upstream access; switch to PR mode in settings"
        )

    # diff --------------------------------------------------------------------------------

    def diff(self, branch: str) -> str:
        """The branch's changes against the fork's main, as the PR description text."""
        try:
            table_csv = self._query_fork_branch(dml.select_diff_stat(branch), branch)
        except WlError as exc:
            raise exc.wrap("diff: listing changed tables") from exc
        records = read_csv_records(table_csv)
        tables = []
        if records and len(records) >= 2:
            tables = [r[0].strip() for r in records[1:] if r and r[0].strip()]
        if not tables:
            return "(no changes)\n"
        out: list[str] = []
        for table in tables:
            out.append(f"## {table}\n\n")
            try:
                row_csv = self._query_fork_branch(dml.select_diff_rows(branch, table), branch)
            except WlError as exc:
                out.append(f"(error reading diff: {exc})\n\n")
                continue
            rows = read_csv_records(row_csv)
            if rows is None or len(rows) < 2:
                out.append("(no row changes)\n\n")
                continue
            out.append("```\n")
            for fields in rows[1:]:
                out.append(diffs.format_row(rows[0], fields))
            out.append("```\n\n")
        return "".join(out)


# --- DoltHubProvider ----------------------------------------------------------------------

_GRAPHQL_FORK = (
    "mutation CreateFork($ownerName: String!, $parentOwnerName: String!, "
    "$parentRepoName: String!) {\n"
    "  createFork(ownerName: $ownerName, parentOwnerName: $parentOwnerName, "
    "parentRepoName: $parentRepoName) {\n"
    "    forkOperationName\n"
    "  }\n"
    "}"
)

_VALID_PENDING = {"open", "claimed", "in_review", "completed"}


class ForkRequired(Exception):
    """The fork does not exist and could not be created (``ForkRequiredError``)."""

    def __init__(self, upstream_org: str, upstream_db: str, fork_org: str) -> None:
        super().__init__(f"fork {upstream_org}/{upstream_db} not found under {fork_org} on DoltHub")
        self.upstream_org = upstream_org
        self.upstream_db = upstream_db
        self.fork_org = fork_org

    @property
    def fork_url(self) -> str:
        return f"{REPO_WEB_BASE}/{self.upstream_org}/{self.upstream_db}"


@dataclass
class PendingState:
    """One wanted row changed by an open upstream PR's fork branch."""

    rig_handle: str
    status: str
    claimed_by: str
    branch: str
    branch_url: str
    pr_url: str
    fork_owner: str
    author: str
    completed_by: str = ""
    evidence: str = ""


def _go_json_body(payload: Mapping[str, Any]) -> bytes:
    return json_dumps(payload).encode("utf-8", "surrogateescape")


@dataclass
class DoltHubProvider:
    """Fork and pull-request calls (``remote.DoltHubProvider``)."""

    transport: Transport
    base: str
    token: str
    graphql_url: str
    session_token: str = ""
    clock: Clock = field(default_factory=Clock)

    @staticmethod
    def database_url(org: str, db: str) -> str:
        return f"{REMOTE_API_BASE}/{org}/{db}"

    def _json_headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", **_auth(self.token)}

    # fork --------------------------------------------------------------------------------

    def fork(self, from_org: str, from_db: str, to_org: str) -> None:
        """Create ``to_org/from_db`` as a fork; :class:`ForkRequired` when impossible."""
        if self.session_token:
            self._fork_graphql(from_org, from_db, to_org)
            return
        body = _go_json_body(
            {"ownerName": to_org, "parentDatabaseName": from_db, "parentOwnerName": from_org}
        )
        try:
            resp = self.transport.request(
                "POST", f"{self.base}/fork", timeout=60.0, headers=self._json_headers(), body=body
            )
        except TransportError:
            self._fork_fallback(from_org, from_db, to_org)
            return
        if resp.status in (401, 403):
            self._fork_fallback(from_org, from_db, to_org)
            return
        if not 200 <= resp.status < 300:
            if "already exists" in resp.text.lower():
                return
            self._fork_fallback(from_org, from_db, to_org)
            return
        try:
            parsed = decode_struct(resp.body, {"status": "string", "operation_name": "string"})
        except GoDecodeError as exc:
            raise WlError(f"parsing REST fork response: {exc}") from exc
        if parsed["operation_name"] == "":
            return
        self._poll_fork(parsed["operation_name"], to_org, from_db)

    def _poll_fork(self, operation: str, fork_org: str, fork_db: str) -> None:
        backoff = _POLL_INITIAL
        deadline = self.clock.monotonic() + _POLL_DEADLINE
        while self.clock.monotonic() < deadline:
            self.clock.sleep(backoff)
            try:
                resp = self.transport.request(
                    "GET",
                    f"{self.base}/fork?operationName={operation}",
                    timeout=30.0,
                    headers=_auth(self.token),
                )
            except TransportError:
                if backoff < _POLL_MAX:
                    backoff *= 2
                continue
            try:
                parsed = decode_struct(
                    resp.body,
                    {"status": "string", "owner_name": "string", "database_name": "string"},
                )
            except GoDecodeError:
                parsed = None
            if parsed is not None:
                if parsed["owner_name"] and parsed["database_name"]:
                    return
                if parsed["status"].lower() in ("success", "done", "completed"):
                    return
            if backoff < _POLL_MAX:
                backoff *= 2
        if self.database_exists(fork_org, fork_db):
            return
        raise WlError(f"timed out waiting for fork operation {quote_go(operation)} to complete")

    def _fork_fallback(self, from_org: str, from_db: str, to_org: str) -> None:
        if self.database_exists(to_org, from_db):
            return
        raise ForkRequired(from_org, from_db, to_org)

    def _fork_graphql(self, from_org: str, from_db: str, to_org: str) -> None:
        body = _go_json_body(
            {
                "query": _GRAPHQL_FORK,
                "variables": {
                    "ownerName": to_org,
                    "parentOwnerName": from_org,
                    "parentRepoName": from_db,
                },
            }
        )
        try:
            resp = self.transport.request(
                "POST",
                self.graphql_url,
                timeout=60.0,
                headers={
                    "Content-Type": "application/json",
                    "Cookie": f"dolthubToken={self.session_token}",
                },
                body=body,
            )
        except TransportError as exc:
            raise WlError(f"DoltHub GraphQL fork request failed: {exc}") from exc
        if not 200 <= resp.status < 300:
            raise WlError(f"DoltHub GraphQL error (HTTP {resp.status}): {resp.text}")
        try:
            doc = parse_json(resp.body)
            errors = doc.get("errors") if isinstance(doc, dict) else None
            if errors is not None and not isinstance(errors, list):
                raise GoDecodeError("json: cannot unmarshal errors")
        except GoDecodeError as exc:
            raise WlError(f"parsing DoltHub GraphQL response: {exc}") from exc
        if errors:
            first = errors[0] if isinstance(errors[0], dict) else {}
            message = first.get("message") if isinstance(first.get("message"), str) else ""
            lower = str(message).lower()
            if "already exists" in lower or "already been forked" in lower:
                return
            raise WlError(f"DoltHub GraphQL fork error: {message}")

    def database_exists(self, org: str, db: str) -> bool:
        """GET ``{base}/{org}/{db}/main`` (no query) answers HTTP 200."""
        try:
            resp = self.transport.request(
                "GET", f"{self.base}/{org}/{db}/main", timeout=10.0, headers=_auth(self.token)
            )
        except TransportError:
            return False
        return resp.status == 200

    # pull requests -----------------------------------------------------------------------

    def create_pr(
        self, fork_org: str, upstream_org: str, db: str, branch: str, title: str, body: str
    ) -> str:
        """Open a PR ``fork:branch`` → ``upstream:main``; the PR (or pulls page) URL."""
        payload = _go_json_body(
            {
                "description": body,
                "fromBranchName": branch,
                "fromBranchOwnerName": fork_org,
                "fromBranchRepoName": db,
                "title": title,
                "toBranchName": "main",
                "toBranchOwnerName": upstream_org,
                "toBranchRepoName": db,
            }
        )
        try:
            resp = self.transport.request(
                "POST",
                f"{self.base}/{upstream_org}/{db}/pulls",
                timeout=30.0,
                headers=self._json_headers(),
                body=payload,
            )
        except TransportError as exc:
            raise WlError(f"DoltHub create PR request failed: {exc}") from exc
        if not 200 <= resp.status < 300:
            raise WlError(f"DoltHub create PR error (HTTP {resp.status}): {resp.text}")
        try:
            parsed = decode_struct(resp.body, {"status": "string", "_id": "string"})
        except GoDecodeError:
            parsed = {"_id": ""}
        if parsed["_id"]:
            return f"{REPO_WEB_BASE}/{upstream_org}/{db}/pulls/{parsed['_id']}"
        return f"{REPO_WEB_BASE}/{upstream_org}/{db}/pulls"

    def _get(self, url: str) -> bytes:
        headers = _auth(self.token) if self.token else {}
        try:
            resp = self.transport.request("GET", url, timeout=30.0, headers=headers)
        except TransportError as exc:
            raise WlError(str(exc)) from exc
        if resp.status != 200:
            raise WlError(f"HTTP {resp.status}: {resp.text}")
        return resp.body

    def list_pulls(self, upstream_org: str, db: str) -> list[tuple[str, str]]:
        """Every PR as ``(pull_id, state)``, following ``next_page_token``."""
        pulls: list[tuple[str, str]] = []
        url = f"{self.base}/{upstream_org}/{db}/pulls"
        while True:
            body = self._get(url)
            try:
                page = decode_struct(body, {"pulls": "any", "next_page_token": "string"})
                raw = page["pulls"] or []
                if not isinstance(raw, list):
                    raise GoDecodeError("json: cannot unmarshal pulls")
                for entry in raw:
                    item = decode_struct(entry, {"pull_id": "string", "state": "string"})
                    pulls.append((item["pull_id"], item["state"]))
            except GoDecodeError as exc:
                raise WlError(str(exc)) from exc
            token = page["next_page_token"]
            if not token:
                return pulls
            url = f"{self.base}/{upstream_org}/{db}/pulls?pageToken={query_escape(token)}"

    def _pull_detail(
        self, upstream_org: str, db: str, pull_id: str, *, with_author: bool
    ) -> dict[str, Any] | None:
        fields = {"from_branch": "string", "from_branch_owner": "string"}
        if with_author:
            fields["author"] = "string"
        try:
            body = self._get(f"{self.base}/{upstream_org}/{db}/pulls/{pull_id}")
            return decode_struct(body, fields)
        except (WlError, GoDecodeError):
            return None

    def find_pr(self, upstream_org: str, db: str, fork_org: str, branch: str) -> tuple[str, str]:
        """``(url, pull_id)`` of the open PR from ``fork_org:branch``, or ``("", "")``."""
        try:
            pulls = self.list_pulls(upstream_org, db)
        except WlError:
            return "", ""
        for pull_id, state in pulls:
            if state.lower() != "open":
                continue
            detail = self._pull_detail(upstream_org, db, pull_id, with_author=False)
            if detail is None:
                continue
            if detail["from_branch"] == branch and detail["from_branch_owner"] == fork_org:
                return f"{REPO_WEB_BASE}/{upstream_org}/{db}/pulls/{pull_id}", pull_id
        return "", ""

    def _patch(
        self, upstream_org: str, db: str, pull_id: str, payload: Mapping[str, str], what: str
    ) -> None:
        try:
            resp = self.transport.request(
                "PATCH",
                f"{self.base}/{upstream_org}/{db}/pulls/{pull_id}",
                timeout=30.0,
                headers=self._json_headers(),
                body=_go_json_body(payload),
            )
        except TransportError as exc:
            raise WlError(f"DoltHub {what} PR request failed: {exc}") from exc
        if not 200 <= resp.status < 300:
            raise WlError(f"DoltHub {what} PR error (HTTP {resp.status}): {resp.text}")

    def update_pr(self, upstream_org: str, db: str, pull_id: str, title: str, body: str) -> None:
        self._patch(upstream_org, db, pull_id, {"description": body, "title": title}, "update")

    def close_pr(self, upstream_org: str, db: str, pull_id: str) -> None:
        self._patch(upstream_org, db, pull_id, {"state": "closed"}, "close")

    # pending-PR scan ---------------------------------------------------------------------

    def _rows(self, url: str) -> list[dict[str, str]] | None:
        try:
            body = self._get(url)
            doc = parse_json(body)
            return string_map_rows(doc.get("rows") if isinstance(doc, dict) else None)
        except (WlError, GoDecodeError):
            return None

    def list_pending_wanted_ids(self, upstream_org: str, db: str) -> dict[str, list[PendingState]]:
        """Wanted IDs changed by open upstream PRs (``ListPendingWantedIDs``).

        The real CLI fetches PR details and fork diffs ten at a time in parallel; the
        stand-in makes the same requests one after another.
        """
        try:
            pulls = self.list_pulls(upstream_org, db)
        except WlError as exc:
            raise exc.wrap("listing PRs") from exc
        infos: list[tuple[str, dict[str, Any]]] = []
        for pull_id, pull_state in pulls:
            if pull_state.lower() != "open":
                continue
            detail = self._pull_detail(upstream_org, db, pull_id, with_author=True)
            if detail is not None:
                infos.append((pull_id, detail))

        snapshot = dml.SELECT_WANTED_SNAPSHOT
        upstream_items: dict[str, tuple[str, str]] = {}
        if any(d["from_branch"] == "main" for _, d in infos):
            rows = self._rows(f"{self.base}/{upstream_org}/{db}/main?q={query_escape(snapshot)}")
            for row in rows or []:
                upstream_items[row.get("id", "")] = (
                    row.get("status", ""),
                    row.get("claimed_by", ""),
                )

        entries: list[tuple[str, PendingState]] = []
        for pull_id, d in infos:
            branch, owner_field, author = d["from_branch"], d["from_branch_owner"], d["author"]
            pr_url = f"{REPO_WEB_BASE}/{upstream_org}/{db}/pulls/{pull_id}"
            branch_url = f"{REPO_WEB_BASE}/{owner_field}/{db}/data/{path_escape(branch)}"
            owner = owner_field or upstream_org
            if branch == "main":
                rows = self._rows(f"{self.base}/{owner}/{db}/main?q={query_escape(snapshot)}")
                for row in rows or []:
                    wid, status, claimed = (
                        row.get("id", ""),
                        row.get("status", ""),
                        row.get("claimed_by", ""),
                    )
                    up = upstream_items.get(wid)
                    if up is None or up != (status, claimed):
                        entries.append(
                            (
                                wid,
                                PendingState(
                                    claimed or author,
                                    status,
                                    claimed,
                                    branch,
                                    branch_url,
                                    pr_url,
                                    owner,
                                    author,
                                ),
                            )
                        )
                continue
            q = dml.select_pending_diff(branch)
            rows = self._rows(f"{self.base}/{owner}/{db}/{path_escape(branch)}?q={query_escape(q)}")
            for row in rows or []:
                wid = row.get("id", "")
                if wid == "" or row.get("diff_type", "") == "removed":
                    continue
                status, claimed = row.get("status", ""), row.get("claimed_by", "")
                entries.append(
                    (
                        wid,
                        PendingState(
                            claimed or author,
                            status,
                            claimed,
                            branch,
                            branch_url,
                            pr_url,
                            owner,
                            author,
                        ),
                    )
                )

        pending: dict[str, list[PendingState]] = {}
        for entry_id, entry in entries:
            if entry.status not in _VALID_PENDING or entry.status == "open":
                continue
            if entry.status == "claimed" and entry.claimed_by and entry.claimed_by != entry.author:
                continue
            pending.setdefault(entry_id, []).append(entry)

        for pending_id, states in pending.items():
            for state in states:
                if state.status in ("open", "claimed") or not state.fork_owner:
                    continue
                q = dml.select_pending_completion(pending_id)
                ref = path_escape(state.branch)
                rows = self._rows(f"{self.base}/{state.fork_owner}/{db}/{ref}?q={query_escape(q)}")
                if rows:
                    state.completed_by = rows[0].get("completed_by", "")
                    state.evidence = rows[0].get("evidence", "")
        return pending


def branch_web_url(fork_org: str, fork_db: str, branch: str) -> str:
    """The DoltHub data page of a fork branch (``/`` written as ``%2F``)."""
    return f"{REPO_WEB_BASE}/{fork_org}/{fork_db}/data/{branch.replace('/', '%2F')}"
