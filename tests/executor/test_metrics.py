"""The executor's wake metrics: every real wake is counted by outcome and timed; a call
to a workload already running is not a wake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import errors
from wasteland_common.grpc_client import Channels, ServiceCredentials
from wl_executor import reconcile, store
from wl_executor.clients import Peers
from wl_executor.deps import ExecutorDeps, Limits

from .conftest import FakeClock
from .fakes import SERVICE_SECRET, FakeRuntime
from .test_decisions import op

UPSTREAM = "hop/wl-commons"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def wakes(outcome: str) -> float:
    return sample("wasteland_wakes_total", outcome=outcome)


def timed(outcome: str) -> float:
    return sample("wasteland_wake_duration_seconds_count", outcome=outcome)


@pytest.fixture
async def deps(
    sessions: sessionmaker[Session], clock: FakeClock
) -> AsyncIterator[tuple[ExecutorDeps, FakeRuntime]]:
    runtime = FakeRuntime(control_port=1)  # never called: wakes only
    peers = Peers(
        channels=Channels(),
        credentials=ServiceCredentials("executor", SERVICE_SECRET),
        registry_addr="127.0.0.1:9",
        board_addr="127.0.0.1:9",
    )
    yield (
        ExecutorDeps(
            sessions=sessions,
            runtime=runtime,
            peers=peers,
            limits=Limits(max_instances=1),
            clock=clock,
        ),
        runtime,
    )
    await peers.close()


async def test_a_wake_is_counted_and_timed_once(deps: tuple[ExecutorDeps, FakeRuntime]) -> None:
    d, runtime = deps
    ok, ok_timed = wakes("ok"), timed("ok")

    await reconcile.wake(d, "w1", UPSTREAM)
    await reconcile.wake(d, "w1", UPSTREAM)  # already running: not a wake

    assert runtime.starts == 1
    assert wakes("ok") == ok + 1
    assert timed("ok") == ok_timed + 1


async def test_failed_refused_and_cap_sleeps_are_counted(
    deps: tuple[ExecutorDeps, FakeRuntime], clock: FakeClock
) -> None:
    d, runtime = deps
    failed, refused = wakes("failed"), wakes("refused")
    failed_timed = timed("failed")
    cap_sleeps = sample("wasteland_sleeps_total", reason="instance cap")

    await reconcile.wake(d, "w1", UPSTREAM)
    clock.advance(60)
    # At the cap of one, waking w2 first puts the idle w1 to sleep; then w2 fails to start.
    runtime.fail_start = True
    with pytest.raises(errors.Unavailable):
        await reconcile.wake(d, "w2", UPSTREAM)
    assert sample("wasteland_sleeps_total", reason="instance cap") == cap_sleeps + 1
    assert wakes("failed") == failed + 1
    assert timed("failed") == failed_timed + 1

    # w3 with w1 awake and busy: refused, and not timed (nothing was started).
    runtime.fail_start = False
    await reconcile.wake(d, "w1", UPSTREAM)
    with d.sessions.begin() as session:
        store.insert_operation(session, op("op-1", clock, wasteland_id="w1"))
    with pytest.raises(errors.ResourceExhausted):
        await reconcile.wake(d, "w3", UPSTREAM)
    assert wakes("refused") == refused + 1


async def test_the_reconcile_pass_reports_awake_workloads(
    deps: tuple[ExecutorDeps, FakeRuntime], clock: FakeClock
) -> None:
    d, _ = deps
    await reconcile.wake(d, "w1", UPSTREAM)
    await reconcile.reconcile_once(d)
    assert sample("wasteland_workloads_awake") == 1
    idle = sample("wasteland_sleeps_total", reason="idle")
    clock.advance(d.limits.sleep_after_seconds + timedelta(minutes=1).total_seconds())
    await reconcile.reconcile_once(d)
    assert sample("wasteland_workloads_awake") == 0
    assert sample("wasteland_sleeps_total", reason="idle") == idle + 1
