"""gRPC status → HTTP, as api.md defines it, through real gRPC calls."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import pytest
from wasteland_common import errors

from tests.support.ports import free_port

from .conftest import AppFactory
from .fakes import Backends, Fault

EXPECTED_HTTP = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    "UNKNOWN": 500,
    "INTERNAL": 500,
    "DATA_LOSS": 500,
}
FAILING_CODES = [c for c in grpc.StatusCode if c != grpc.StatusCode.OK]


def test_every_code_has_an_expectation() -> None:
    assert {c.name for c in FAILING_CODES} == set(EXPECTED_HTTP)


@pytest.mark.parametrize("code", FAILING_CODES, ids=lambda c: c.name)
async def test_status_code_mapping(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str], code: grpc.StatusCode
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.common.faults["GetWasteland"] = Fault(
        code=code, message="backend says no at 10.0.0.7:7401"
    )
    resp = await api.get(f"/v1/wastelands/{wid}", headers=alice)
    assert resp.status_code == EXPECTED_HTTP[code.name]
    error = resp.json()["error"]
    assert error["code"] == code.name
    assert isinstance(error["details"], list)
    if resp.status_code >= 500 or code in (
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNAUTHENTICATED,
    ):
        # Transport-ish and server faults never leak backend text.
        assert "10.0.0.7" not in error["message"]
    else:
        assert error["message"] == "backend says no at 10.0.0.7:7401"
    if code == grpc.StatusCode.UNAVAILABLE:
        assert int(resp.headers["Retry-After"]) >= 1


async def test_field_violations_become_details(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.common.faults["UpdateWasteland"] = Fault(
        error=errors.InvalidArgument(
            "name is taken",
            [errors.FieldViolation("name", "taken"), errors.FieldViolation("owner.org_id", "no")],
        )
    )
    resp = await api.patch(f"/v1/wastelands/{wid}", headers=alice, json={"name": "x"})
    assert resp.status_code == 400
    assert resp.json() == {
        "error": {
            "code": "INVALID_ARGUMENT",
            "message": "name is taken",
            "details": [
                {"field": "name", "description": "taken"},
                {"field": "owner.org_id", "description": "no"},
            ],
        }
    }


async def test_retry_info_becomes_retry_after(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.board.common.faults["Browse"] = Fault(
        error=errors.Unavailable("DoltHub is unreachable; try again later", retry_after=42)
    )
    resp = await api.get(f"/v1/wastelands/{wid}/wanted", headers=alice)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "42"
    assert resp.json()["error"]["message"] == "DoltHub is unreachable; try again later"
    backends.executor.common.faults["WakeRuntime"] = Fault(
        error=errors.ResourceExhausted("too many awake wastelands", retry_after=9)
    )
    busy = await api.post(f"/v1/wastelands/{wid}/runtime:wake", headers=alice)
    assert busy.status_code == 429
    assert busy.headers["Retry-After"] == "9"


async def test_unreachable_backend_is_503_without_internal_addresses(
    make_app: AppFactory, alice: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    _, api = await make_app(REGISTRY_ADDR=f"127.0.0.1:{port}")
    resp = await api.get("/v1/wastelands", headers=alice)
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "UNAVAILABLE"
    assert str(port) not in resp.text
    assert int(resp.headers["Retry-After"]) >= 1


async def test_registry_secret_text_is_redacted(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.common.faults["PutCredential"] = Fault(
        error=errors.invalid("dolthub_token", "rejected: sandbox-token-alice")
    )
    resp = await api.put(
        f"/v1/wastelands/{wid}/credential",
        headers=alice,
        json={"dolthub_token": "sandbox-token-alice", "dolthub_org": "alice"},
    )
    assert resp.status_code == 400
    assert "sandbox-token-alice" not in resp.text


async def test_redaction_keeps_the_words_of_an_error_message(
    api: httpx.AsyncClient, backends: Backends, alice: dict[str, str]
) -> None:
    wid = backends.registry.seed("alice")
    backends.registry.common.faults["PutCredential"] = Fault(
        error=errors.invalid("dolthub_token", "DoltHub rejected the token")
    )
    resp = await api.put(
        f"/v1/wastelands/{wid}/credential",
        headers=alice,
        json={"dolthub_token": "sandbox-token-alice", "dolthub_org": "alice"},
    )
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["message"] == "dolthub_token: DoltHub rejected the token"
    assert error["details"] == [
        {"field": "dolthub_token", "description": "DoltHub rejected the token"}
    ]
