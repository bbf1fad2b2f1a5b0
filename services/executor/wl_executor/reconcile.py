"""The lifecycle of workloads: decisions (admission under the cap, idle sleep, crash
recovery), applying them to the runtime (wake, sleep, health), and the reconcile loop.

The decisions are plain functions over the store with the time passed in, so they are
tested on both databases without a clock or a process. Each one records its decision in
the same transaction (a runtime chosen to sleep is marked ``stopping``), so two
deciders never pick the same workload twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import grpc
from sqlalchemy.orm import Session
from wasteland_common import errors
from wasteland_common.db import run_in_session

from . import activity, metrics, results, store
from .deps import ExecutorDeps
from .runtime import Endpoint

log = logging.getLogger(__name__)

RESTART_FAILURE = (
    "the executor restarted before the operation finished; its outcome is unknown, "
    "check the board before retrying"
)


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

    The wake runs as its own task: a caller that gives up does not leave a half-started
    workload behind. Raises RESOURCE_EXHAUSTED at the cap with nothing idle to evict,
    UNAVAILABLE when the workload cannot start (recorded as ``failed``).
    """
    task = deps.spawn(_wake(deps, wasteland_id, upstream))
    return await asyncio.shield(task)


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
        # Recorded outside the measured wake: the log is not part of waking.
        if not admission.already_running:
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
    if record is not None and record.endpoint and record.instance_id:
        with contextlib.suppress(ValueError):
            await deps.peers.forget_control(Endpoint.parse(record.endpoint, record.instance_id))


async def check_health(deps: ExecutorDeps, record: store.RuntimeRecord) -> bool:
    """Probe a running workload; an unhealthy one is stopped and marked ``failed``
    (the next operation re-creates it)."""
    endpoint: Endpoint | None = None
    if record.endpoint and record.instance_id:
        with contextlib.suppress(ValueError):
            endpoint = Endpoint.parse(record.endpoint, record.instance_id)
    if endpoint is not None and await deps.runtime.healthy(endpoint):
        return True
    if record.wasteland_id in deps.runtime.running():
        busy = await run_in_session(deps.sessions, store.running_operations, record.wasteland_id)
        if busy:
            # Alive but slow to answer while it runs `wl`: judging now would kill the
            # operation; the next pass looks again.
            log.warning("the workload of %s is busy and missed a health check", record.wasteland_id)
            return False
    async with deps.workload_lock(record.wasteland_id):
        current = await run_in_session(deps.sessions, store.get_runtime, record.wasteland_id)
        if (
            current is None
            or current.state != "running"
            or current.instance_id != record.instance_id
        ):
            return True  # replaced or stopped meanwhile: nothing to judge
        log.warning("the workload of %s failed its health check", record.wasteland_id)
        await _stop_process(deps, record.wasteland_id, current)
        await run_in_session(
            deps.sessions,
            mark_failed,
            record.wasteland_id,
            "the workload stopped answering its health check",
            now=deps.clock(),
        )
    return False


async def stop_strays(deps: ExecutorDeps) -> None:
    """Stop live workloads the database does not record as awake (after a failed
    transition), so the cap stays true."""
    for wasteland_id in deps.runtime.running():
        async with deps.workload_lock(wasteland_id):
            current = await run_in_session(deps.sessions, store.get_runtime, wasteland_id)
            if current is not None and current.state in ("running", "starting"):
                continue
            log.warning("stopping a stray workload of %s", wasteland_id)
            await _stop_process(deps, wasteland_id, current)


async def sleep_all(deps: ExecutorDeps) -> None:
    """Graceful shutdown: stop every workload and record each one ``sleeping``."""
    awake = deps.runtime.running()
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


# --- the loop -----------------------------------------------------------------------


async def reconcile_once(deps: ExecutorDeps) -> None:
    """One pass: idle workloads sleep, unhealthy ones are marked failed, strays stop."""
    now = deps.clock()
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
    for record in await run_in_session(deps.sessions, store.list_runtimes, ("running",)):
        await check_health(deps, record)
    await stop_strays(deps)
    metrics.AWAKE.set(
        await run_in_session(deps.sessions, store.count_runtimes, ("running", "starting"))
    )


async def run_loop(deps: ExecutorDeps, *, interval: float, stop: asyncio.Event) -> None:
    """Reconcile every ``interval`` seconds until ``stop`` is set; a failed pass is
    logged and the next one runs as usual."""
    while not stop.is_set():
        try:
            await reconcile_once(deps)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reconcile pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
