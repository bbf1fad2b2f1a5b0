"""The stack a bench run measures, and the probes the scenarios read it with.

:func:`bench_stack` starts the whole local system with ``devstack.stack.running_stack``
(the real `wl` when Go can build it), JSON logs and a Prometheus listener on every gRPC
service (``METRICS_PORT=0``), then creates the bench's wasteland through the public API:
alice's, public, on the sandbox's demo commons, with her DoltHub credential and the
commons' upstream credential connected (the documented setup: forks kept current).

Probes: the sandbox's request counters (``/_sandbox/stats``), Prometheus scrapes, a
process's CPU time from ``/proc/<pid>/stat`` and the services' structured log lines
(the executor relays each control server's lines as ``control[<wasteland>] <json>``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from devstack.stack import Stack, StackConfig, running_stack
from prometheus_client.parser import text_string_to_metric_families
from wasteland_common.auth import mint_service_token, mint_user_token

from . import wrk

UPSTREAM = "hop/wl-commons"
OWNER = "alice"
OWNER_DOLTHUB_TOKEN = "sandbox-token-alice"  # noqa: S105 - the sandbox's seeded tokens
UPSTREAM_DOLTHUB_TOKEN = "sandbox-token-hop"  # noqa: S105
DIRECT_USER = "bob"
DIRECT_DOLTHUB_TOKEN = "sandbox-token-bob"  # noqa: S105
IDLE_OWNER = "bench-idle"
# A bench run lasts well under this; the JWTs it mints must not expire during it.
TOKEN_TTL_SECONDS = 6 * 3600
# Actions run as alice alone (the sandbox has two DoltHub users, and bob acts through
# `wl` directly), so the per-user action limits are lifted for the bench stack. Browse
# keeps its default limit: the load rotates over many users instead.
STACK_ENV = {
    "METRICS_PORT": "0",
    "RATE_LIMIT_CLAIM": "1000000",
    "RATE_LIMIT_DONE": "1000000",
    "RATE_LIMIT_POST": "1000000",
}
_METRICS_AT = re.compile(
    r"(?P<service>[\w-]+) metrics served at (?P<url>http://[\w.:\-]+/?\S*?)[\"\s]"
)


class BenchError(RuntimeError):
    """The stack or a probe did not behave as a bench run needs."""


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (never one of the fixed ones)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


# ------------------------------------------------------------------------ sandbox


def idle_commons_name(index: int) -> str:
    """The name of the ``index``-th idle commons (``bench-idle/commons-0001``…)."""
    return f"commons-{index:04d}"


def seed_sandbox(data_dir: Path, idle_commons: int) -> None:
    """Seed the sandbox's data directory before it starts: the demo data plus
    ``idle_commons`` public commons under ``bench-idle`` that share the demo commons'
    history (metadata rows only, so a thousand cost a second). Nobody writes them: they
    are the idle wastelands board-sync polls in the idle scenario."""
    from dolthub_sandbox.app import Sandbox
    from dolthub_sandbox.config import SandboxConfig
    from dolthub_sandbox.storage import BranchRecord

    sandbox = Sandbox(SandboxConfig(data_dir=data_dir, seed="demo"))
    try:
        store = sandbox.store
        upstream_owner, upstream_db = UPSTREAM.split("/")
        head = store.branch_head(upstream_owner, upstream_db, "main")
        if head is None:
            raise BenchError("the demo commons has no main branch")
        store.add_org(IDLE_OWNER, [])
        now = sandbox.config.clock()
        for index in range(1, idle_commons + 1):
            store.create_database(
                IDLE_OWNER,
                idle_commons_name(index),
                "public",
                "An idle commons (make bench)",
                author="hop-maintainer",
                now=now,
                branches=[BranchRecord("main", head)],
            )
    finally:
        sandbox.close()


class SandboxAdmin:
    """The sandbox's test controls: request counters by database and route kind."""

    def __init__(self, base_url: str) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=30)

    def counts(self, owner: str | None = None, db: str | None = None) -> dict[str, int]:
        """Requests by ``"METHOD kind"`` since the last reset (one database, or all)."""
        params = {"owner": owner, "db": db} if owner and db else {}
        resp = self._http.get("/_sandbox/stats", params=params)
        resp.raise_for_status()
        return {str(k): int(v) for k, v in resp.json()["counts"].items()}

    def total(self, owner: str | None = None, db: str | None = None) -> int:
        """The number of API requests since the last reset."""
        return sum(self.counts(owner, db).values())

    def reset(self) -> None:
        """Zero every counter."""
        self._http.post("/_sandbox/stats/reset").raise_for_status()

    def close(self) -> None:
        self._http.close()


# ------------------------------------------------------------------------ probes


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (``/proc/<pid>/stat``)."""
    raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    # The command name (field 2) may hold spaces; the fields after it are fixed.
    fields = raw[raw.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """A Prometheus text exposition as ``{(sample name, sorted labels): value}``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and all(dict(sample_labels).get(k) == v for k, v in labels.items())
    )


def scrape(url: str) -> Samples:
    """GET a ``/metrics`` endpoint and parse it."""
    resp = httpx.get(url, timeout=10)
    resp.raise_for_status()
    return parse_metrics(resp.text)


def metrics_urls(log_text: str) -> dict[str, str]:
    """``{service: /metrics URL}`` from "<service> metrics served at <url>" log lines."""
    return {m["service"]: m["url"] for m in _METRICS_AT.finditer(log_text)}


@dataclass(frozen=True)
class LogEvent:
    """One structured log line; ``source`` is the service, or ``control`` for a control
    server's line relayed by the executor."""

    time: datetime
    source: str
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)


_CONTROL = re.compile(r"^control\[(?P<wasteland>[^\]]+)\] (?P<line>.*)$", re.DOTALL)


def parse_log_line(line: str) -> list[LogEvent]:
    """The events of one JSON log line: the line itself and, for a relayed control
    server line, that line too (its own time when it is JSON, else the relay's).
    Lines that are not JSON give nothing."""
    try:
        entry = json.loads(line)
    except ValueError:
        return []
    if not isinstance(entry, dict) or "time" not in entry:
        return []
    moment = datetime.fromisoformat(str(entry["time"]))
    message = str(entry.get("message", ""))
    events = [LogEvent(moment, str(entry.get("service", "")), message, entry)]
    if relayed := _CONTROL.match(message):
        inner_text = relayed["line"]
        try:
            inner = json.loads(inner_text)
        except ValueError:
            inner = None
        if isinstance(inner, dict) and "time" in inner:
            inner_time = datetime.fromisoformat(str(inner["time"]))
            events.append(LogEvent(inner_time, "control", str(inner.get("message", "")), inner))
        else:
            events.append(LogEvent(moment, "control", inner_text, {}))
    return events


class LogTail:
    """Reads the lines a log file gained since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def mark(self) -> None:
        """Skip everything written so far."""
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def events(self) -> list[LogEvent]:
        """The events of the complete lines written since the last read or mark."""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        found: list[LogEvent] = []
        for raw in data[:end].decode("utf-8", errors="replace").splitlines():
            found.extend(parse_log_line(raw))
        return found


# ------------------------------------------------------------------------ the stack


@dataclass
class Bench:
    """A running bench stack and what the scenarios share."""

    stack: Stack
    work: Path
    wasteland_id: str
    api: httpx.Client
    sandbox: SandboxAdmin
    tokens_file: Path
    wrk: str
    wrk_script: Path
    idle_commons: int

    @property
    def cfg(self) -> StackConfig:
        return self.stack.config

    @property
    def gateway_url(self) -> str:
        return self.stack.gateway.url

    def service_token(self, service: str) -> str:
        """A service JWT naming ``service`` (for direct gRPC calls)."""
        return mint_service_token(service, secret=self.cfg.service_secret, ttl_seconds=3600)

    def user_token(self, user: str) -> str:
        """A Kilo JWT of ``user`` valid for the whole run."""
        return mint_user_token(user, secret=self.cfg.jwt_secret, ttl_seconds=TOKEN_TTL_SECONDS)

    def metrics_url(self, service: str) -> str:
        """The /metrics URL a gRPC service logged at start."""
        proc = {"registry": self.stack.registry, "board-sync": self.stack.board}.get(
            service, self.stack.executor
        )
        found = metrics_urls(proc.text()).get(service)
        if found is None:
            raise BenchError(f"{service} logged no metrics URL (is METRICS_PORT set?)")
        return found


def _wait(what: str, probe: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := probe():
            return result
        time.sleep(0.2)
    raise BenchError(f"timed out waiting for {what}")


def write_tokens(path: Path, secret: str, users: int) -> None:
    """Write ``users`` distinct users' JWTs (``bench-user-00001``…), one a line."""
    lines = (
        mint_user_token(f"bench-user-{i:05d}", secret=secret, ttl_seconds=TOKEN_TTL_SECONDS)
        for i in range(1, users + 1)
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@contextlib.contextmanager
def bench_stack(
    work: Path, *, idle_commons: int, users: int, need_wrk: bool = True
) -> Iterator[Bench]:
    """Start the stack under ``work`` and create the bench wasteland; stop it all on exit.
    ``need_wrk``: install wrk first when it is missing (else ``Bench.wrk`` may be "")."""
    wrk_path = wrk.ensure_installed() if need_wrk else (shutil.which("wrk") or "")
    data_dir = work / "run"
    seed_sandbox(data_dir / "dolthub-sandbox", idle_commons)
    http, sandbox, registry, board, executor = free_ports(5)
    cfg = StackConfig(
        data_dir=data_dir,
        http_port=http,
        sandbox_port=sandbox,
        registry_port=registry,
        board_port=board,
        executor_port=executor,
        log_format="json",
        extra_env=dict(STACK_ENV),
    )
    with running_stack(cfg) as stack:
        owner_token = mint_user_token(OWNER, secret=cfg.jwt_secret, ttl_seconds=TOKEN_TTL_SECONDS)
        api = httpx.Client(
            base_url=stack.gateway.url,
            timeout=120,
            headers={"Authorization": f"Bearer {owner_token}"},
        )
        admin = SandboxAdmin(stack.sandbox.url)
        try:
            wasteland_id = _create_wasteland(api)
            tokens_file = work / "tokens.txt"
            write_tokens(tokens_file, cfg.jwt_secret, users)
            yield Bench(
                stack=stack,
                work=work,
                wasteland_id=wasteland_id,
                api=api,
                sandbox=admin,
                tokens_file=tokens_file,
                wrk=wrk_path,
                wrk_script=wrk.write_script(work),
                idle_commons=idle_commons,
            )
        finally:
            api.close()
            admin.close()


def _create_wasteland(api: httpx.Client) -> str:
    created = api.post(
        "/v1/wastelands",
        json={
            "name": "bench",
            "owner": {"type": "user"},
            "visibility": "public",
            "upstream": UPSTREAM,
        },
    )
    if created.status_code != 201:
        raise BenchError(f"creating the bench wasteland: {created.status_code} {created.text}")
    wasteland_id = str(created.json()["wasteland_id"])
    for path, body in (
        ("credential", {"dolthub_token": OWNER_DOLTHUB_TOKEN, "dolthub_org": OWNER}),
        ("upstream-credential", {"dolthub_token": UPSTREAM_DOLTHUB_TOKEN}),
    ):
        resp = api.put(f"/v1/wastelands/{wasteland_id}/{path}", json=body)
        if resp.status_code != 200:
            raise BenchError(f"connecting the {path}: {resp.status_code} {resp.text}")

    def synced() -> bool:
        resp = api.get(f"/v1/wastelands/{wasteland_id}/wanted", params={"page_size": 1})
        return resp.status_code == 200 and bool(resp.json().get("synced_at"))

    _wait("the bench board's first sync", synced)
    return wasteland_id
