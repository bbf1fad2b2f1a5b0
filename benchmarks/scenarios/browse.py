"""browse: the board read beside the framework floor and beside board-sync itself.

Variants, at 1, 8 and 32 connections, interleaved round by round (the order rotates
each round so no variant always follows the same neighbour):

- ``/healthz`` on the gateway (wrk): the HTTP framework's floor on this machine;
- ``GET /v1/wastelands/{id}/wanted`` on the same gateway (wrk, many users' JWTs):
  JWT check, rate-limit counter, registry access check, board-sync ``Browse``;
- board-sync ``Browse`` over gRPC directly (:mod:`benchmarks.grpcload`).

Throughput and latency percentiles are the medians over rounds; each ratio is computed
within a round (same machine load on both sides) and the median of those is reported.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import grpcload, wrk
from ..harness import UPSTREAM, Bench
from ..options import Options
from ..report import Row, ScenarioResult, Target
from ..stats import median, ratio
from ..wrk import LoadResult

SCENARIO = "browse"
KINDS = ("healthz", "wanted", "grpc")
LABEL = {
    "healthz": "GET /healthz",
    "wanted": "GET …/wanted",
    "grpc": "gRPC Browse (board-sync)",
    "grpc-health": "gRPC Health/Check (board-sync)",
    "dolthub": "one DoltHub read (sandbox)",
}
# The open items, as a service without the board cache would read them per browse.
OPEN_ITEMS_SQL = (
    "SELECT * FROM wanted WHERE status = 'open' ORDER BY priority ASC, created_at DESC LIMIT 50"
)
WARMUP_S = 1.0


@dataclass(frozen=True)
class Variant:
    kind: str
    connections: int

    @property
    def key(self) -> str:
        return f"{self.kind}@{self.connections}"


def middle(connections: tuple[int, ...]) -> int:
    """The concurrency the throughput target is set at: 8, else the middle one."""
    return 8 if 8 in connections else sorted(connections)[len(connections) // 2]


def _runner(bench: Bench, variant: Variant) -> Callable[[float], LoadResult]:
    if variant.kind in ("grpc", "grpc-health"):

        def grpc_run(duration: float) -> LoadResult:
            return grpcload.run(
                bench.stack.board.addr,
                bench.wasteland_id,
                service_secret=bench.cfg.service_secret,
                tokens=bench.tokens_file,
                connections=variant.connections,
                duration_s=duration,
                method="health" if variant.kind == "grpc-health" else "browse",
            )

        return grpc_run
    if variant.kind == "dolthub":
        query = urllib.parse.urlencode({"q": OPEN_ITEMS_SQL})
        url = f"{bench.cfg.dolthub_api_url}/{UPSTREAM}/main?{query}"
    elif variant.kind == "healthz":
        url = bench.gateway_url + "/healthz"
    else:
        url = bench.gateway_url + f"/v1/wastelands/{bench.wasteland_id}/wanted"

    def http_run(duration: float) -> LoadResult:
        return wrk.run(
            bench.wrk,
            url,
            connections=variant.connections,
            duration_s=duration,
            script=bench.wrk_script,
            # DoltHub reads of a public commons are anonymous (a JWT is no DoltHub token).
            tokens=None if variant.kind == "dolthub" else bench.tokens_file,
        )

    return http_run


def run(bench: Bench, options: Options) -> ScenarioResult:
    """Measure every variant ``options.rounds`` times, interleaved."""
    variants = [Variant(k, c) for k in KINDS for c in options.connections]
    # The gRPC floor with the same Python client, at the middle concurrency only.
    variants.append(Variant("grpc-health", middle(options.connections)))
    # What a service without the cache pays per read (one of Kilo's 7 + N), sequentially.
    variants.append(Variant("dolthub", min(options.connections)))
    runners = {v.key: _runner(bench, v) for v in variants}
    for variant in variants:  # warm-up: connections, caches, JIT of nothing but habits
        runners[variant.key](WARMUP_S)
    rounds: list[dict[str, LoadResult]] = []
    for index in range(options.rounds):
        shift = index % len(variants)
        order = variants[shift:] + variants[:shift]
        results: dict[str, LoadResult] = {}
        for variant in order:
            results[variant.key] = runners[variant.key](options.duration_s)
            print(f"  browse round {index + 1}: {variant.key} {results[variant.key].rps:.0f} req/s")
        rounds.append(results)
    return ScenarioResult(rows=rows_of(variants, rounds, options), data=_data(rounds))


def rows_of(
    variants: list[Variant], rounds: list[dict[str, LoadResult]], options: Options
) -> list[Row]:
    """Table rows: one per variant, then the ratios with their targets."""
    rows: list[Row] = []
    for variant in variants:
        runs = [r[variant.key] for r in rounds]
        errors = sum(r.error_count for r in runs)
        rows.append(
            Row(
                scenario=SCENARIO,
                measure=f"{LABEL[variant.kind]} c={variant.connections}",
                value=median([r.rps for r in runs]),
                unit="req/s",
                n=len(runs),
                p50=median([r.p50_ms for r in runs]),
                p90=median([r.p90_ms for r in runs]),
                p99=median([r.p99_ms for r in runs]),
                note=(
                    f"{errors} failed requests (non-2xx, timeouts or socket errors) in"
                    f" {variant.key}"
                    if errors
                    else ""
                ),
            )
        )

    def per_round(fn: Callable[[dict[str, LoadResult]], float]) -> float:
        return median([fn(r) for r in rounds])

    mid = middle(options.connections)
    low = min(options.connections)
    rows += [
        Row(
            scenario=SCENARIO,
            measure=f"wanted / healthz throughput, c={mid}",
            value=per_round(lambda r: ratio(r[f"wanted@{mid}"].rps, r[f"healthz@{mid}"].rps)),
            unit="x",
            n=len(rounds),
            target=Target(">=", 0.5),
        ),
        Row(
            scenario=SCENARIO,
            measure=f"wanted / healthz p50 latency, c={low}",
            value=per_round(lambda r: ratio(r[f"wanted@{low}"].p50_ms, r[f"healthz@{low}"].p50_ms)),
            unit="x",
            n=len(rounds),
            target=Target("<=", 5.0),
        ),
        Row(
            scenario=SCENARIO,
            measure=f"wanted / gRPC Browse throughput, c={mid}",
            value=per_round(lambda r: ratio(r[f"wanted@{mid}"].rps, r[f"grpc@{mid}"].rps)),
            unit="x",
            n=len(rounds),
            note=(
                "what the gateway keeps of board-sync's own rate; the gRPC load is a Python"
                " client (benchmarks/grpcload.py) sharing the 2 cores, so board-sync's own"
                " rate is a lower bound"
            ),
        ),
        Row(
            scenario=SCENARIO,
            measure=f"wanted p50 / one DoltHub read p50, c={low}",
            value=per_round(lambda r: ratio(r[f"wanted@{low}"].p50_ms, r[f"dolthub@{low}"].p50_ms)),
            unit="x",
            n=len(rounds),
            note=(
                "a whole browse from the cache against a single read of the open items from"
                " the DoltHub sandbox on loopback; real DoltHub is an internet round trip,"
                " and Kilo's browse waits on 7 + N such reads"
            ),
        ),
        Row(
            scenario=SCENARIO,
            measure=f"gRPC Browse / gRPC Health throughput, c={mid}",
            value=per_round(lambda r: ratio(r[f"grpc@{mid}"].rps, r[f"grpc-health@{mid}"].rps)),
            unit="x",
            n=len(rounds),
            note=(
                "board-sync's Browse against the gRPC floor measured with the same client:"
                " near 1 means the client, not Browse, limits the gRPC rows"
            ),
        ),
    ]
    return rows


def _data(rounds: list[dict[str, LoadResult]]) -> dict[str, Any]:
    return {"rounds": [{key: result.as_dict() for key, result in r.items()} for r in rounds]}
