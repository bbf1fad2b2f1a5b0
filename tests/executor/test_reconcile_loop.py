"""Applying workload decisions to a runtime: wake, cap eviction, idle sleep, health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import errors
from wasteland_common.grpc_client import Channels, ServiceCredentials
from wl_executor import reconcile, store
from wl_executor.clients import Peers
from wl_executor.deps import ExecutorDeps, Limits
from wl_executor.runtime import Endpoint

from tests.support.activity import CollectingActivity

from .conftest import FakeClock
from .fakes import FakeRuntime
from .test_decisions import op

UPSTREAM = "hop/wl-commons"


@pytest.fixture
async def deps(sessions: sessionmaker[Session], clock: FakeClock) -> AsyncIterator[ExecutorDeps]:
    peers = Peers(
        channels=Channels(),
        credentials=ServiceCredentials("executor", "x" * 40),
        registry_addr="127.0.0.1:9",
        board_addr="127.0.0.1:9",
    )
    built = ExecutorDeps(
        sessions=sessions,
        runtime=FakeRuntime(control_port=9),
        peers=peers,
        limits=Limits(sleep_after_seconds=1800, max_instances=2),
        clock=clock,
        activity=CollectingActivity(service="executor"),
    )
    yield built
    await peers.close()


def runtime_of(deps: ExecutorDeps) -> FakeRuntime:
    assert isinstance(deps.runtime, FakeRuntime)
    return deps.runtime


def state(tx: Callable[..., Any], wasteland_id: str) -> str | None:
    record = tx(store.get_runtime, wasteland_id)
    return record.state if record else None


async def test_idle_workloads_go_to_sleep(
    deps: ExecutorDeps, clock: FakeClock, tx: Callable[..., Any]
) -> None:
    await reconcile.wake(deps, "idle", UPSTREAM)
    clock.advance(1000)
    await reconcile.wake(deps, "recent", UPSTREAM)
    clock.advance(801)

    await reconcile.reconcile_once(deps)

    assert runtime_of(deps).running() == ["recent"]
    assert state(tx, "idle") == "sleeping"
    assert state(tx, "recent") == "running"
    assert isinstance(deps.activity, CollectingActivity)
    assert [(r.wasteland_id, r.kind, r.actor) for r in deps.activity.records] == [
        ("idle", "woke", "service:executor"),
        ("recent", "woke", "service:executor"),
        ("idle", "slept", "service:executor"),
    ]
    assert deps.activity.records[-1].detail == "the workload went to sleep (idle)"


async def test_wake_at_the_cap_puts_the_least_recently_used_to_sleep(
    deps: ExecutorDeps, clock: FakeClock, tx: Callable[..., Any]
) -> None:
    await reconcile.wake(deps, "a", UPSTREAM)
    clock.advance(10)
    await reconcile.wake(deps, "b", UPSTREAM)
    clock.advance(10)
    await reconcile.wake(deps, "a", UPSTREAM)  # a is used again: b is now the LRU
    clock.advance(10)

    await reconcile.wake(deps, "c", UPSTREAM)

    assert runtime_of(deps).running() == ["a", "c"]
    assert state(tx, "b") == "sleeping"
    assert state(tx, "c") == "running"


async def test_wake_at_the_cap_with_everything_busy_is_refused(
    deps: ExecutorDeps, clock: FakeClock, tx: Callable[..., Any]
) -> None:
    await reconcile.wake(deps, "a", UPSTREAM)
    await reconcile.wake(deps, "b", UPSTREAM)
    tx(store.insert_operation, op("op-a", clock, wasteland_id="a"))
    tx(store.insert_operation, op("op-b", clock, wasteland_id="b"))

    with pytest.raises(errors.ResourceExhausted):
        await reconcile.wake(deps, "c", UPSTREAM)

    assert runtime_of(deps).running() == ["a", "b"]
    assert state(tx, "c") is None


async def test_unhealthy_workload_fails_and_is_replaced_on_next_use(
    deps: ExecutorDeps, tx: Callable[..., Any]
) -> None:
    first = await reconcile.wake(deps, "a", UPSTREAM)
    runtime_of(deps).unhealthy.add("a")

    await reconcile.reconcile_once(deps)

    record = tx(store.get_runtime, "a")
    assert record.state == "failed"
    assert record.failure
    assert runtime_of(deps).running() == []
    # A failed workload does not count against the cap and restarts when used.
    runtime_of(deps).unhealthy.clear()
    second = await reconcile.wake(deps, "a", UPSTREAM)
    assert second.instance_id != first.instance_id
    assert state(tx, "a") == "running"


async def test_failed_start_is_recorded(deps: ExecutorDeps, tx: Callable[..., Any]) -> None:
    runtime_of(deps).fail_start = True
    with pytest.raises(errors.Unavailable):
        await reconcile.wake(deps, "a", UPSTREAM)
    record = tx(store.get_runtime, "a")
    assert record.state == "failed"
    assert "exited while starting" in (record.failure or "")


async def test_stray_workloads_are_stopped(deps: ExecutorDeps) -> None:
    await runtime_of(deps).ensure_running("stray", UPSTREAM)  # unknown to the database
    await reconcile.reconcile_once(deps)
    assert runtime_of(deps).running() == []


async def test_shutdown_stops_everything_and_records_sleep(
    deps: ExecutorDeps, tx: Callable[..., Any]
) -> None:
    await reconcile.wake(deps, "a", UPSTREAM)
    await reconcile.wake(deps, "b", UPSTREAM)
    await reconcile.sleep_all(deps)
    assert runtime_of(deps).running() == []
    assert state(tx, "a") == "sleeping"
    assert state(tx, "b") == "sleeping"


async def test_a_busy_workload_is_not_judged_on_one_missed_health_check(
    deps: ExecutorDeps, clock: FakeClock, tx: Callable[..., Any]
) -> None:
    await reconcile.wake(deps, "a", UPSTREAM)
    tx(store.insert_operation, op("op-a", clock, wasteland_id="a"))
    runtime_of(deps).unhealthy.add("a")

    await reconcile.reconcile_once(deps)
    assert state(tx, "a") == "running"
    assert runtime_of(deps).running() == ["a"]

    tx(store.finish_operation, "op-a", status="succeeded", result="{}", now=clock())
    await reconcile.reconcile_once(deps)
    assert state(tx, "a") == "failed"


async def test_concurrent_wakes_never_exceed_the_cap(
    deps: ExecutorDeps, tx: Callable[..., Any]
) -> None:
    outcomes = await asyncio.gather(
        *(reconcile.wake(deps, f"w{i}", UPSTREAM) for i in range(5)), return_exceptions=True
    )
    # A wake may be refused while the others are still starting (not evictable yet),
    # but the cap is never exceeded.
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(o, errors.ResourceExhausted) for o in refused)
    assert len(outcomes) - len(refused) >= 2
    assert len(runtime_of(deps).running()) <= 2
    assert tx(store.count_runtimes, ("running", "starting")) <= 2


async def test_a_replaced_instance_is_recorded_without_counting_as_activity(
    deps: ExecutorDeps, clock: FakeClock, tx: Callable[..., Any]
) -> None:
    first = await reconcile.wake(deps, "a", UPSTREAM)
    woke_at = tx(store.get_runtime, "a").last_activity_at
    clock.advance(60)
    # The runtime re-created the workload by itself (a pod the cluster replaced).
    runtime_of(deps).alive["a"] = Endpoint("127.0.0.1", 9, "fake-a-replacement")

    await reconcile.reconcile_once(deps)

    record = tx(store.get_runtime, "a")
    assert record.state == "running"
    assert record.instance_id == "fake-a-replacement" != first.instance_id
    assert record.started_at == clock()
    assert record.last_activity_at == woke_at


async def test_workloads_that_outlive_the_executor_are_adopted_and_the_cap_holds(
    deps: ExecutorDeps, clock: FakeClock, tx: Callable[..., Any]
) -> None:
    runtime = runtime_of(deps)
    runtime.outlives_executor = True
    for wasteland_id in ("a", "b", "c"):  # awake, unknown to this database
        await runtime.ensure_running(wasteland_id, UPSTREAM)

    await reconcile.reconcile_once(deps)

    # All three adopted; the cap (2) then put one to sleep.
    assert len(runtime.running()) == 2
    assert tx(store.count_runtimes, ("running",)) == 2
    assert sorted(r.state for r in tx(store.list_runtimes)) == ["running", "running", "sleeping"]


async def test_operations_abandoned_by_a_dead_replica_are_failed(
    deps: ExecutorDeps, clock: FakeClock, tx: Callable[..., Any]
) -> None:
    runtime_of(deps).outlives_executor = True
    tx(store.insert_operation, op("op-old", clock, wasteland_id="a"))
    clock.advance(deps.limits.operation_timeout_seconds + deps.limits.start_timeout_seconds + 1)
    tx(store.insert_operation, op("op-new", clock, wasteland_id="a"))

    await reconcile.reconcile_once(deps)

    old, new = tx(store.get_operation, "op-old"), tx(store.get_operation, "op-new")
    assert (old.status, new.status) == ("failed", "running")
    assert "outcome is unknown" in old.result


async def test_a_workload_not_answering_within_its_start_bound_is_left_alone(
    deps: ExecutorDeps, clock: FakeClock, tx: Callable[..., Any]
) -> None:
    await reconcile.wake(deps, "a", UPSTREAM)
    runtime = runtime_of(deps)
    runtime.unhealthy.add("a")
    runtime.unready_since = clock()

    await reconcile.reconcile_once(deps)
    assert state(tx, "a") == "running"

    clock.advance(deps.limits.start_timeout_seconds)
    await reconcile.reconcile_once(deps)
    assert state(tx, "a") == "failed"
    assert runtime.running() == []
