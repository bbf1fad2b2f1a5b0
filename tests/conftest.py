"""Fixtures shared by every test: real PostgreSQL, database URLs for both backends, the
throwaway Kubernetes control plane and a namespace per Kubernetes test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.cluster import Cluster as KubeCluster
from hypothesis import HealthCheck, settings

from tests.support import kube
from tests.support.postgres import Cluster, find_bindir, running_cluster

# The machines are 2-core and shared: input generation may be slow under load, and a
# per-example deadline would turn load into failures. Properties keep their examples.
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _postgres_required() -> bool:
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("WASTELAND_REQUIRE_POSTGRES") == "1"
    )


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One throwaway cluster for the session (started from the installed binaries)."""
    bindir = find_bindir()
    if bindir is None:
        if _postgres_required():
            pytest.fail("PostgreSQL server binaries not found, and CI requires them")
        pytest.skip("PostgreSQL server binaries not installed (CI installs them)")
    with running_cluster(bindir) as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+pysqlite:///{tmp_path / 'test.db'}"
    cluster: Cluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database()


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """One throwaway Kubernetes control plane for the session (skipped locally without
    Go; required in CI)."""
    with kube.session_cluster(tmp_path_factory.mktemp("kube")) as running:
        yield running


@pytest.fixture
def kube_namespace(kube_cluster: KubeCluster) -> Iterator[str]:
    """A fresh namespace enforcing Pod Security ``restricted``, with the workload
    ServiceAccount, Secret and the executor's Role."""
    with kube.fresh_namespace(kube_cluster) as name:
        yield name
