"""wake: a sleeping wasteland's first action, beside the same action warm.

Each repetition, for each variant: put the workload to sleep with the executor's
``StopRuntime`` (service identity ``gateway``, as on a delete), wait until the runtime
reads ``sleeping``, then time ``POST …/claim`` (answered ``succeeded``), unclaim, and
time the same claim again with the workload awake (then unclaim again).

- local runtime: the workload restarts as the local runtime does it; its work directory
  survives, so alice's rig is still joined;
- fresh disk: the rig's `wl` configuration is removed while the workload sleeps, as a
  Kubernetes pod starts with an empty disk, so the first action runs ``wl join`` first.

The difference cold - warm (paired within a repetition) is broken down from the
executor's structured log (it relays every control-server line): gateway to wake
decision, workload start (process spawn until its "listening on" line), readiness
(until the health check passes), ``wl join`` (its run and verification) and the rest
(the action itself). The executor's ``wasteland_wake_duration_seconds`` histogram is read
from its ``/metrics`` as a cross-check of start + readiness.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
from wasteland.v1 import executor_pb2, executor_pb2_grpc
from wasteland_common.auth import SERVICE_METADATA_KEY

from ..harness import OWNER, Bench, BenchError, LogEvent, LogTail, metric, scrape
from ..options import Options
from ..report import Row, ScenarioResult, Target
from ..stats import median
from .action import GATEWAY_ITEM

SCENARIO = "wake"
VARIANTS = ("local", "fresh")
LABEL = {"local": "local runtime", "fresh": "fresh disk (as a pod)"}
PHASES = ("to wake decision", "workload start", "readiness", "wl join", "action")


@dataclass
class Cold:
    """One cold action: its time, the warm one beside it, and its phases (ms)."""

    cold_ms: float
    warm_ms: float
    phases: dict[str, float] = field(default_factory=dict)


def _stop(bench: Bench) -> None:
    with grpc.insecure_channel(bench.stack.executor.addr) as channel:
        executor_pb2_grpc.ExecutorServiceStub(channel).StopRuntime(
            executor_pb2.StopRuntimeRequest(wasteland_id=bench.wasteland_id),
            metadata=[(SERVICE_METADATA_KEY, "Bearer " + bench.service_token("gateway"))],
            timeout=60,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = bench.api.get(f"/v1/wastelands/{bench.wasteland_id}/runtime").json()["state"]
        if state == "sleeping":
            return
        time.sleep(0.2)
    raise BenchError("the workload did not go to sleep")


def _claim(bench: Bench) -> tuple[float, float]:
    """Claim the item; (wall-clock start, seconds)."""
    wall = time.time()
    started = time.perf_counter()
    resp = bench.api.post(f"/v1/wastelands/{bench.wasteland_id}/wanted/{GATEWAY_ITEM}/claim")
    elapsed = time.perf_counter() - started
    if resp.status_code != 200 or resp.json().get("status") != "succeeded":
        raise BenchError(f"claim: {resp.status_code} {resp.text[:500]}")
    return wall, elapsed


def _unclaim(bench: Bench) -> None:
    resp = bench.api.post(f"/v1/wastelands/{bench.wasteland_id}/wanted/{GATEWAY_ITEM}/unclaim")
    if resp.status_code != 200:
        raise BenchError(f"unclaim: {resp.status_code} {resp.text[:500]}")


def _at(events: list[LogEvent], predicate: Any) -> float | None:
    for event in events:
        if predicate(event):
            return event.time.timestamp()
    return None


def phases_of(
    events: list[LogEvent], wasteland_id: str, started: float, answered: float
) -> dict[str, float]:
    """The phases (ms) of a cold action that started at ``started`` and was answered at
    ``answered`` (epoch seconds), from the executor's log events in between."""
    wake = _at(events, lambda e: e.message == f"waking the workload of {wasteland_id}")
    listening = _at(events, lambda e: e.source == "control" and "listening on" in e.message)
    ready = _at(events, lambda e: e.message.startswith(f"control server for {wasteland_id} ready"))
    if wake is None or listening is None or ready is None:
        raise BenchError("the executor's log does not show the wake (is LOG_FORMAT json?)")
    join_ms = 0.0
    for event in events:
        if (
            event.source == "control"
            and event.fields.get("event") == "wl_run"
            and event.fields.get("operation") == "join"
        ):
            duration = float(event.fields.get("duration_ms", 0))
            join_started = event.time.timestamp() - duration / 1000
            joined = _at(
                events,
                lambda e: e.source == "control" and e.fields.get("event") == "rig_joined",
            )
            join_ms = ((joined or event.time.timestamp()) - join_started) * 1000
            break
    return {
        "to wake decision": (wake - started) * 1000,
        "workload start": (listening - wake) * 1000,
        "readiness": (ready - listening) * 1000,
        "wl join": join_ms,
        "action": (answered - ready) * 1000 - join_ms,
    }


def _wake_metric(bench: Bench) -> tuple[float, float]:
    samples = scrape(bench.metrics_url("executor"))
    return (
        metric(samples, "wasteland_wake_duration_seconds_sum", outcome="ok"),
        metric(samples, "wasteland_wake_duration_seconds_count", outcome="ok"),
    )


def run(bench: Bench, options: Options) -> ScenarioResult:
    """``options.wake_reps`` repetitions of each variant, interleaved."""
    rigs = bench.cfg.data_dir / "executor" / bench.wasteland_id / "rigs"
    tail = LogTail(bench.stack.executor.log_path or bench.cfg.log("executor"))
    _claim(bench)  # warm-up: the workload is awake and the rig joined
    _unclaim(bench)
    colds: dict[str, list[Cold]] = {v: [] for v in VARIANTS}
    metric_before = _wake_metric(bench)
    for index in range(options.wake_reps):
        order = VARIANTS if index % 2 == 0 else tuple(reversed(VARIANTS))
        for variant in order:
            _stop(bench)
            if variant == "fresh":
                shutil.rmtree(rigs / OWNER, ignore_errors=True)
            tail.mark()
            wall, cold = _claim(bench)
            events = tail.events()
            phases = phases_of(events, bench.wasteland_id, wall, wall + cold)
            _unclaim(bench)
            _, warm = _claim(bench)
            _unclaim(bench)
            colds[variant].append(Cold(cold * 1000, warm * 1000, phases))
            print(
                f"  wake {index + 1} ({variant}): cold {cold * 1000:.0f} ms,"
                f" warm {warm * 1000:.0f} ms, phases "
                + ", ".join(f"{k} {v:.0f}" for k, v in phases.items())
            )
    metric_after = _wake_metric(bench)
    wakes = metric_after[1] - metric_before[1]
    wake_metric_ms = (metric_after[0] - metric_before[0]) / wakes * 1000 if wakes else float("nan")
    return ScenarioResult(
        rows=rows_of(colds, wake_metric_ms),
        data={
            "colds": {
                v: [{"cold_ms": c.cold_ms, "warm_ms": c.warm_ms, "phases_ms": c.phases} for c in cs]
                for v, cs in colds.items()
            },
            "executor_wake_metric_mean_ms": wake_metric_ms,
            "executor_wakes_counted": wakes,
        },
    )


def _ms_row(measure: str, values: list[float], **kw: Any) -> Row:
    return Row.latency(SCENARIO, measure, values, **kw)


def rows_of(colds: dict[str, list[Cold]], wake_metric_ms: float) -> list[Row]:
    """Warm and cold times, the overheads (local one against its target), the phases."""
    warm = [c.warm_ms for cs in colds.values() for c in cs]
    rows = [_ms_row("claim, warm", warm)]
    for variant in VARIANTS:
        rows.append(_ms_row(f"claim, cold: {LABEL[variant]}", [c.cold_ms for c in colds[variant]]))
    for variant in VARIANTS:
        overhead = median([c.cold_ms - c.warm_ms for c in colds[variant]])
        rows.append(
            Row(
                scenario=SCENARIO,
                measure=f"wake overhead (cold - warm): {LABEL[variant]}",
                value=overhead,
                unit="ms",
                n=len(colds[variant]),
                target=Target("<=", 1000.0) if variant == "local" else None,
                note=(
                    "the target is set for the local runtime; a pod also re-joins its rigs"
                    if variant == "fresh"
                    else ""
                ),
            )
        )
        for phase in PHASES:
            values = [c.phases[phase] for c in colds[variant]]
            if phase == "wl join" and not any(values):
                continue
            rows.append(
                Row(
                    scenario=SCENARIO,
                    measure=f"  ↳ {phase}",
                    value=median(values),
                    unit="ms",
                    n=len(values),
                )
            )
    rows.append(
        Row(
            scenario=SCENARIO,
            measure="executor wake histogram, mean",
            value=wake_metric_ms,
            unit="ms",
            note=(
                "wasteland_wake_duration_seconds from the executor's /metrics: decision to"
                " a workload that answers (≈ workload start + readiness)"
            ),
        )
    )
    return rows
