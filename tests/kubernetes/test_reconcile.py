"""The reconcile loop over a real cluster: the cluster is the truth about what is awake.

Wake, idle sleep, the cap with least-recently-used eviction, a deleted pod replaced and
recorded, adoption after the executor's state was lost, and stray workloads stopped. The
clock is real time plus an offset the test moves, so "30 minutes later" needs no waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from devstack.kubelet import KubeletStandIn
from lightkube import AsyncClient, Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import db, errors
from wasteland_common.grpc_client import Channels, ServiceCredentials
from wl_executor import manifests, reconcile, store
from wl_executor.clients import Peers
from wl_executor.deps import ExecutorDeps, Limits
from wl_executor.runtime import Endpoint
from wl_executor.runtime_kubernetes import KubernetesRuntime

from .conftest import UPSTREAM, make_runtime
from .waiting import eventually

pytestmark = pytest.mark.kubernetes

A, B, C = ("a" * 32, "b" * 32, "c" * 32)


class ShiftedClock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = db.make_engine(f"sqlite+pysqlite:///{tmp_path / 'executor.db'}")
    store.migrate_schema(engine)
    return db.session_factory(engine)


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


def make_deps(
    sessions: sessionmaker[Session],
    runtime: KubernetesRuntime,
    clock: ShiftedClock,
    *,
    max_instances: int = 10,
) -> ExecutorDeps:
    peers = Peers(
        channels=Channels(),
        credentials=ServiceCredentials("executor", "x" * 40),
        registry_addr="127.0.0.1:9",
        board_addr="127.0.0.1:9",
    )
    return ExecutorDeps(
        sessions=sessions,
        runtime=runtime,
        peers=peers,
        limits=Limits(
            sleep_after_seconds=1800, max_instances=max_instances, start_timeout_seconds=60
        ),
        clock=clock,
    )


@pytest.fixture
async def deps(
    sessions: sessionmaker[Session], runtime: KubernetesRuntime, clock: ShiftedClock
) -> AsyncIterator[ExecutorDeps]:
    built = make_deps(sessions, runtime, clock, max_instances=2)
    yield built
    await built.peers.close()


def woken() -> float:
    """Cold starts timed in this process so far (the executor's metrics)."""
    value = REGISTRY.get_sample_value("wasteland_wake_duration_seconds_count", {"outcome": "ok"})
    return value or 0.0


def state(deps: ExecutorDeps, wasteland_id: str) -> store.RuntimeRecord | None:
    with deps.sessions.begin() as session:
        return store.get_runtime(session, wasteland_id)


def state_name(deps: ExecutorDeps, wasteland_id: str) -> str | None:
    record = state(deps, wasteland_id)
    return record.state if record is not None else None


def replicas(admin: Client, namespace: str, wasteland_id: str) -> int | None:
    deployment = admin.get(Deployment, manifests.workload_name(wasteland_id), namespace=namespace)
    assert deployment.spec is not None
    return deployment.spec.replicas


async def test_concurrent_wakes_of_one_wasteland_share_one(
    deps: ExecutorDeps, kubelet: KubeletStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = deps.runtime.ensure_running

    async def counting(wasteland_id: str, upstream: str) -> Endpoint:
        calls.append(wasteland_id)
        return await real(wasteland_id, upstream)

    monkeypatch.setattr(deps.runtime, "ensure_running", counting)
    before = woken()
    endpoints = await asyncio.gather(*(reconcile.wake(deps, A, UPSTREAM) for _ in range(5)))
    assert calls == [A]
    assert len(set(endpoints)) == 1
    assert woken() == before + 1  # one cold start, timed once


async def test_idle_workloads_sleep_and_the_cap_evicts_the_least_recently_used(
    deps: ExecutorDeps,
    kubelet: KubeletStandIn,
    admin: Client,
    kube_namespace: str,
    clock: ShiftedClock,
) -> None:
    await reconcile.wake(deps, A, UPSTREAM)
    clock.advance(10)
    await reconcile.wake(deps, B, UPSTREAM)
    clock.advance(10)
    await reconcile.wake(deps, A, UPSTREAM)  # A used again: B is the least recently used
    clock.advance(10)

    await reconcile.wake(deps, C, UPSTREAM)  # the cap is 2
    assert replicas(admin, kube_namespace, B) == 0
    assert sorted(await deps.runtime.observe()) == [A, C]
    assert state_name(deps, B) == "sleeping"

    clock.advance(1801)
    await reconcile.reconcile_once(deps)
    assert await deps.runtime.observe() == {}
    assert replicas(admin, kube_namespace, A) == 0
    assert replicas(admin, kube_namespace, C) == 0
    assert state_name(deps, A) == "sleeping"


async def test_a_deleted_pod_is_replaced_and_the_new_instance_recorded(
    deps: ExecutorDeps, kubelet: KubeletStandIn, admin: Client, kube_namespace: str
) -> None:
    first = await reconcile.wake(deps, A, UPSTREAM)
    (pod,) = admin.list(Pod, namespace=kube_namespace, labels={manifests.WASTELAND_ID_LABEL: A})
    assert pod.metadata is not None
    assert pod.metadata.name is not None
    admin.delete(Pod, pod.metadata.name, namespace=kube_namespace)

    async def replaced() -> bool:
        await reconcile.reconcile_once(deps)
        record = state(deps, A)
        return (
            record is not None
            and record.state == "running"
            and record.instance_id != first.instance_id
        )

    await eventually("the replacement pod to be recorded", replaced)
    assert replicas(admin, kube_namespace, A) == 1


async def test_an_executor_restart_loses_nothing_and_left_overs_are_adopted(
    deps: ExecutorDeps,
    kubelet: KubeletStandIn,
    executor_client: AsyncClient,
    kube_namespace: str,
    routes_file: Path,
    clock: ShiftedClock,
    tmp_path: Path,
) -> None:
    endpoint = await reconcile.wake(deps, A, UPSTREAM)

    # A new executor on the same database: a pass changes nothing.
    again = make_deps(
        deps.sessions, make_runtime(executor_client, kube_namespace, routes_file), clock
    )
    await reconcile.reconcile_once(again)
    record = state(again, A)
    assert record is not None
    assert (record.state, record.instance_id) == ("running", endpoint.instance_id)

    # A new executor whose database lost everything: the awake workload is adopted,
    # then sleeps when idle like any other.
    engine = db.make_engine(f"sqlite+pysqlite:///{tmp_path / 'empty.db'}")
    store.migrate_schema(engine)
    fresh = make_deps(
        db.session_factory(engine),
        make_runtime(executor_client, kube_namespace, routes_file),
        clock,
    )
    await reconcile.reconcile_once(fresh)
    adopted = state(fresh, A)
    assert adopted is not None
    assert (adopted.state, adopted.instance_id) == ("running", endpoint.instance_id)
    clock.advance(1801)
    await reconcile.reconcile_once(fresh)
    assert state_name(fresh, A) == "sleeping"
    assert await fresh.runtime.observe() == {}
    await again.peers.close()
    await fresh.peers.close()
    engine.dispose()


async def test_a_workload_that_never_answers_is_put_back_to_sleep(
    sessions: sessionmaker[Session],
    executor_client: AsyncClient,
    kube_namespace: str,
    routes_file: Path,
    clock: ShiftedClock,
) -> None:
    # No kubelet stand-in: Ready per kwok, but nothing answers.
    runtime = make_runtime(executor_client, kube_namespace, routes_file, start_timeout=1)
    deps = make_deps(sessions, runtime, clock)
    with pytest.raises(errors.Unavailable) as failed:
        await reconcile.wake(deps, A, UPSTREAM)
    assert failed.value.retry_after
    assert state_name(deps, A) == "failed"

    await reconcile.reconcile_once(deps)  # within its start bound: left alone
    assert A in await runtime.observe()
    clock.advance(120)
    await reconcile.reconcile_once(deps)  # far beyond it: a stray, scaled to 0
    assert await runtime.observe() == {}
    await deps.peers.close()
