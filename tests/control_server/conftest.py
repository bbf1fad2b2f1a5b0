"""Fixtures: a control server started in-process on a real loopback gRPC port."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from wasteland.v1 import common_pb2, control_pb2, control_pb2_grpc
from wasteland_common.grpc_client import ServiceCredentials
from wl_control_server.server import ControlSettings, build_and_start

UPSTREAM = "hop/wl-commons"
# At least 32 bytes, so PyJWT does not warn (warnings are errors in tests).
SERVICE_SECRET = "control-server-test-service-secret-0123456789"


@dataclass
class Control:
    """A running control server and a stub that calls it as the executor."""

    stub: Any
    port: int
    work_dir: Path
    settings: ControlSettings

    def metadata(self, service: str = "executor") -> Sequence[tuple[str, str]]:
        return ServiceCredentials(service, SERVICE_SECRET).metadata()

    async def run(
        self,
        kind: common_pb2.OperationKind,
        *,
        token: str,
        org: str,
        rig: str = "",
        wanted_id: str = "",
        operation_id: str = "",
        role: common_pb2.MemberRole = common_pb2.MEMBER_ROLE_CONTRIBUTOR,
        upstream: str = UPSTREAM,
        upstream_token: str = "",
        **args: Any,
    ) -> common_pb2.OperationResult:
        request = control_pb2.RunOperationRequest(
            upstream=upstream,
            kind=kind,
            wanted_id=wanted_id,
            args=common_pb2.OperationArgs(**args),
            credential=control_pb2.RigCredential(
                dolthub_token=token, dolthub_org=org, rig_handle=rig
            ),
            operation_id=operation_id,
            role=role,
            upstream_credential=control_pb2.UpstreamCredential(dolthub_token=upstream_token),
        )
        response: control_pb2.RunOperationResponse = await self.stub.RunOperation(
            request, metadata=self.metadata(), timeout=300
        )
        return response.result

    async def info(self) -> control_pb2.GetInfoResponse:
        info: control_pb2.GetInfoResponse = await self.stub.GetInfo(
            control_pb2.GetInfoRequest(), metadata=self.metadata(), timeout=30
        )
        return info


StartControl = Callable[..., contextlib.AbstractAsyncContextManager[Control]]


@pytest.fixture
def start_control(tmp_path: Path) -> StartControl:
    """``async with start_control(wl_binary, dolthub_api_url=...) as control``."""

    @contextlib.asynccontextmanager
    async def start(
        wl_binary: Path | str,
        *,
        dolthub_api_url: str = "http://127.0.0.1:9/api/v1alpha1",
        env: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Control]:
        work_dir = tmp_path / "work"
        settings = ControlSettings.model_validate(
            {
                "WL_BINARY": str(wl_binary),
                "WORK_DIR": str(work_dir),
                "DOLTHUB_API_URL": dolthub_api_url,
                "GRPC_HOST": "127.0.0.1",
                "GRPC_PORT": 0,
                "SERVICE_JWT_SECRET": SERVICE_SECRET,
                "KILO_JWT_SECRET": SERVICE_SECRET + "-user",
                **(env or {}),
            }
        )
        running, cleanup = await build_and_start(settings)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        try:
            yield Control(
                stub=control_pb2_grpc.ControlServiceStub(channel),
                port=running.port,
                work_dir=work_dir,
                settings=settings,
            )
        finally:
            await channel.close()
            await running.stop(0)
            await cleanup()

    return start


def mark_joined(work_dir: Path, handle: str, upstream: str = UPSTREAM) -> Path:
    """Pretend ``handle`` already ran `wl join` on this workload."""
    owner, db = upstream.split("/")
    path = work_dir / "rigs" / handle / ".config" / "wasteland" / "wastelands" / owner
    path.mkdir(parents=True, exist_ok=True)
    config = path / f"{db}.json"
    config.write_text(json.dumps({"upstream": upstream, "rig_handle": handle}) + "\n")
    return config
