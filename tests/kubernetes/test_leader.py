"""One executor replica runs the reconcile loop at a time, through a Lease, and another
takes over within one lease duration when it stops (at once when it released the lease,
after the lease expires when it died)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lightkube import AsyncClient, Client
from lightkube.config.kubeconfig import KubeConfig
from lightkube.resources.coordination_v1 import Lease
from wl_executor import manifests
from wl_executor.leader import LEASE_NAME, LeaderElector, Timings

from .waiting import eventually

pytestmark = pytest.mark.kubernetes

LEASE_DURATION = Timings().duration


def holder(admin: Client, namespace: str) -> str | None:
    lease = admin.get(Lease, LEASE_NAME, namespace=namespace)
    return lease.spec.holderIdentity if lease.spec else None


@pytest.fixture
async def second_client(executor_config: Path) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(
        config=KubeConfig.from_file(executor_config), field_manager=manifests.FIELD_MANAGER
    )
    yield client
    await client.close()


async def test_lease_timings_are_the_documented_ones() -> None:
    assert Timings() == Timings(duration=15, renew_deadline=10, retry=2)


async def test_a_second_replica_takes_over_after_a_release(
    executor_client: AsyncClient, second_client: AsyncClient, admin: Client, kube_namespace: str
) -> None:
    first = LeaderElector(executor_client, kube_namespace, "replica-1")
    second = LeaderElector(second_client, kube_namespace, "replica-2")
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    first_task = asyncio.create_task(first.run(stop_first))
    await eventually("replica-1 to lead", lambda: first.leading)
    second_task = asyncio.create_task(second.run(stop_second))
    await eventually("replica-2 to try the lease", lambda: second._seen is not None)
    assert not second.leading
    assert holder(admin, kube_namespace) == "replica-1"

    stop_first.set()
    await first_task
    assert not first.leading
    await eventually("replica-2 to lead", lambda: second.leading, timeout=LEASE_DURATION)
    assert holder(admin, kube_namespace) == "replica-2"
    stop_second.set()
    await second_task
    assert holder(admin, kube_namespace) is None  # released on shutdown


async def test_a_second_replica_takes_over_when_the_leader_dies(
    executor_config: Path, second_client: AsyncClient, admin: Client, kube_namespace: str
) -> None:
    doomed = AsyncClient(config=KubeConfig.from_file(executor_config))
    first = LeaderElector(doomed, kube_namespace, "replica-1")
    second = LeaderElector(second_client, kube_namespace, "replica-2")
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    first_task = asyncio.create_task(first.run(stop_first))
    await eventually("replica-1 to lead", lambda: first.leading)
    second_task = asyncio.create_task(second.run(stop_second))
    await eventually("replica-2 to see the lease", lambda: second._seen is not None)

    # The leader loses the API server without releasing (a crash, a partition): it
    # steps down after the renew deadline, and the lease expires for the others.
    await doomed.close()
    await eventually(
        "replica-1 to step down", lambda: not first.leading, timeout=Timings().renew_deadline + 5
    )
    # Expiry counts from when replica-2 last saw the lease change (at most one retry
    # period before replica-1's last renewal), never from replica-1's clock.
    await eventually(
        "replica-2 to lead",
        lambda: second.leading,
        timeout=LEASE_DURATION + Timings().retry + 5,
    )
    assert holder(admin, kube_namespace) == "replica-2"
    stop_first.set()
    stop_second.set()
    await asyncio.gather(first_task, second_task)


async def test_a_renewal_on_a_whole_second_is_accepted(
    executor_client: AsyncClient, kube_namespace: str
) -> None:
    whole = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    elector = LeaderElector(
        executor_client, kube_namespace, "whole-second", wall_clock=lambda: whole
    )
    assert await elector._try_acquire_or_renew()
    assert await elector._try_acquire_or_renew()
