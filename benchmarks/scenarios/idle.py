"""idle: what tracking idle wastelands costs — DoltHub requests and board-sync CPU.

The sandbox was seeded with public commons under ``bench-idle`` that nobody writes
(:func:`benchmarks.harness.seed_sandbox`). For each step (100, then 1,000 wastelands)
fresh wastelands are registered with board-sync's ``TrackWasteland`` (service identity
``registry``, as the registry does on create), each on its own idle commons, with a
*shortened* poll interval (at least 30 s, and long enough that the scheduler keeps up:
about 8 polls a second). After every one of them has had its first (full) sync, a window
of ``idle_window_s`` is measured:

- polls: board-sync's ``wasteland_board_syncs_total`` (its ``/metrics``);
- DoltHub requests of those polls: the sandbox's counters, minus the databases that
  are not idle commons;
- board-sync CPU: user + system time from ``/proc/<pid>/stat``, minus its idle rate
  measured first with nothing extra tracked (scheduler ticks, health checks).

Then scaled to the default interval (``POLL_INTERVAL_SECONDS``, 300 s): requests per
wasteland-hour = requests per poll x 3600 / 300; CPU per poll cycle = N x CPU per poll +
the idle rate x 300 s; the share of one core = that / 300 s. The two steps are
extrapolated linearly to 10,000 wastelands. Each step's wastelands are untracked
afterwards.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import grpc
from wasteland.v1 import board_pb2, board_pb2_grpc
from wasteland_common.auth import SERVICE_METADATA_KEY
from wl_board_sync.schedule import ScheduleConfig

from ..harness import (
    DIRECT_USER,
    IDLE_OWNER,
    OWNER,
    Bench,
    BenchError,
    LogEvent,
    LogTail,
    cpu_seconds,
    idle_commons_name,
    metric,
    scrape,
)
from ..options import Options
from ..report import Row, ScenarioResult, Target

SCENARIO = "idle"
EXTRAPOLATE_TO = 10_000
# Databases that are not idle commons (their requests are not the idle polls').
NOT_IDLE = (("hop", "wl-commons"), ("kilo-wastelands", "wl-template"))


@dataclass(frozen=True)
class Step:
    """One measured window with ``tracked`` idle wastelands."""

    tracked: int
    interval_s: int
    window_s: float
    polls: float
    requests: int
    by_route: dict[str, int]
    cpu_s: float

    def requests_per_poll(self) -> float:
        return self.requests / self.polls if self.polls else math.nan

    def cpu_per_poll(self, idle_rate: float) -> float:
        """CPU seconds of one poll, the idle rate of the window taken out."""
        if not self.polls:
            return math.nan
        return max(0.0, self.cpu_s - idle_rate * self.window_s) / self.polls

    def cycle_cpu(self, idle_rate: float, interval_s: float) -> float:
        """CPU seconds per default poll cycle with ``tracked`` wastelands."""
        return self.tracked * self.cpu_per_poll(idle_rate) + idle_rate * interval_s


def interval_for(tracked: int) -> int:
    """The shortened poll interval of a step: ≥ 30 s, ≈ 8 polls a second at most."""
    return max(30, math.ceil(tracked / 8))


def extrapolate(points: list[tuple[int, float]], target: int) -> float:
    """The straight line through the last two ``(x, y)`` points, at ``target``."""
    if len(points) == 1:
        x, y = points[0]
        return y * target / x
    (x1, y1), (x2, y2) = points[-2], points[-1]
    slope = (y2 - y1) / (x2 - x1)
    return y2 + slope * (target - x2)


class Board:
    """board-sync's tracking RPCs and metrics."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.channel = grpc.insecure_channel(bench.stack.board.addr)
        self.stub = board_pb2_grpc.BoardServiceStub(self.channel)
        self.url = bench.metrics_url("board-sync")

    def _metadata(self) -> list[tuple[str, str]]:
        return [(SERVICE_METADATA_KEY, "Bearer " + self.bench.service_token("registry"))]

    def track(self, wasteland_id: str, upstream: str, interval_s: int) -> None:
        self.stub.TrackWasteland(
            board_pb2.TrackWastelandRequest(
                wasteland_id=wasteland_id, upstream=upstream, poll_interval_seconds=interval_s
            ),
            metadata=self._metadata(),
            timeout=30,
        )

    def untrack(self, wasteland_id: str) -> None:
        self.stub.UntrackWasteland(
            board_pb2.UntrackWastelandRequest(wasteland_id=wasteland_id),
            metadata=self._metadata(),
            timeout=30,
        )

    def syncs(self) -> float:
        """Every sync so far (ok and failed)."""
        return metric(scrape(self.url), "wasteland_board_syncs_total")

    def close(self) -> None:
        self.channel.close()


def _known_counts(bench: Bench) -> dict[str, int]:
    """Requests on databases that are not idle commons (plus the users' forks)."""
    known: dict[str, int] = {}
    targets = [*NOT_IDLE, (OWNER, "wl-commons"), (DIRECT_USER, "wl-commons")]
    for owner, db in targets:
        for kind, count in bench.sandbox.counts(owner, db).items():
            known[kind] = known.get(kind, 0) + count
    return known


_SYNCED = re.compile(r"^synced (?P<wasteland>\S+) at ")


def first_synced(events: list[LogEvent]) -> set[str]:
    """Wastelands whose tables a sync read ("synced <id> at <head>: …" lines)."""
    return {m["wasteland"] for e in events if (m := _SYNCED.match(e.message))}


def _idle_rate(bench: Bench, seconds: float) -> float:
    pid = bench.stack.board.popen.pid
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)


def measure_step(
    board: Board, bench: Bench, step: int, tracked: int, first: int, window: float
) -> Step:
    """Track ``tracked`` wastelands on commons ``first``…, wait for their first syncs,
    measure one window, untrack them."""
    interval = interval_for(tracked)
    # At least one interval: every wasteland is polled in the window.
    window = max(window, float(interval))
    ids = [f"bench-idle-{step}-{i:04d}" for i in range(tracked)]
    log = LogTail(bench.stack.board.log_path or bench.cfg.log("board-sync"))
    for offset, wasteland_id in enumerate(ids):
        board.track(wasteland_id, f"{IDLE_OWNER}/{idle_commons_name(first + offset)}", interval)
    # Every new wasteland's first sync reads its tables and logs "synced <id> at <head>";
    # the window starts once all of them did, so it holds idle polls only.
    waiting = set(ids)
    deadline = time.monotonic() + 120 + tracked
    while waiting:
        if time.monotonic() > deadline:
            raise BenchError(f"board-sync did not sync {len(waiting)} new wastelands in time")
        time.sleep(1.0)
        waiting -= first_synced(log.events())
    print(f"  idle {tracked}: first syncs done; measuring {window:.0f} s (interval {interval} s)")
    time.sleep(2.0)
    pid = bench.stack.board.popen.pid
    bench.sandbox.reset()
    cpu0, polls0, t0 = cpu_seconds(pid), board.syncs(), time.monotonic()
    time.sleep(window)
    cpu1, polls1, t1 = cpu_seconds(pid), board.syncs(), time.monotonic()
    counts = bench.sandbox.counts()
    known = _known_counts(bench)
    idle_counts = {k: v - known.get(k, 0) for k, v in counts.items() if v - known.get(k, 0)}
    for wasteland_id in ids:
        board.untrack(wasteland_id)
    return Step(
        tracked=tracked,
        interval_s=interval,
        window_s=t1 - t0,
        polls=polls1 - polls0,
        requests=sum(idle_counts.values()),
        by_route=idle_counts,
        cpu_s=cpu1 - cpu0,
    )


def run(bench: Bench, options: Options) -> ScenarioResult:
    """Idle rate first, then each step of ``options.idle_sizes``."""
    board = Board(bench)
    try:
        idle_rate = _idle_rate(bench, options.idle_baseline_s)
        print(f"  idle: board-sync at rest uses {idle_rate * 100:.2f} % of a core")
        steps: list[Step] = []
        first = 1
        for index, tracked in enumerate(options.idle_sizes):
            step = measure_step(board, bench, index, tracked, first, options.idle_window_s)
            first += tracked
            steps.append(step)
            print(
                f"  idle {tracked}: {step.polls:.0f} polls, {step.requests_per_poll():.2f}"
                f" requests/poll, {step.cpu_per_poll(idle_rate) * 1000:.1f} ms CPU/poll"
            )
    finally:
        board.close()
    interval = float(bench.cfg.poll_interval_seconds)
    return ScenarioResult(
        rows=rows_of(steps, idle_rate, interval),
        data={
            "idle_rate_cores": idle_rate,
            "default_interval_s": interval,
            "steps": [
                {
                    **step.__dict__,
                    "requests_per_poll": step.requests_per_poll(),
                    "cpu_per_poll_s": step.cpu_per_poll(idle_rate),
                    "cycle_cpu_s": step.cycle_cpu(idle_rate, interval),
                }
                for step in steps
            ],
        },
    )


def scheduler_note() -> str:
    """What bounds how many wastelands one replica polls per interval at the default
    schedule (not the tick: a tick that takes a full batch is followed at once)."""
    config = ScheduleConfig()
    return (
        f"a tick leases up to {config.batch} due wastelands and a full batch is followed at"
        f" once by the next, polled {config.concurrency} at a time: one replica's ceiling is"
        f" {config.concurrency} polls per head-read latency"
    )


def rows_of(steps: list[Step], idle_rate: float, interval_s: float) -> list[Row]:
    """Requests per wasteland-hour and CPU per cycle per step, then the extrapolation."""
    rows: list[Row] = []
    per_hour = 3600.0 / interval_s
    for step in steps:
        routes = ", ".join(
            f"{k} {v / step.polls:.2f}" for k, v in sorted(step.by_route.items()) if step.polls
        )
        rows.append(
            Row(
                scenario=SCENARIO,
                measure=f"DoltHub requests per wasteland-hour, {step.tracked} tracked",
                value=step.requests_per_poll() * per_hour,
                unit="req",
                n=int(step.polls),
                target=Target("<=", 12.0),
                note=(
                    f"{step.requests_per_poll():.2f} requests per poll ({routes}) measured at a"
                    f" {step.interval_s} s interval over {step.window_s:.0f} s, x {per_hour:g}"
                    f" polls an hour at the default {interval_s:.0f} s"
                ),
            )
        )
        rows.append(
            Row(
                scenario=SCENARIO,
                measure=f"board-sync CPU per poll, {step.tracked} tracked",
                value=step.cpu_per_poll(idle_rate) * 1000,
                unit="ms",
                n=int(step.polls),
            )
        )
        rows.append(
            Row(
                scenario=SCENARIO,
                measure=f"board-sync CPU per {interval_s:.0f} s cycle, {step.tracked} tracked",
                value=step.cycle_cpu(idle_rate, interval_s),
                unit="s",
            )
        )
    points = [(s.tracked, s.cycle_cpu(idle_rate, interval_s)) for s in steps]
    projected = extrapolate(points, EXTRAPOLATE_TO)
    rows += [
        Row(
            scenario=SCENARIO,
            measure=f"board-sync CPU per cycle, {EXTRAPOLATE_TO:,} tracked (extrapolated)",
            value=projected,
            unit="s",
            note=f"a straight line through the {len(points)} measured steps",
        ),
        Row(
            scenario=SCENARIO,
            measure=f"board-sync share of one core, {EXTRAPOLATE_TO:,} tracked",
            value=projected / interval_s * 100,
            unit="%",
            target=Target("<=", 10.0),
            note=(
                f"board-sync at rest: {idle_rate * 100:.2f} % of a core. At the default"
                f" schedule {scheduler_note()}"
            ),
        ),
    ]
    return rows
