"""The throwaway Kubernetes control plane for tests, and a fresh namespace per test.

The session starts one control plane (``devstack.cluster``: etcd, kube-apiserver with RBAC
and Pod Security admission, controller-manager, scheduler, kwok). Each test gets its own
namespace labelled ``pod-security.kubernetes.io/enforce=restricted`` (so the API server
rejects any pod the runtime makes that the ``restricted`` level would not admit), with the
objects a deployment provides there (``devstack.workspace``). Namespaces are deleted
without waiting: deletion takes seconds and nothing reuses a name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack import cluster, workspace
from devstack.cluster import Cluster
from lightkube import Client
from lightkube.config.kubeconfig import KubeConfig
from lightkube.resources.core_v1 import Namespace

SERVICE_SECRET = "service-secret-for-kubernetes-tests-0123456789"


def kubernetes_required() -> bool:
    """In CI the Kubernetes tests must run: a missing toolchain fails them."""
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("WASTELAND_REQUIRE_KUBERNETES") == "1"
    )


def ensure_binaries() -> None:
    """Build (or take from the cache) the control-plane binaries, or skip/fail when Go
    is missing."""
    if not cluster.missing_binaries():
        return
    if shutil.which("go") is None:
        reason = "the Go toolchain is not installed, so the control plane cannot be built"
        if kubernetes_required():
            pytest.fail(reason + " (CI requires the Kubernetes tests)")
        pytest.skip(reason)
    cluster.build_binaries()


@contextlib.contextmanager
def session_cluster(directory: Path) -> Iterator[Cluster]:
    """The control plane for a test session."""
    ensure_binaries()
    with cluster.running(directory) as running:
        yield running


def admin_client(running: Cluster) -> Client:
    """A synchronous admin client (field manager ``tests``)."""
    return Client(config=KubeConfig.from_file(running.kubeconfig), field_manager="tests")


@contextlib.contextmanager
def fresh_namespace(running: Cluster, service_secret: str = SERVICE_SECRET) -> Iterator[str]:
    """A fresh restricted namespace with the workload objects, deleted afterwards."""
    name = "t-" + uuid.uuid4().hex[:10]
    client = admin_client(running)
    try:
        workspace.provision(client, name, service_secret)
        yield name
    finally:
        with contextlib.suppress(Exception):
            client.delete(Namespace, name)
        client.close()
