"""Helpers for sandbox tests: a small client, a fake clock, in-process serving."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from dolthub_sandbox.app import Sandbox
from dolthub_sandbox.config import SandboxConfig
from dolthub_sandbox.server import RunningSandbox, run_in_thread

ALICE = {"authorization": "token sandbox-token-alice"}
BOB = {"authorization": "token sandbox-token-bob"}
HOP = {"authorization": "token sandbox-token-hop"}


class FakeClock:
    """A settable UTC clock, so operation delays are tested without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def ref_path(ref: str) -> str:
    """A ref as a path segment, ``/`` encoded as ``%2F`` like the Go client does."""
    return quote(ref, safe="")


@dataclass
class Api:
    """A client for one running sandbox, with helpers for the common call shapes."""

    http: httpx.Client
    running: RunningSandbox
    config: SandboxConfig

    def read(
        self,
        owner: str,
        db: str,
        ref: str | None,
        q: str | None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        path = f"/{owner}/{db}" + (f"/{ref_path(ref)}" if ref is not None else "")
        params = {"q": q} if q is not None else {}
        return self.http.get(path, params=params, headers=headers or {})

    def rows(
        self, owner: str, db: str, ref: str, q: str, headers: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        resp = self.read(owner, db, ref, q, headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["query_execution_status"] == "Success", resp.text
        rows: list[dict[str, Any]] = resp.json()["rows"]
        return rows

    def write(
        self,
        owner: str,
        db: str,
        from_: str,
        to: str,
        q: str | None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        params = {"q": q} if q is not None else {}
        return self.http.post(
            f"/{owner}/{db}/write/{ref_path(from_)}/{ref_path(to)}",
            params=params,
            headers=headers if headers is not None else ALICE,
        )

    def poll(
        self, owner: str, db: str, operation: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.http.get(
            f"/{owner}/{db}/write",
            params={"operationName": operation},
            headers=headers if headers is not None else ALICE,
        )

    def write_done(
        self,
        owner: str,
        db: str,
        from_: str,
        to: str,
        q: str | None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> httpx.Response:
        """Start a write and poll until it is done (or answers an error status)."""
        started = self.write(owner, db, from_, to, q, headers)
        assert started.status_code == 200, started.text
        operation = started.json()["operation_name"]
        deadline = time.monotonic() + timeout
        while True:
            resp = self.poll(owner, db, operation, headers)
            if resp.status_code != 200 or resp.json().get("done"):
                return resp
            assert time.monotonic() < deadline, "write operation never finished"
            time.sleep(0.01)

    def commit_write(
        self,
        owner: str,
        db: str,
        from_: str,
        to: str,
        q: str,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A write that must succeed and commit; returns ``res_details``."""
        resp = self.write_done(owner, db, from_, to, q, headers)
        assert resp.status_code == 200, resp.text
        details: dict[str, Any] = resp.json()["res_details"]
        assert details["query_execution_status"] == "Success", details
        return details

    def fork(
        self, owner: str, parent_owner: str, db: str, headers: dict[str, str]
    ) -> httpx.Response:
        return self.http.post(
            "/fork",
            json={"ownerName": owner, "parentOwnerName": parent_owner, "parentDatabaseName": db},
            headers=headers,
        )

    def fork_done(self, owner: str, parent_owner: str, db: str, headers: dict[str, str]) -> None:
        resp = self.fork(owner, parent_owner, db, headers)
        assert resp.status_code == 200, resp.text
        poll = self.http.get(
            "/fork", params={"operationName": resp.json()["operation_name"]}, headers=headers
        )
        assert poll.json()["owner_name"] == owner, poll.text

    def head(self, owner: str, db: str, branch: str) -> str:
        rows = self.rows(owner, db, "main", f"SELECT HASHOF('{branch}') AS h")
        return str(rows[0]["h"])

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.running.url, timeout=30)


@contextlib.contextmanager
def serving(data_dir: Path, template: Path | None = None, **overrides: Any) -> Iterator[Api]:
    """Serve a sandbox on ``data_dir`` (seeded when empty) for the ``with`` block.

    ``template`` is a seeded data directory to start from (copied; seeding is slow-ish)."""
    if template is not None and not data_dir.exists():
        shutil.copytree(template, data_dir)
    config = SandboxConfig(data_dir=data_dir, port=0, **overrides)
    with (
        run_in_thread(config) as running,
        httpx.Client(base_url=running.api_url, timeout=30) as http,
    ):
        yield Api(http, running, config)


def seed_template(data_dir: Path) -> Path:
    """Seed ``data_dir`` once (demo data) and return it, for :func:`serving` templates."""
    Sandbox(SandboxConfig(data_dir=data_dir)).close()
    return data_dir
