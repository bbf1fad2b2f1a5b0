"""JSON schemas for kubeconform, made from a running API server's own OpenAPI (v2).

kubeconform's default is to download schemas, which cannot (and must not) happen here.
Instead every definition of ``/openapi/v2`` that names a group/version/kind becomes one
standalone file ``{kind}{-group prefix}-{version}.json`` (the names kubeconform's
``{{ .ResourceKind }}{{ .KindSuffix }}.json`` template asks for) with every ``$ref``
inlined, ``int-or-string`` and quantities as ``oneOf`` string/integer, and
``additionalProperties: false`` on every object with known properties, so strict mode
refuses unknown fields the way the API server's strict field validation does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devstack.cluster import Cluster

JSON = dict[str, Any]
INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
QUANTITY = {"oneOf": [{"type": "string"}, {"type": "number"}]}


def file_name(group: str, version: str, kind: str) -> str:
    """kubeconform's name for a kind's schema: ``deployment-apps-v1.json``, ``service-v1.json``."""
    suffix = f"-{group.split('.')[0].lower()}" if group else ""
    return f"{kind.lower()}{suffix}-{version.lower()}.json"


def _inline(node: Any, definitions: JSON, expanding: tuple[str, ...]) -> Any:
    """``node`` with its references replaced by their definitions; a definition met again
    inside itself (JSONSchemaProps of CRDs) becomes ``{}``, anything."""
    if isinstance(node, list):
        return [_inline(item, definitions, expanding) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        name = ref.removeprefix("#/definitions/")
        if name == "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
            return dict(INT_OR_STRING)
        if name == "io.k8s.apimachinery.pkg.api.resource.Quantity":
            return dict(QUANTITY)
        if name in expanding:
            return {}
        return _inline(definitions[name], definitions, (*expanding, name))
    if node.get("format") == "int-or-string":
        return dict(INT_OR_STRING)
    out = {key: _inline(value, definitions, expanding) for key, value in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def schemas(openapi: JSON) -> dict[str, JSON]:
    """File name => standalone strict schema, for every kind the document defines."""
    definitions: JSON = openapi["definitions"]
    result: dict[str, JSON] = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            schema = _inline(definition, definitions, (name,))
            schema["$schema"] = "http://json-schema.org/draft-07/schema#"
            result[file_name(gvk["group"], gvk["version"], gvk["kind"])] = schema
    return result


def write(running: Cluster, directory: Path) -> int:
    """Write the schemas of ``running``'s API server into ``directory``; returns how many."""
    with running.http() as api:
        response = api.get("/openapi/v2", timeout=60)
        response.raise_for_status()
        openapi = response.json()
    directory.mkdir(parents=True, exist_ok=True)
    made = schemas(openapi)
    for name, schema in made.items():
        (directory / name).write_text(json.dumps(schema), encoding="utf-8")
    return len(made)
