"""limits: what the shared rate limiter costs per request, with two gateway replicas.

A second gateway process starts on the same gateway database (the counters every
replica shares). Both replicas are loaded at once by one wrk each (half the
connections each, many users' JWTs), in interleaved rounds, with two routes that do the
same backend work but differ in the limiter:

- limited: ``GET /v1/wastelands/{id}/wanted?mine=true`` by users without a rig: the
  browse limit is counted (one upsert in the shared database), the registry is asked
  for the access decision, and the answer is an empty page (no board-sync call);
- not limited: ``GET /v1/wastelands/{id}``: the same registry call, no counter.

The limiter's cost is the paired difference of the two (per round, then the median):
in latency at the same concurrency, and in gateway time per request from throughput
(``1/rps``, both replicas together). The unlimited route serializes a slightly larger
answer, so the difference slightly understates the limiter's cost.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devstack.stack import gateway_replica

from .. import wrk
from ..harness import Bench, free_port
from ..options import Options
from ..report import Row, ScenarioResult
from ..stats import median
from ..wrk import LoadResult

SCENARIO = "limits"
PER_REPLICA = 4  # connections per replica: 8 in all, as in browse c=8
LABEL = {
    "limited": "limited route, 2 replicas",
    "unlimited": "unlimited route, 2 replicas",
}


def _combined(results: list[LoadResult]) -> dict[str, float]:
    """Both replicas' runs as one: throughput summed, percentiles averaged."""
    n = len(results)
    return {
        "rps": sum(r.rps for r in results),
        "p50_ms": sum(r.p50_ms for r in results) / n,
        "p90_ms": sum(r.p90_ms for r in results) / n,
        "p99_ms": sum(r.p99_ms for r in results) / n,
        "errors": float(sum(r.error_count for r in results)),
    }


def run(bench: Bench, options: Options) -> ScenarioResult:
    """Load both replicas with each route, ``options.rounds`` interleaved rounds."""
    with gateway_replica(bench.cfg, "gateway-2", free_port()) as second:
        urls = [bench.gateway_url, second.url]
        wid = bench.wasteland_id
        paths = {
            "limited": f"/v1/wastelands/{wid}/wanted?mine=true",
            "unlimited": f"/v1/wastelands/{wid}",
        }

        def load(kind: str, duration: float) -> list[LoadResult]:
            with ThreadPoolExecutor(max_workers=len(urls)) as pool:
                futures = [
                    pool.submit(
                        wrk.run,
                        bench.wrk,
                        url + paths[kind],
                        connections=PER_REPLICA,
                        duration_s=duration,
                        script=bench.wrk_script,
                        tokens=bench.tokens_file,
                    )
                    for url in urls
                ]
                return [f.result() for f in futures]

        for kind in paths:
            load(kind, 1.0)  # warm-up
        rounds: list[dict[str, dict[str, float]]] = []
        raw: list[dict[str, Any]] = []
        for index in range(options.rounds):
            order = list(paths) if index % 2 == 0 else list(reversed(paths))
            this: dict[str, dict[str, float]] = {}
            raw_round: dict[str, Any] = {}
            for kind in order:
                results = load(kind, options.duration_s)
                this[kind] = _combined(results)
                raw_round[kind] = [r.as_dict() for r in results]
                print(f"  limits round {index + 1}: {kind} {this[kind]['rps']:.0f} req/s")
            rounds.append(this)
            raw.append(raw_round)
    return ScenarioResult(rows=rows_of(rounds), data={"rounds": raw})


def rows_of(rounds: list[dict[str, dict[str, float]]]) -> list[Row]:
    """One row per route, then the limiter's cost."""
    rows: list[Row] = []
    for kind, label in LABEL.items():
        runs = [r[kind] for r in rounds]
        errors = sum(r["errors"] for r in runs)
        rows.append(
            Row(
                scenario=SCENARIO,
                measure=f"{label}, c={2 * PER_REPLICA}",
                value=median([r["rps"] for r in runs]),
                unit="req/s",
                n=len(runs),
                p50=median([r["p50_ms"] for r in runs]),
                p90=median([r["p90_ms"] for r in runs]),
                p99=median([r["p99_ms"] for r in runs]),
                note=f"{errors:.0f} failed requests in {kind}" if errors else "",
            )
        )
    p50_cost = median([r["limited"]["p50_ms"] - r["unlimited"]["p50_ms"] for r in rounds])
    time_cost = median(
        [1000.0 / r["limited"]["rps"] - 1000.0 / r["unlimited"]["rps"] for r in rounds]
    )
    rows += [
        Row(
            scenario=SCENARIO,
            measure="limiter cost: p50 latency added",
            value=p50_cost,
            unit="ms",
            n=len(rounds),
        ),
        Row(
            scenario=SCENARIO,
            measure="limiter cost: machine time per request",
            value=time_cost,
            unit="ms",
            n=len(rounds),
            note=(
                "1/throughput(limited) - 1/throughput(unlimited) with both replicas"
                " saturating the machine: the time the shared counter adds to each request"
            ),
        ),
    ]
    return rows
