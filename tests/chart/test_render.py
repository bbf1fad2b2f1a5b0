"""What ``helm template`` renders is valid for the test API server: kubeconform in strict
mode against schemas made from that server's own OpenAPI, for the values file operators
write and for every value set in ``charts/hosted-wasteland/ci/``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from devstack import workspace

from .conftest import CI_VALUES, MINIMAL_VALUES, Helm, kubeconform

pytestmark = [pytest.mark.kubernetes, pytest.mark.chart]

SUMMARY = re.compile(
    r"Summary: (\d+) resources? found .* "
    r"Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)"
)
# The Prometheus Operator's CRD is not installed on the test API server, so there is no
# schema to hold a ServiceMonitor against; tests/servicemonitor_test.yaml checks it.
NO_SCHEMA_HERE = ("ServiceMonitor",)


@pytest.mark.parametrize(
    "values", [MINIMAL_VALUES, *CI_VALUES], ids=lambda path: f"{path.parent.name}/{path.name}"
)
def test_rendered_manifests_are_valid_for_the_api_server(
    helm: Helm, schema_dir: Path, values: Path
) -> None:
    manifests = helm.template("wl", "wasteland", [values])
    checked = kubeconform(schema_dir, manifests, *NO_SCHEMA_HERE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    found = SUMMARY.search(checked.stdout)
    assert found, checked.stdout
    resources, valid, invalid, errors, skipped = map(int, found.groups())
    assert (invalid, errors) == (0, 0)
    assert valid + skipped == resources
    assert valid >= 15
    assert skipped == manifests.count("\nkind: ServiceMonitor\n")


def test_the_schema_check_is_strict(helm: Helm, schema_dir: Path) -> None:
    """An unknown field in a rendered object fails, so the passes above mean something."""
    manifests = helm.template("wl", "wasteland", [MINIMAL_VALUES])
    broken = manifests.replace(
        "revisionHistoryLimit: 5", "revisionHistoryLimit: 5\n  replicaz: 1", 1
    )
    assert broken != manifests
    checked = kubeconform(schema_dir, broken)
    assert checked.returncode != 0
    assert "replicaz" in checked.stdout


def test_the_default_values_alone_are_refused_with_what_is_missing(helm: Helm) -> None:
    """values.yaml has no secrets or database URLs: installing without the operator's
    values file stops at the first missing one instead of deploying something broken."""
    done = helm.run("template", "wl", str(MINIMAL_VALUES.parents[1]), check=False)
    assert done.returncode != 0
    assert "is required" in done.stderr


def test_the_executor_role_is_exactly_the_rules_file(helm: Helm) -> None:
    """The Role the chart renders is files/executor-role-rules.yaml, the file the
    runtime's RBAC tests (tests/kubernetes/test_rbac.py) prove sufficient."""
    rendered = helm.run(
        "template", "wl", str(MINIMAL_VALUES.parents[1]), "-f", str(MINIMAL_VALUES),
        "--show-only", "templates/executor-rbac.yaml",
    ).stdout  # fmt: skip
    (role,) = [doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "Role"]
    assert role["rules"] == workspace.executor_role_rules()
