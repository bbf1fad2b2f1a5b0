"""Browse from the board-sync cache vs. reading DoltHub for every request.

Starts the whole local stack, creates a wasteland on the sandbox's demo commons and
times, interleaved in the same run: (a) ``GET /v1/wastelands/{id}/wanted`` through the
gateway (JWT check, rate limit, registry access check, board-sync cache) and (b) the
same open-items query sent straight to the DoltHub sandbox (what a service without the
cache would do per request). Reports medians, p90 and the ratio (b)/(a). The sandbox is
on loopback, so (b) is a lower bound for real DoltHub, which is an internet round trip.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from devstack.stack import StackConfig, running_stack
from wasteland_common.auth import mint_user_token
from wasteland_common.settings import DEV_JWT_SECRET

from tests.support.ports import free_port

BROWSE_SQL = (
    "SELECT * FROM wanted WHERE status = 'open' ORDER BY priority ASC, created_at DESC LIMIT 50"
)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Run the benchmark and print a small table."""
    parser = argparse.ArgumentParser(prog="benchmarks")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = StackConfig(
            data_dir=Path(tmp),
            http_port=free_port(),
            sandbox_port=free_port(),
            registry_port=free_port(),
            board_port=free_port(),
            executor_port=free_port(),
            extra_env={"RATE_LIMIT_BROWSE": "100000"},
        )
        with running_stack(cfg) as stack:
            token = mint_user_token("bench", secret=DEV_JWT_SECRET)
            api = httpx.Client(
                base_url=stack.gateway.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
            )
            dolthub = httpx.Client(base_url=cfg.dolthub_api_url, timeout=30)
            created = api.post(
                "/v1/wastelands",
                json={
                    "name": "bench",
                    "owner": {"type": "user"},
                    "visibility": "public",
                    "upstream": "hop/wl-commons",
                },
            )
            created.raise_for_status()
            wid = created.json()["wasteland_id"]
            deadline = time.monotonic() + 60
            while not api.get(f"/v1/wastelands/{wid}/wanted").json().get("synced_at"):
                if time.monotonic() > deadline:
                    raise SystemExit("board never synced")
                time.sleep(0.2)
            cached: list[float] = []
            direct: list[float] = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                api.get(
                    f"/v1/wastelands/{wid}/wanted", params={"status": "open"}
                ).raise_for_status()
                t1 = time.perf_counter()
                dolthub.get("/hop/wl-commons/main", params={"q": BROWSE_SQL}).raise_for_status()
                t2 = time.perf_counter()
                cached.append((t1 - t0) * 1000)
                direct.append((t2 - t1) * 1000)
    med_c, med_d = statistics.median(cached), statistics.median(direct)
    print(f"requests per variant: {args.requests} (interleaved, same run)")
    print(f"{'variant':<42}{'median ms':>10}{'p90 ms':>10}")
    rows = [
        ("gateway browse (board-sync cache)", cached),
        ("direct DoltHub sandbox read (loopback)", direct),
    ]
    for name, values in rows:
        print(f"{name:<42}{statistics.median(values):>10.2f}{_percentile(values, 0.9):>10.2f}")
    print(f"ratio direct/cached (median): {med_d / med_c:.2f}")


if __name__ == "__main__":
    main()
