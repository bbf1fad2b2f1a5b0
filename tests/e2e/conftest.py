"""The whole system as real processes (devstack), once per module and registry backend."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devstack.stack import Stack, StackConfig, running_stack
from wasteland_common.auth import mint_user_token
from wasteland_common.settings import DEV_JWT_SECRET

from tests.support.ports import free_port
from tests.support.postgres import Cluster
from tests.support.wl import best_wl


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``probe`` until it returns a truthy value; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; last value: {last!r}")


def auth(user: str) -> dict[str, str]:
    """The Authorization header of a development JWT for ``user``."""
    return {"Authorization": "Bearer " + mint_user_token(user, secret=DEV_JWT_SECRET)}


def stack_config(
    data_dir: Path, *, registry_database_url: str | None = None, **extra_env: str
) -> StackConfig:
    """A stack on free ports running the real `wl` (the stand-in only where Go is missing)."""
    sandbox_port = free_port()
    return StackConfig(
        data_dir=data_dir,
        http_port=free_port(),
        sandbox_port=sandbox_port,
        registry_port=free_port(),
        board_port=free_port(),
        executor_port=free_port(),
        registry_database_url=registry_database_url,
        wl_binary=best_wl(f"http://127.0.0.1:{sandbox_port}/api/v1alpha1"),
        extra_env=dict(extra_env),
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One stack per test module and registry backend."""
    registry_url = None
    if request.param == "postgres":
        cluster: Cluster = request.getfixturevalue("postgres_cluster")
        registry_url = cluster.create_database()
    cfg = stack_config(tmp_path_factory.mktemp("run"), registry_database_url=registry_url)
    with running_stack(cfg) as running:
        yield running
