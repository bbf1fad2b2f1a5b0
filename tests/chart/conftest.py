"""Fixtures for the Helm chart's proof (``make chart-test``): the pinned chart tools, a
``helm`` bound to the session's throwaway control plane, and kubeconform schemas made from
that API server's own OpenAPI."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from devstack import cluster
from devstack.cluster import Cluster

from tests.support import kube, kubeschemas

CHART = cluster.REPO / "charts" / "hosted-wasteland"
MINIMAL_VALUES = CHART / "examples" / "minimal-values.yaml"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
BIN = cluster.TOOLS / "bin"
CHART_TOOLS = ("helm", "kubeconform", "helm-unittest", "ct")
CHART_MODULES = [
    cluster.REPO / "tools" / "go" / name
    for name in ("helm", "kubeconform", "helm-unittest", "chart-testing")
]


def ensure_chart_tools() -> None:
    """Build (or take from the cache) helm, kubeconform, helm-unittest and ct, or
    skip/fail when Go is missing."""
    if all((BIN / name).exists() for name in CHART_TOOLS):
        return
    if shutil.which("go") is None:
        reason = "the Go toolchain is not installed, so the chart tools cannot be built"
        if kube.kubernetes_required():
            pytest.fail(reason + " (CI requires the chart tests)")
        pytest.skip(reason)
    subprocess.run(
        [
            str(cluster.REPO / "scripts" / "go-tools.sh"),
            str(cluster.TOOLS),
            *map(str, CHART_MODULES),
        ],
        check=True,
    )


@dataclass(frozen=True)
class Helm:
    """The pinned helm against one control plane, with its own config and cache dirs."""

    kubeconfig: Path
    home: Path

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{BIN}:/usr/bin:/bin",
            # client-go caches discovery under $HOME/.kube (else in the working directory).
            "HOME": str(self.home),
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }

    def run(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """``helm ARGS``; with ``check`` a failure raises with helm's own message."""
        done = subprocess.run(
            [str(BIN / "helm"), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def template(self, release: str, namespace: str, values: Sequence[Path]) -> str:
        files = [arg for path in values for arg in ("-f", str(path))]
        return self.run("template", release, str(CHART), "-n", namespace, *files).stdout


@pytest.fixture(scope="session")
def helm(kube_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    ensure_chart_tools()
    return Helm(kube_cluster.kubeconfig, tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="session")
def schema_dir(kube_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kubeconform schemas of every kind the test API server serves."""
    directory = tmp_path_factory.mktemp("schemas")
    assert kubeschemas.write(kube_cluster, directory) > 100
    return directory


def kubeconform(schema_dir: Path, manifests: str, *skip: str) -> subprocess.CompletedProcess[str]:
    """kubeconform in strict mode against ``schema_dir`` only (never the network)."""
    args = [
        str(BIN / "kubeconform"),
        "-strict",
        "-summary",
        "-output",
        "text",
        "-schema-location",
        str(schema_dir / "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
    ]
    if skip:
        args += ["-skip", ",".join(skip)]
    return subprocess.run(
        [*args, "-"],
        input=manifests,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/nonexistent")},
    )
