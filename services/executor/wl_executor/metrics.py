"""The executor's Prometheus metrics: wakes, their duration, sleeps, awake workloads.

Every runtime (local processes, Kubernetes) is measured through these objects: the wake
path in ``reconcile`` records them around ``Runtime.ensure_running``, so a runtime needs
no metrics code of its own; one that wants to add detail imports from here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

# A cold wake is seconds (local process) to a minute or more (a pod pulling its image).
WAKE_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)

WAKE_OUTCOMES = ("ok", "failed", "refused")

WAKES = Counter(
    "wasteland_wakes_total",
    "Wakes of a sleeping workload, by outcome: ok (it answers), failed (it did not start),"
    " refused (at MAX_INSTANCES with no idle workload to put to sleep).",
    ["outcome"],
)
WAKE_SECONDS = Histogram(
    "wasteland_wake_duration_seconds",
    "Time from the decision to wake a sleeping workload until it answered, or failed.",
    ["outcome"],
    buckets=WAKE_BUCKETS,
)
SLEEPS = Counter(
    "wasteland_sleeps_total",
    "Workloads put to sleep, by reason: idle (SLEEP_AFTER_SECONDS), instance cap, request.",
    ["reason"],
)
AWAKE = Gauge(
    "wasteland_workloads_awake",
    "Workloads recorded as running or starting, as of the last reconcile pass or wake.",
)


@dataclass
class WakeTimer:
    """The outcome of one wake; ``ok`` unless the wake says otherwise."""

    outcome: str = "ok"


@contextmanager
def timed_wake() -> Iterator[WakeTimer]:
    """Count and time one wake. An exception escaping the block counts as ``failed``
    unless the block set another outcome (``refused``)."""
    started = time.perf_counter()
    timer = WakeTimer()
    try:
        yield timer
    except BaseException:
        if timer.outcome == "ok":
            timer.outcome = "failed"
        raise
    finally:
        WAKES.labels(timer.outcome).inc()
        WAKE_SECONDS.labels(timer.outcome).observe(time.perf_counter() - started)
