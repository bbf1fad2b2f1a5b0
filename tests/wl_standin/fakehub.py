"""An in-memory DoltHub for in-process tests of the ``wl`` stand-in's wire behaviour.

It answers exactly the SQL statements the real ``wl`` sends (matched by pattern), keeps
per-branch copies of the ``wanted``/``completions``/``rigs`` tables for every database,
implements fork, write operations with polling, and pull requests — and records every
request (method, raw path with its escaping, body) so tests can assert the call sequence.
Realism beyond that lives in the scenario tests against the DoltHub sandbox.
"""

# ruff: noqa: E501, S608 - the fake matches the real CLI's long SQL statements verbatim.

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

BASE = "http://dolthub.test/api/v1alpha1"
Row = dict[str, str | None]
Tables = dict[str, dict[str, Row]]


@dataclass
class Call:
    method: str
    raw_path: str  # path + query exactly as sent
    path: str  # decoded path segments joined with "/"
    sql: str  # decoded q= parameter ("" if none)
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def _lit(text: str) -> str:
    return text.replace("''", "'").replace("\\\\", "\\")


_STR = r"'((?:[^']|'')*)'"


_DETAIL_KEYS = (
    "id",
    "title",
    "description",
    "project",
    "type",
    "priority",
    "tags",
    "posted_by",
    "claimed_by",
    "status",
    "effort_level",
    "created_at",
    "updated_at",
)


def _detail_row(row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _DETAIL_KEYS:
        value = row.get(key)
        if key in ("id", "title", "priority", "status"):
            out[key] = value
        elif value is None:
            out[key] = "medium" if key == "effort_level" else ""
        else:
            out[key] = value
    return out


@dataclass
class FakeHub:
    """DoltHub state plus the request log; ``handler`` plugs into ``httpx.MockTransport``."""

    dbs: dict[tuple[str, str], dict[str, Tables]] = field(default_factory=dict)
    pulls: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    ops: dict[str, dict[str, Any]] = field(default_factory=dict)
    override: Callable[[Call], httpx.Response | None] | None = None
    pr_id_field: str = "_id"
    now: str = "2026-03-08 12:00:00"
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- setup ------------------------------------------------------------------------------

    def add_db(self, owner: str, db: str) -> Tables:
        tables: Tables = {"wanted": {}, "completions": {}, "stamps": {}, "rigs": {}}
        self.dbs[(owner, db)] = {"main": tables}
        return tables

    def add_item(self, owner: str, db: str, item_id: str, title: str, **cols: str | None) -> None:
        row: Row = {
            "id": item_id,
            "title": title,
            "description": None,
            "project": None,
            "type": None,
            "priority": "2",
            "tags": None,
            "posted_by": "hop",
            "claimed_by": None,
            "status": "open",
            "effort_level": "medium",
            "evidence_url": None,
            "created_at": self.now,
            "updated_at": self.now,
        }
        row.update(cols)
        self.dbs[(owner, db)]["main"]["wanted"][item_id] = row

    def branch(self, owner: str, db: str, name: str) -> Tables | None:
        return self.dbs.get((owner, db), {}).get(name)

    # --- HTTP -------------------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode("ascii")
        split = urlsplit(raw)
        query = parse_qs(split.query, keep_blank_values=True)
        call = Call(
            method=request.method,
            raw_path=raw,
            path=unquote(split.path),
            sql=query.get("q", [""])[0],
            body=request.content,
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        self.calls.append(call)
        if self.override is not None:
            forced = self.override(call)
            if forced is not None:
                return forced
        segments = [unquote(s) for s in split.path.split("/")][3:]  # after /api/v1alpha1
        try:
            return self._route(call, segments, query)
        except KeyError as exc:
            return httpx.Response(404, json={"status": "Error", "message": f"not found: {exc}"})

    def _route(self, call: Call, seg: list[str], query: dict[str, list[str]]) -> httpx.Response:
        if seg == ["fork"] and call.method == "POST":
            body = call.json
            src = self.dbs[(body["parentOwnerName"], body["parentDatabaseName"])]
            self.dbs[(body["ownerName"], body["parentDatabaseName"])] = {
                "main": copy.deepcopy(src["main"])
            }
            return httpx.Response(200, json={"status": "Success", "operation_name": "forkops/1"})
        if seg == ["fork"]:
            return httpx.Response(
                200, json={"status": "Success", "owner_name": "x", "database_name": "y"}
            )
        owner, db = seg[0], seg[1]
        rest = seg[2:]
        if rest == ["write"]:
            op = self.ops[query["operationName"][0]]
            if op.get("nochange"):
                return httpx.Response(400, text="cannot return null for SqlWrite.toCommitId")
            return httpx.Response(200, json={"done": True, "res_details": op})
        if rest and rest[0] == "write":
            return self._write(owner, db, rest[1], rest[2], call.sql)
        if rest and rest[0] == "pulls":
            return self._pulls(owner, db, rest[1:], call)
        ref = rest[0]
        branch = self.dbs[(owner, db)][ref]
        if not call.sql:
            return httpx.Response(200, json={"status": "Success"})
        return self._read(owner, db, ref, branch, call.sql)

    # --- reads ------------------------------------------------------------------------------

    def _answer(
        self, rows: list[dict[str, Any]], owner: str, db: str, ref: str, sql: str
    ) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "query_execution_status": "Success",
                "query_execution_message": "",
                "repository_owner": owner,
                "repository_name": db,
                "commit_ref": ref,
                "sql_query": sql,
                "schema": [],
                "rows": rows,
            },
        )

    def _read(self, owner: str, db: str, ref: str, t: Tables, sql: str) -> httpx.Response:
        wanted = t["wanted"]

        def ans(rows: list[dict[str, Any]]) -> httpx.Response:
            return self._answer(rows, owner, db, ref, sql)

        if m := re.fullmatch(rf"SELECT id FROM wanted WHERE id LIKE {_STR} LIMIT 3", sql):
            prefix = _lit(m.group(1)).rstrip("%").replace("\\_", "_").replace("\\%", "%")
            return ans([{"id": i} for i in sorted(wanted) if i.startswith(prefix)][:3])
        if m := re.fullmatch(rf"SELECT status FROM wanted WHERE id = {_STR}", sql):
            row = wanted.get(_lit(m.group(1)))
            return ans([{"status": row["status"]}] if row else [])
        if m := re.fullmatch(rf"SELECT COUNT\(\*\) AS cnt FROM wanted WHERE id={_STR}", sql):
            return ans([{"cnt": str(int(_lit(m.group(1)) in wanted))}])
        if m := re.fullmatch(
            rf"SELECT name FROM dolt_branches WHERE name LIKE {_STR} ORDER BY name", sql
        ):
            prefix = _lit(m.group(1))[:-1].replace("\\_", "_").replace("\\%", "%")
            names = sorted(n for n in self.dbs[(owner, db)] if n.startswith(prefix))
            return ans([{"name": n} for n in names])
        if m := re.fullmatch(
            rf"SELECT status, COALESCE\(claimed_by,''\) AS claimed_by FROM wanted WHERE id = {_STR}",
            sql,
        ):
            row = wanted.get(_lit(m.group(1)))
            return ans(
                [{"status": row["status"], "claimed_by": row["claimed_by"] or ""}] if row else []
            )
        if m := re.match(
            r"SELECT id, title, COALESCE\(description,''\) as description, COALESCE\(project,''\) as project, COALESCE\(type,''\) as type, priority, COALESCE\(tags",
            sql,
        ):
            wid = _lit(re.search(rf"WHERE id={_STR}$", sql).group(1))  # type: ignore[union-attr]
            row = wanted.get(wid)
            if not row:
                return ans([])
            return ans([_detail_row(row)])
        if m := re.fullmatch(
            rf"SELECT id, wanted_id, completed_by, .* FROM completions WHERE wanted_id={_STR}", sql
        ):
            wid = _lit(m.group(1))
            rows = [c for c in t["completions"].values() if c["wanted_id"] == wid]
            return ans(
                [
                    {
                        k: r.get(k) or ""
                        for k in (
                            "id",
                            "wanted_id",
                            "completed_by",
                            "evidence",
                            "stamp_id",
                            "validated_by",
                        )
                    }
                    for r in rows
                ]
            )
        if sql.startswith("SELECT id, title, COALESCE(project,'') as project"):
            rows = sorted(wanted.values(), key=lambda r: (int(r["priority"] or 0), r["id"]))
            if m := re.search(rf"status = {_STR}", sql):
                rows = [r for r in rows if r["status"] == _lit(m.group(1))]
            keys = [
                "id",
                "title",
                "project",
                "type",
                "priority",
                "posted_by",
                "claimed_by",
                "status",
                "effort_level",
            ]
            return ans([{k: row[k] if row[k] is not None else "" for k in keys} for row in rows])
        if sql.startswith("SELECT table_name, rows_added"):
            return ans(
                [
                    {
                        "table_name": "wanted",
                        "rows_added": "0",
                        "rows_modified": "1",
                        "rows_deleted": "0",
                    }
                ]
            )
        if sql.startswith("SELECT * FROM dolt_diff("):
            return ans(
                [
                    {
                        "diff_type": "modified",
                        "to_id": "x",
                        "from_id": "x",
                        "to_status": "claimed",
                        "from_status": "open",
                    }
                ]
            )
        return httpx.Response(
            400,
            json={
                "query_execution_status": "Error",
                "query_execution_message": f"unsupported: {sql}",
            },
        )

    # --- writes -----------------------------------------------------------------------------

    def _write(self, owner: str, db: str, src: str, dst: str, sql: str) -> httpx.Response:
        branches = self.dbs[(owner, db)]
        if dst not in branches or src != dst:
            branches[dst] = copy.deepcopy(branches[src])
        t = branches[dst]
        changed = self._apply(owner, db, t, sql)
        op = f"users/u/userOperations/{next(self._seq)}"
        self.ops[op] = {
            "query_execution_status": "Success",
            "query_execution_message": f"Query OK, {changed} rows affected.",
            "nochange": changed == 0,
        }
        return httpx.Response(200, json={"query_execution_status": "Success", "operation_name": op})

    def _apply(self, owner: str, db: str, t: Tables, sql: str) -> int:
        w = t["wanted"]
        if m := re.fullmatch(
            rf"UPDATE wanted SET claimed_by={_STR}, status='claimed', updated_at=NOW\(\) WHERE id={_STR} AND status='open'",
            sql,
        ):
            row = w.get(_lit(m.group(2)))
            if row and row["status"] == "open":
                row.update(claimed_by=_lit(m.group(1)), status="claimed")
                return 1
            return 0
        if m := re.fullmatch(
            rf"UPDATE wanted SET claimed_by=NULL, status='open', updated_at=NOW\(\) WHERE id={_STR} AND status='claimed'",
            sql,
        ):
            row = w.get(_lit(m.group(1)))
            if row and row["status"] == "claimed":
                row.update(claimed_by=None, status="open")
                return 1
            return 0
        if m := re.fullmatch(
            rf"UPDATE wanted SET status='in_review', evidence_url={_STR}, updated_at=NOW\(\) WHERE id={_STR} AND status='claimed' AND claimed_by={_STR}",
            sql,
        ):
            row = w.get(_lit(m.group(2)))
            if row and row["status"] == "claimed" and row["claimed_by"] == _lit(m.group(3)):
                row.update(status="in_review", evidence_url=_lit(m.group(1)))
                return 1
            return 0
        if m := re.match(
            rf"INSERT IGNORE INTO completions .* SELECT {_STR}, {_STR}, {_STR}, {_STR}, ", sql
        ):
            cid, wid, who, ev = (_lit(m.group(i)) for i in range(1, 5))
            row = w.get(wid)
            if (
                row
                and row["status"] == "in_review"
                and row["claimed_by"] == who
                and not any(c["wanted_id"] == wid for c in t["completions"].values())
            ):
                t["completions"][cid] = {
                    "id": cid,
                    "wanted_id": wid,
                    "completed_by": who,
                    "evidence": ev,
                }
                return 1
            return 0
        if sql.startswith("INSERT INTO wanted ("):
            cols = [
                "id",
                "title",
                "description",
                "project",
                "type",
                "priority",
                "tags",
                "posted_by",
                "status",
                "effort_level",
                "created_at",
                "updated_at",
            ]
            raw = re.findall(r"'(?:[^']|'')*'|NULL|-?\d+", sql.split("VALUES", 1)[1])
            new: Row = {}
            for col, tok in zip(cols, raw, strict=True):
                new[col] = (
                    None if tok == "NULL" else (_lit(tok[1:-1]) if tok.startswith("'") else tok)
                )
            new.update(claimed_by=None, evidence_url=None)
            w[str(new["id"])] = new
            return 1
        if m := re.match(rf"INSERT INTO stamps .* VALUES \({_STR}, {_STR}, {_STR}, ", sql):
            sid = _lit(m.group(1))
            t["stamps"][sid] = {"id": sid, "author": _lit(m.group(2)), "subject": _lit(m.group(3))}
            return 1
        if m := re.fullmatch(
            rf"UPDATE completions SET validated_by={_STR}, stamp_id={_STR}, validated_at=NOW\(\) WHERE id={_STR}",
            sql,
        ):
            comp = t["completions"].get(_lit(m.group(3)))
            if comp is None:
                return 0
            comp.update(validated_by=_lit(m.group(1)), stamp_id=_lit(m.group(2)))
            return 1
        if m := re.fullmatch(
            rf"UPDATE wanted SET status='(completed|claimed|withdrawn)', updated_at=NOW\(\) WHERE id={_STR} AND status='(\w+)'",
            sql,
        ):
            row = w.get(_lit(m.group(2)))
            if row and row["status"] == m.group(3):
                row["status"] = m.group(1)
                return 1
            return 0
        if m := re.fullmatch(rf"DELETE FROM completions WHERE wanted_id={_STR}", sql):
            doomed = [k for k, c in t["completions"].items() if c["wanted_id"] == _lit(m.group(1))]
            for key in doomed:
                del t["completions"][key]
            return len(doomed)
        if m := re.match(rf"INSERT INTO rigs .* VALUES \({_STR}, {_STR}", sql):
            t["rigs"][_lit(m.group(1))] = {
                "handle": _lit(m.group(1)),
                "display_name": _lit(m.group(2)),
            }
            return 1
        if m := re.fullmatch(rf"CALL DOLT_BRANCH\('-D', {_STR}\)", sql):
            name = _lit(m.group(1))
            if name not in self.dbs[(owner, db)]:
                raise KeyError(name)
            del self.dbs[(owner, db)][name]
            return 1
        raise KeyError(f"unsupported write: {sql}")

    # --- pulls ------------------------------------------------------------------------------

    def _pulls(self, owner: str, db: str, rest: list[str], call: Call) -> httpx.Response:
        pulls = self.pulls.setdefault((owner, db), [])
        if not rest and call.method == "POST":
            body = call.json
            if any(
                p["from_branch"] == body["fromBranchName"]
                and p["from_branch_owner"] == body["fromBranchOwnerName"]
                and p["state"] == "Open"
                for p in pulls
            ):
                return httpx.Response(
                    400, json={"status": "Error", "message": "pull request already exists"}
                )
            pull_id = str(len(pulls) + 1)
            pulls.append(
                {
                    "pull_id": pull_id,
                    "title": body["title"],
                    "description": body["description"],
                    "state": "Open",
                    "from_branch": body["fromBranchName"],
                    "from_branch_owner": body["fromBranchOwnerName"],
                    "author": body["fromBranchOwnerName"],
                }
            )
            return httpx.Response(200, json={"status": "Success", self.pr_id_field: pull_id})
        if not rest:
            return httpx.Response(
                200,
                json={
                    "status": "Success",
                    "pulls": [
                        {"pull_id": p["pull_id"], "title": p["title"], "state": p["state"]}
                        for p in pulls
                    ],
                    "next_page_token": "",
                },
            )
        pull = next(p for p in pulls if p["pull_id"] == rest[0])
        if call.method == "PATCH":
            body = call.json
            if body.get("state") == "closed":
                pull["state"] = "Closed"
            pull.update({k: v for k, v in body.items() if k in ("title", "description")})
            return httpx.Response(200, json={"status": "Success"})
        return httpx.Response(200, json={"status": "Success", **pull})

    # --- assertions helpers ---------------------------------------------------------------

    def sequence(self) -> list[tuple[str, str, str]]:
        """``(method, decoded path, sql)`` of every request, for order assertions."""
        return [(c.method, c.path.removeprefix("/api/v1alpha1"), c.sql) for c in self.calls]
