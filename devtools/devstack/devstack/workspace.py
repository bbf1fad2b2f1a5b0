"""What a deployment provides in the workload namespace before the executor runs there.

The namespace (Pod Security ``restricted`` enforced), the Secret the control servers read
their service secret from, the workloads' ServiceAccount (no permissions, no token), and
the executor's ServiceAccount bound to its Role, whose rules come from the one copy in
``charts/hosted-wasteland/files/executor-role-rules.yaml``. The Helm chart does the same in
production; `make run-kubernetes` and the tests do it here, as the cluster admin.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml
from lightkube import Client, codecs
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ServiceAccount

REPO = Path(__file__).resolve().parents[3]
ROLE_RULES = REPO / "charts" / "hosted-wasteland" / "files" / "executor-role-rules.yaml"
EXECUTOR = "wasteland-executor"
WORKLOAD = "wasteland-workload"
FIELD_MANAGER = "devstack"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


def executor_role_rules() -> list[dict[str, Any]]:
    """The executor Role's rules, from the one file that defines them."""
    rules = yaml.safe_load(ROLE_RULES.read_text(encoding="utf-8"))
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ValueError(f"{ROLE_RULES}: expected a list of PolicyRules")
    return rules


def objects(namespace: str, service_secret: str) -> list[dict[str, Any]]:
    """Every object of the workload namespace, in apply order."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": RESTRICTED},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": WORKLOAD, "namespace": namespace},
            "type": "Opaque",
            "data": {"SERVICE_JWT_SECRET": base64.b64encode(service_secret.encode()).decode()},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": WORKLOAD, "namespace": namespace},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": EXECUTOR, "namespace": namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": EXECUTOR, "namespace": namespace},
            "rules": executor_role_rules(),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": EXECUTOR, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": EXECUTOR},
            "subjects": [{"kind": "ServiceAccount", "name": EXECUTOR, "namespace": namespace}],
        },
    ]


def provision(client: Client, namespace: str, service_secret: str) -> None:
    """Apply the workload namespace's objects (idempotent)."""
    for obj in objects(namespace, service_secret):
        client.apply(codecs.from_dict(obj), field_manager=FIELD_MANAGER, force=True)


def service_account_token(
    client: Client, namespace: str, name: str = EXECUTOR, *, seconds: int = 24 * 3600
) -> str:
    """A TokenRequest token for the ServiceAccount ``name`` (bound by its Role)."""
    # No audiences: the token is for the API server's own audience.
    request = ServiceAccount.Token(
        metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[], expirationSeconds=seconds)
    )
    answer = client.create(request, name=name, namespace=namespace)
    token = answer.status.token if answer.status else None
    if not token:
        raise RuntimeError(f"no token issued for {namespace}/{name}")
    return token
