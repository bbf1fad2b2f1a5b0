"""action, warm: a claim/unclaim pair through the gateway beside the same pair run as
`wl` directly against the same sandbox.

- gateway: alice claims and unclaims ``w-demo-001`` (``POST …/claim``, ``POST
  …/unclaim``) on the bench wasteland, its workload awake and her rig joined by a
  warm-up pair. Each answer must say ``succeeded``; the service pre-checks, syncs the
  fork when it lags, removes finished branches, runs `wl`, verifies the change on the
  branch, lands (or finds) the pull request and refreshes the board before answering.
- `wl` directly: bob claims and unclaims ``w-demo-002`` with the same binary the
  control servers run, in its own config directory, after his own ``wl join``; each
  run must exit 0 and print the expected ``Status:``.

Pairs alternate (gateway first in even repetitions, `wl` first in odd ones). The sandbox's
request counters are reset before each pair and read after it, so every DoltHub request
is attributed to the pair that made it. The gateway's overhead per action is half the
paired difference of the two pairs' times; the DoltHub requests it adds per action are
half the difference of the two pairs' counts.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..harness import (
    DIRECT_DOLTHUB_TOKEN,
    DIRECT_USER,
    UPSTREAM,
    Bench,
    BenchError,
    metric,
    scrape,
)
from ..options import Options
from ..report import Row, ScenarioResult, Target
from ..stats import median

SCENARIO = "action (warm)"
GATEWAY_ITEM = "w-demo-001"
DIRECT_ITEM = "w-demo-002"
_STATUS = re.compile(r"^\s*Status:\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Pair:
    """One claim/unclaim pair: seconds of each step, the DoltHub requests it made (at
    the sandbox, by route) and how many of them board-sync made (its own metrics)."""

    claim_s: float
    unclaim_s: float
    requests: dict[str, int]
    board_requests: float = 0.0

    @property
    def total_s(self) -> float:
        return self.claim_s + self.unclaim_s

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())


class DirectWl:
    """The real `wl` run by hand as bob, in its own HOME and XDG directories."""

    def __init__(self, binary: Path, home: Path, api_url: str) -> None:
        self.binary = binary
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NO_COLOR": "1",
            "LANG": "C.UTF-8",
            "DOLTHUB_API_URL": api_url,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "DOLTHUB_TOKEN": DIRECT_DOLTHUB_TOKEN,
            "DOLTHUB_ORG": DIRECT_USER,
        }

    def run(self, *args: str, status: str | None = None) -> float:
        """Run ``wl <args>``; its wall time. BenchError unless it exits 0 (and prints
        ``Status: <status>`` when given)."""
        started = time.perf_counter()
        done = subprocess.run(
            [str(self.binary), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise BenchError(f"wl {' '.join(args)} exited {done.returncode}: {done.stderr[-500:]}")
        printed = _STATUS.findall(done.stdout)
        if status is not None and status not in printed:
            raise BenchError(f"wl {' '.join(args)} printed status {printed}, not {status}")
        return elapsed


def _gateway_step(bench: Bench, verb: str, item: str) -> float:
    started = time.perf_counter()
    resp = bench.api.post(f"/v1/wastelands/{bench.wasteland_id}/wanted/{item}/{verb}")
    elapsed = time.perf_counter() - started
    if resp.status_code != 200 or resp.json().get("status") != "succeeded":
        raise BenchError(f"{verb} through the gateway: {resp.status_code} {resp.text[:500]}")
    return elapsed


def board_requests(bench: Bench) -> float:
    """DoltHub requests board-sync has made so far (``wasteland_dolthub_requests_total``
    counts every page and retry as it is sent)."""
    return metric(scrape(bench.metrics_url("board-sync")), "wasteland_dolthub_requests_total")


def gateway_pair(bench: Bench, item: str = GATEWAY_ITEM) -> Pair:
    """Claim and unclaim ``item`` through the gateway, counting DoltHub requests."""
    board_before = board_requests(bench)
    bench.sandbox.reset()
    claim = _gateway_step(bench, "claim", item)
    unclaim = _gateway_step(bench, "unclaim", item)
    counts = bench.sandbox.counts()
    return Pair(claim, unclaim, counts, board_requests(bench) - board_before)


def direct_pair(wl: DirectWl, bench: Bench, item: str = DIRECT_ITEM) -> Pair:
    """Claim and unclaim ``item`` with `wl` itself, counting DoltHub requests."""
    board_before = board_requests(bench)
    bench.sandbox.reset()
    claim = wl.run("claim", item, status="claimed")
    unclaim = wl.run("unclaim", item, status="open")
    counts = bench.sandbox.counts()
    return Pair(claim, unclaim, counts, board_requests(bench) - board_before)


def direct_wl(bench: Bench) -> DirectWl:
    """Bob's `wl`, joined to the commons (its own config directory)."""
    wl = DirectWl(bench.stack.wl.path, bench.work / "wl-direct", bench.cfg.dolthub_api_url)
    wl.run(
        "join",
        UPSTREAM,
        f"--handle={DIRECT_USER}",
        f"--fork-org={DIRECT_USER}",
        f"--display-name={DIRECT_USER}",
    )
    return wl


def run(bench: Bench, options: Options) -> ScenarioResult:
    """Warm up both paths, then ``options.action_reps`` interleaved pairs of each."""
    wl = direct_wl(bench)
    gateway_pair(bench)  # wakes the workload, joins alice's rig
    direct_pair(wl, bench)
    gateway: list[Pair] = []
    direct: list[Pair] = []
    for index in range(options.action_reps):
        steps = [("gateway", gateway), ("wl", direct)]
        if index % 2:
            steps.reverse()
        for name, into in steps:
            pair = gateway_pair(bench) if name == "gateway" else direct_pair(wl, bench)
            into.append(pair)
            print(
                f"  action {index + 1}: {name} pair {pair.total_s * 1000:.0f} ms,"
                f" {pair.request_count} DoltHub requests"
            )
    return ScenarioResult(rows=rows_of(gateway, direct), data=_data(gateway, direct))


def _ms_row(measure: str, seconds: list[float], **kw: Any) -> Row:
    return Row.latency(SCENARIO, measure, [s * 1000 for s in seconds], **kw)


def request_breakdown(gateway: list[Pair], direct: list[Pair]) -> dict[str, float]:
    """Median requests per pair by ``"METHOD kind"``: gateway minus `wl` (non-zero only)."""
    kinds = sorted({k for p in gateway + direct for k in p.requests})
    added = {
        kind: median([p.requests.get(kind, 0) for p in gateway])
        - median([p.requests.get(kind, 0) for p in direct])
        for kind in kinds
    }
    return {k: v for k, v in added.items() if v}


def rows_of(gateway: list[Pair], direct: list[Pair]) -> list[Row]:
    """Step and pair times, the overhead and the added DoltHub requests with targets."""
    overhead = median(
        [(g.total_s - d.total_s) / 2 * 1000 for g, d in zip(gateway, direct, strict=True)]
    )
    added = median(
        [(g.request_count - d.request_count) / 2 for g, d in zip(gateway, direct, strict=True)]
    )
    board = median([g.board_requests / 2 for g in gateway])
    breakdown = request_breakdown(gateway, direct)
    shown = ", ".join(f"{k} {v:+g}" for k, v in sorted(breakdown.items(), key=lambda kv: -kv[1]))
    growth = (
        f"the counts grow with the commons' pull-request history (more list pages): gateway"
        f" {gateway[0].request_count} -> {gateway[-1].request_count}, wl"
        f" {direct[0].request_count} -> {direct[-1].request_count} per pair over the run"
    )
    return [
        _ms_row("gateway claim", [p.claim_s for p in gateway]),
        _ms_row("gateway unclaim", [p.unclaim_s for p in gateway]),
        _ms_row("wl claim", [p.claim_s for p in direct]),
        _ms_row("wl unclaim", [p.unclaim_s for p in direct]),
        _ms_row("gateway pair", [p.total_s for p in gateway]),
        _ms_row("wl pair", [p.total_s for p in direct]),
        Row(
            scenario=SCENARIO,
            measure="DoltHub requests per pair: gateway",
            value=median([p.request_count for p in gateway]),
            unit="req",
            n=len(gateway),
        ),
        Row(
            scenario=SCENARIO,
            measure="DoltHub requests per pair: wl",
            value=median([p.request_count for p in direct]),
            unit="req",
            n=len(direct),
            note=growth,
        ),
        Row(
            scenario=SCENARIO,
            measure="gateway overhead per action",
            value=overhead,
            unit="ms",
            n=len(gateway),
            target=Target("<=", 100.0),
            note="(gateway pair - wl pair) / 2, paired by repetition, median",
        ),
        Row(
            scenario=SCENARIO,
            measure="DoltHub requests added per action",
            value=added,
            unit="req",
            n=len(gateway),
            target=Target("<=", 2.0),
            note=f"added per pair, by route (median): {shown or 'none'}",
        ),
        Row(
            scenario=SCENARIO,
            measure="  ↳ board-sync's refresh after the action",
            value=board,
            unit="req",
            n=len(gateway),
            note=(
                "board-sync's own DoltHub requests during the pair (its /metrics), per"
                " action; the rest is the control server's checks, fork sync, branch"
                " clean-up, verification and landing"
            ),
        ),
        Row(
            scenario=SCENARIO,
            measure="  ↳ control server beyond wl",
            value=added - board,
            unit="req",
            n=len(gateway),
        ),
    ]


def _data(gateway: list[Pair], direct: list[Pair]) -> dict[str, Any]:
    def pairs(items: list[Pair]) -> list[dict[str, Any]]:
        return [
            {
                "claim_ms": p.claim_s * 1000,
                "unclaim_ms": p.unclaim_s * 1000,
                "requests": p.requests,
                "request_count": p.request_count,
                "board_sync_requests": p.board_requests,
            }
            for p in items
        ]

    return {
        "gateway": pairs(gateway),
        "wl": pairs(direct),
        "added_per_pair_by_route": request_breakdown(gateway, direct),
    }
