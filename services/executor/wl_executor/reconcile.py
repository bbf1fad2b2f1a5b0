"""The lifecycle of workloads: decisions (admission under the cap, idle sleep, crash
recovery), applying them to the runtime (wake, sleep), and the level-based reconcile loop.

The decisions are plain functions over the store with the time passed in, so they are
tested on both databases without a clock or a process. Each one records its decision in
the same transaction (a runtime chosen to sleep is marked ``stopping``), so two
deciders never pick the same workload twice.

The loop compares, on every pass, what the runtime observes awake with what the database
records, and acts on the difference: a recorded workload that vanished or stopped
answering fails (it is re-created on next use), a replaced instance (a pod the cluster
re-created) is recorded, and an awake workload nobody recorded is adopted (when workloads
outlive the executor, as in a cluster) or stopped. Then idle workloads sleep and the cap
is enforced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import grpc
from sqlalchemy.orm import Session
from wasteland_common import errors
from wasteland_common.db import run_in_session

from . import activity, metrics, results, store
from .deps import ExecutorDeps
from .runtime import Endpoint, Workload

if TYPE_CHECKING:
    from .leader import LeaderElector

log = logging.getLogger(__name__)

RESTART_FAILURE = (
    "the executor restarted before the operation finished; its outcome is unknown, "
    "check the board before retrying"
)
WOKE_EVENT = "wasteland.woke"


@dataclass(frozen=True)
class Admission:
    """Whether a wake may go ahead, and which idle workloads must sleep first."""

    already_running: bool
    victims: tuple[str, ...] = ()


def admit(session: Session, wasteland_id: str, *, now: datetime, max_instances: int) -> Admission:
    """Decide whether ``wasteland_id`` may be awake; record it as ``starting`` if so.

    At the cap the least recently used idle workloads (running, no operation in flight)
    are marked ``stopping`` to make room; when there are not enough of them the wake is
    refused with RESOURCE_EXHAUSTED and nothing changes.
    """
    store.lock_runtimes(session)
    current = store.get_runtime(session, wasteland_id)
    if current is not None and current.state == "running":
        store.touch_runtime(session, wasteland_id, now)
        return Admission(already_running=True)
    awake = store.count_runtimes(session, ("running", "starting"), exclude=wasteland_id)
    needed = awake - max_instances + 1
    victims: tuple[str, ...] = ()
    if needed > 0:
        idle = store.idle_running(session, exclude=wasteland_id)
        if len(idle) < needed:
            raise errors.ResourceExhausted(
                "too many wastelands are awake right now; try again later", retry_after=60
            )
        victims = tuple(r.wasteland_id for r in idle[:needed])
        for victim in victims:
            store.set_runtime(session, victim, state="stopping", now=now)
    store.set_runtime(
        session, wasteland_id, state="starting", now=now, last_activity_at=now, failure=None
    )
    return Admission(already_running=False, victims=victims)


def select_idle(session: Session, *, now: datetime, sleep_after_seconds: float) -> list[str]:
    """Running workloads idle for ``sleep_after_seconds`` with nothing in flight, now
    marked ``stopping`` (the caller stops them)."""
    cutoff = now - timedelta(seconds=sleep_after_seconds)
    chosen = [r.wasteland_id for r in store.idle_running(session, active_before=cutoff)]
    for wasteland_id in chosen:
        store.set_runtime(session, wasteland_id, state="stopping", now=now)
    return chosen


def request_stop(session: Session, wasteland_id: str, *, now: datetime) -> bool:
    """Mark the workload ``stopping`` unless it already sleeps; whether it was marked."""
    current = store.get_runtime(session, wasteland_id)
    if current is None or current.state == "sleeping":
        return False
    store.set_runtime(session, wasteland_id, state="stopping", now=now)
    return True


def mark_running(session: Session, wasteland_id: str, endpoint: Endpoint, *, now: datetime) -> None:
    """Record a live workload; a new instance id starts a new ``started_at``."""
    current = store.get_runtime(session, wasteland_id)
    started_at = now
    if current is not None and current.instance_id == endpoint.instance_id and current.started_at:
        started_at = current.started_at
    store.set_runtime(
        session,
        wasteland_id,
        state="running",
        now=now,
        endpoint=endpoint.address,
        instance_id=endpoint.instance_id,
        started_at=started_at,
        last_activity_at=now,
        failure=None,
    )


def record_replacement(
    session: Session, wasteland_id: str, endpoint: Endpoint, *, now: datetime
) -> None:
    """Record the instance that replaced a running one (a re-created pod): a new
    ``started_at``, the same last activity (a replacement is not a use)."""
    current = store.get_runtime(session, wasteland_id)
    store.set_runtime(
        session,
        wasteland_id,
        state="running",
        now=now,
        endpoint=endpoint.address,
        instance_id=endpoint.instance_id,
        started_at=now,
        last_activity_at=current.last_activity_at if current is not None else now,
        failure=None,
    )


def mark_failed(session: Session, wasteland_id: str, reason: str, *, now: datetime) -> None:
    """Record that the workload failed (it is re-created on next use)."""
    store.set_runtime(
        session,
        wasteland_id,
        state="failed",
        now=now,
        endpoint=None,
        instance_id=None,
        failure=reason[:2000],
    )


def finish_sleep(session: Session, wasteland_id: str, *, now: datetime) -> bool:
    """``stopping`` → ``sleeping``; False (nothing changed) if the state moved on."""
    current = store.get_runtime(session, wasteland_id)
    if current is None or current.state != "stopping":
        return False
    store.set_runtime(
        session,
        wasteland_id,
        state="sleeping",
        now=now,
        endpoint=None,
        instance_id=None,
        started_at=None,
    )
    return True


def select_over_cap(session: Session, *, now: datetime, max_instances: int) -> list[str]:
    """When more workloads are awake than the cap allows (after adopting ones found
    awake), the least recently used idle ones, now marked ``stopping``."""
    store.lock_runtimes(session)
    excess = store.count_runtimes(session, ("running", "starting")) - max_instances
    if excess <= 0:
        return []
    chosen = [r.wasteland_id for r in store.idle_running(session)[:excess]]
    for wasteland_id in chosen:
        store.set_runtime(session, wasteland_id, state="stopping", now=now)
    return chosen


def fail_operations(
    session: Session, operation_ids: list[str], *, now: datetime, message: str = RESTART_FAILURE
) -> None:
    """Record an honest "outcome unknown" for operations that lost their task."""
    for op in store.running_operations(session):
        if op.operation_id in operation_ids:
            result = results.failed(op, grpc.StatusCode.UNAVAILABLE, message)
            store.finish_operation(
                session, op.operation_id, status="failed", result=results.to_json(result), now=now
            )


def fail_abandoned_operations(
    session: Session, *, now: datetime, older_than_seconds: float
) -> list[str]:
    """Operations still marked running long after any replica could still be running
    them (their replica died): failed with "outcome unknown", so they stop holding
    their workload awake."""
    cutoff = now - timedelta(seconds=older_than_seconds)
    stale = [op.operation_id for op in store.running_operations(session) if op.created_at < cutoff]
    fail_operations(session, stale, now=now)
    return stale


@dataclass(frozen=True)
class Recovery:
    """What start-up recovery changed."""

    runtimes_put_to_sleep: tuple[str, ...]
    operations_failed: tuple[str, ...]


def recover_after_restart(session: Session, *, now: datetime) -> Recovery:
    """At executor start: workloads recorded awake lost their process (the local runtime
    cannot adopt processes), so they sleep; operations still running lost their task, so
    they fail with an honest "outcome unknown"."""
    awake = store.list_runtimes(session, ("running", "starting", "stopping"))
    for record in awake:
        store.set_runtime(
            session,
            record.wasteland_id,
            state="sleeping",
            now=now,
            endpoint=None,
            instance_id=None,
            started_at=None,
        )
    orphaned = store.running_operations(session)
    for op in orphaned:
        result = results.failed(op, grpc.StatusCode.UNAVAILABLE, RESTART_FAILURE)
        store.finish_operation(
            session, op.operation_id, status="failed", result=results.to_json(result), now=now
        )
    return Recovery(
        runtimes_put_to_sleep=tuple(r.wasteland_id for r in awake),
        operations_failed=tuple(o.operation_id for o in orphaned),
    )


# --- applying decisions to the runtime ------------------------------------------------


async def wake(deps: ExecutorDeps, wasteland_id: str, upstream: str) -> Endpoint:
    """The live workload of ``wasteland_id``, woken (and recorded) when it sleeps.

    Concurrent callers for one wasteland share one wake. The wake runs as its own task:
    a caller that gives up does not leave a half-started workload behind. Raises
    RESOURCE_EXHAUSTED at the cap with nothing idle to evict, UNAVAILABLE when the
    workload cannot start within its bound (recorded as ``failed``).
    """
    task = deps.wakes.get(wasteland_id)
    if task is None or task.done():
        task = deps.spawn(_wake(deps, wasteland_id, upstream))
        deps.wakes[wasteland_id] = task
        task.add_done_callback(lambda t: _forget_wake(deps, wasteland_id, t))
    endpoint: Endpoint = await asyncio.shield(task)
    return endpoint


def _forget_wake(deps: ExecutorDeps, wasteland_id: str, task: asyncio.Task[Endpoint]) -> None:
    if deps.wakes.get(wasteland_id) is task:
        del deps.wakes[wasteland_id]


async def _wake(deps: ExecutorDeps, wasteland_id: str, upstream: str) -> Endpoint:
    async with deps.workload_lock(wasteland_id):
        try:
            async with deps.admission_lock:
                admission = await run_in_session(
                    deps.sessions,
                    admit,
                    wasteland_id,
                    now=deps.clock(),
                    max_instances=deps.limits.max_instances,
                )
        except errors.ResourceExhausted:
            metrics.WAKES.labels("refused").inc()
            raise
        # Only a real wake (not a call to a workload already running) is measured.
        measured = (
            metrics.timed_wake() if not admission.already_running else contextlib.nullcontext()
        )
        started = time.monotonic()
        with measured:
            for victim in admission.victims:
                await put_to_sleep(deps, victim, reason="instance cap")
            if not admission.already_running:
                log.info("waking the workload of %s", wasteland_id)
            try:
                endpoint = await deps.runtime.ensure_running(wasteland_id, upstream)
            except Exception as exc:
                reason = str(exc) if isinstance(exc, errors.DomainError) else type(exc).__name__
                if not isinstance(exc, errors.DomainError):
                    log.exception("starting the workload of %s failed", wasteland_id)
                await run_in_session(
                    deps.sessions, mark_failed, wasteland_id, reason, now=deps.clock()
                )
                if isinstance(exc, errors.DomainError) and exc.code in (
                    grpc.StatusCode.UNIMPLEMENTED,
                    grpc.StatusCode.INVALID_ARGUMENT,
                ):
                    raise
                raise errors.Unavailable(
                    "the wasteland's workload could not start; try again later", retry_after=10
                ) from exc
            await run_in_session(
                deps.sessions, mark_running, wasteland_id, endpoint, now=deps.clock()
            )
        if not admission.already_running:
            seconds = time.monotonic() - started
            log.info(
                "%s: the workload of %s answers after %.3f s",
                WOKE_EVENT,
                wasteland_id,
                seconds,
                extra={"event": WOKE_EVENT, "duration_ms": round(seconds * 1000, 1)},
            )
            # Recorded outside the measured wake: the log is not part of waking.
            await activity.woke(deps.activity, wasteland_id)
        return endpoint


async def put_to_sleep(deps: ExecutorDeps, wasteland_id: str, *, reason: str) -> bool:
    """Stop a workload marked ``stopping`` and record it ``sleeping``.

    Does nothing (False) if, by the time the workload's lock is held, its state moved on
    (a wake claimed it again).
    """
    async with deps.workload_lock(wasteland_id):
        current = await run_in_session(deps.sessions, store.get_runtime, wasteland_id)
        if current is None or current.state != "stopping":
            return False
        await _stop_process(deps, wasteland_id, current)
        slept = await run_in_session(deps.sessions, finish_sleep, wasteland_id, now=deps.clock())
    if slept:
        metrics.SLEEPS.labels(reason).inc()
        log.info("the workload of %s went to sleep (%s)", wasteland_id, reason)
        await activity.slept(deps.activity, wasteland_id, reason)
    return slept


async def stop_now(deps: ExecutorDeps, wasteland_id: str) -> None:
    """Stop the workload whatever it is doing and record it ``sleeping``."""
    async with deps.workload_lock(wasteland_id):
        marked = await run_in_session(deps.sessions, request_stop, wasteland_id, now=deps.clock())
        current = await run_in_session(deps.sessions, store.get_runtime, wasteland_id)
        await _stop_process(deps, wasteland_id, current)
        if marked:
            await run_in_session(deps.sessions, finish_sleep, wasteland_id, now=deps.clock())
            metrics.SLEEPS.labels("request").inc()
            log.info("the workload of %s was stopped on request", wasteland_id)
    if marked:
        await activity.slept(deps.activity, wasteland_id, "stopped on request", on_request=True)


async def _stop_process(
    deps: ExecutorDeps, wasteland_id: str, record: store.RuntimeRecord | None
) -> None:
    try:
        await deps.runtime.stop(wasteland_id)
    except errors.DomainError:
        raise
    except Exception:
        log.exception("stopping the workload of %s failed", wasteland_id)
    await _forget_channel(deps, record)


async def _forget_channel(deps: ExecutorDeps, record: store.RuntimeRecord | None) -> None:
    if record is not None and record.endpoint and record.instance_id:
        with contextlib.suppress(ValueError):
            await deps.peers.forget_control(Endpoint.parse(record.endpoint, record.instance_id))


async def sleep_all(deps: ExecutorDeps) -> None:
    """Graceful shutdown of the local runtime: stop every workload and record each one
    ``sleeping``."""
    awake = list(await deps.runtime.observe())
    await deps.runtime.shutdown()
    now = deps.clock()

    def record(session: Session) -> None:
        for wasteland_id in awake:
            store.set_runtime(
                session,
                wasteland_id,
                state="sleeping",
                now=now,
                endpoint=None,
                instance_id=None,
                started_at=None,
            )

    await run_in_session(deps.sessions, record)


# --- judging what the runtime observes ------------------------------------------------


def _within_grace(deps: ExecutorDeps, since: datetime | None, now: datetime) -> bool:
    """Whether a workload that started (re)starting at ``since`` may still be coming up."""
    return since is not None and now - since < timedelta(seconds=deps.limits.start_timeout_seconds)


async def _fail(deps: ExecutorDeps, current: store.RuntimeRecord, reason: str) -> None:
    log.warning("the workload of %s failed: %s", current.wasteland_id, reason)
    await _stop_process(deps, current.wasteland_id, current)
    await run_in_session(deps.sessions, mark_failed, current.wasteland_id, reason, now=deps.clock())


async def _judge_awake(deps: ExecutorDeps, workload: Workload, now: datetime) -> None:
    """Act on one workload the runtime observed awake (caller holds its lock)."""
    wasteland_id = workload.wasteland_id
    current = await run_in_session(deps.sessions, store.get_runtime, wasteland_id)
    state = current.state if current is not None else None
    ready = workload.ready
    if current is not None and state == "running":
        if ready is not None:
            if ready.instance_id != current.instance_id or ready.address != current.endpoint:
                log.warning(
                    "the workload of %s was replaced (instance %s, was %s)",
                    wasteland_id,
                    ready.instance_id,
                    current.instance_id,
                )
                await _forget_channel(deps, current)
                await run_in_session(
                    deps.sessions, record_replacement, wasteland_id, ready, now=now
                )
            return
        if await run_in_session(deps.sessions, store.running_operations, wasteland_id):
            # Alive but slow to answer while it runs `wl`: judging now would kill the
            # operation; the next pass looks again.
            log.warning("the workload of %s is busy and does not answer", wasteland_id)
            return
        if not _within_grace(deps, workload.unready_since, now):
            await _fail(deps, current, "the workload stopped answering its health check")
        return
    if current is not None and state == "starting":
        # A wake in progress, here or on another replica; judged only when it is far
        # older than any wake may take (its replica died mid-wake).
        if not _stale_start(deps, current, now):
            return
        if ready is not None:
            await run_in_session(deps.sessions, mark_running, wasteland_id, ready, now=now)
        else:
            await _fail(deps, current, "the workload did not start")
        return
    if state == "stopping":
        return  # the sleep pass finishes it
    # Awake, but recorded asleep, failed or never: left over from an earlier executor,
    # a wake that timed out, or made by hand.
    if ready is not None and deps.runtime.outlives_executor:
        log.info("adopting the workload of %s found awake (%s)", wasteland_id, ready.instance_id)
        await run_in_session(deps.sessions, mark_running, wasteland_id, ready, now=now)
        return
    if ready is None and _within_grace(deps, workload.unready_since, now):
        return
    log.warning("stopping a stray workload of %s", wasteland_id)
    await _stop_process(deps, wasteland_id, current)


def _stale_start(deps: ExecutorDeps, record: store.RuntimeRecord, now: datetime) -> bool:
    """A ``starting`` record far older than any wake may take: its replica died mid-wake."""
    since = record.last_activity_at
    limit = timedelta(seconds=2 * deps.limits.start_timeout_seconds)
    return since is None or now - since >= limit


async def _judge_vanished(deps: ExecutorDeps, before: store.RuntimeRecord, now: datetime) -> None:
    """A workload recorded awake before the observation that the runtime no longer has
    (its process died, its Deployment was scaled down or deleted); caller holds the lock."""
    current = await run_in_session(deps.sessions, store.get_runtime, before.wasteland_id)
    if current is None or current.instance_id != before.instance_id:
        return  # re-woken or re-recorded since
    if current.state == "running":
        await _fail(deps, current, "the workload stopped")
    elif current.state == "starting" and _stale_start(deps, current, now):
        await _fail(deps, current, "the workload did not start")


# --- the loop -----------------------------------------------------------------------


async def reconcile_once(deps: ExecutorDeps) -> None:
    """One level-based pass: compare what is awake with what is recorded and act on
    the difference; idle workloads sleep; the cap holds."""
    now = deps.clock()
    # Read the records before observing: a record that says "running" then describes a
    # workload that was running before the observation began.
    before = {
        r.wasteland_id: r
        for r in await run_in_session(deps.sessions, store.list_runtimes, ("running", "starting"))
    }
    observed = await deps.runtime.observe()
    for wasteland_id in dict.fromkeys([*observed, *before]):
        lock = deps.workload_lock(wasteland_id)
        if lock.locked():
            continue  # a wake or a sleep is under way in this process: next pass
        async with lock:
            workload = observed.get(wasteland_id)
            if workload is not None:
                await _judge_awake(deps, workload, now)
            else:
                await _judge_vanished(deps, before[wasteland_id], now)
    idle = await run_in_session(
        deps.sessions,
        select_idle,
        now=now,
        sleep_after_seconds=deps.limits.sleep_after_seconds,
    )
    # Also finish any stop an earlier pass or wake could not complete.
    stopping = await run_in_session(deps.sessions, store.list_runtimes, ("stopping",))
    for wasteland_id in dict.fromkeys([*idle, *(r.wasteland_id for r in stopping)]):
        await put_to_sleep(deps, wasteland_id, reason="idle")
    over = await run_in_session(
        deps.sessions, select_over_cap, now=now, max_instances=deps.limits.max_instances
    )
    for wasteland_id in over:
        await put_to_sleep(deps, wasteland_id, reason="instance cap")
    if deps.runtime.outlives_executor:
        limits = deps.limits
        abandoned = await run_in_session(
            deps.sessions,
            fail_abandoned_operations,
            now=now,
            older_than_seconds=limits.operation_timeout_seconds + limits.start_timeout_seconds,
        )
        if abandoned:
            log.warning("%d abandoned operations marked failed", len(abandoned))
    metrics.AWAKE.set(
        await run_in_session(deps.sessions, store.count_runtimes, ("running", "starting"))
    )


async def run_loop(
    deps: ExecutorDeps,
    *,
    interval: float,
    stop: asyncio.Event,
    leader: LeaderElector | None = None,
) -> None:
    """Reconcile every ``interval`` seconds until ``stop`` is set, only while ``leader``
    (when given) holds the lease, at once when it gains it; a failed pass is logged and
    the next one runs as usual."""
    while not stop.is_set():
        if leader is None or leader.leading:
            try:
                await reconcile_once(deps)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile pass failed")
        waits: list[asyncio.Future[object]] = [asyncio.ensure_future(stop.wait())]
        if leader is not None:
            waits.append(asyncio.ensure_future(leader.wait_changed(interval)))
        _, pending = await asyncio.wait(
            waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
