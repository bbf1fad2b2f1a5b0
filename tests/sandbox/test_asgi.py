"""The ASGI app used directly (no server), as other suites may embed it."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from dolthub_sandbox.app import create_app
from dolthub_sandbox.config import SandboxConfig

from tests.sandbox.helpers import ALICE


async def test_asgi_transport_routes_encoded_refs(tmp_path: Path, seeded: Path) -> None:
    shutil.copytree(seeded, tmp_path / "data")
    app = create_app(SandboxConfig(data_dir=tmp_path / "data"))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            assert (await client.get("/healthz")).status_code == 200
            fork = await client.post(
                "/api/v1alpha1/fork",
                headers=ALICE,
                json={
                    "ownerName": "alice",
                    "parentOwnerName": "hop",
                    "parentDatabaseName": "wl-commons",
                },
            )
            assert fork.status_code == 200
            write = await client.post(
                "/api/v1alpha1/alice/wl-commons/write/main/wl%2Falice%2Fw-demo-002",
                params={"q": "UPDATE wanted SET status='claimed' WHERE id='w-demo-002'"},
                headers=ALICE,
            )
            assert write.status_code == 200, write.text
            read = await client.get(
                "/api/v1alpha1/alice/wl-commons/wl%2Falice%2Fw-demo-002",
                params={"q": "SELECT status FROM wanted WHERE id='w-demo-002'"},
                headers=ALICE,
            )
            assert read.json()["rows"] == [{"status": "claimed"}]
            assert read.json()["commit_ref"] == "wl/alice/w-demo-002"
    finally:
        app.state.sandbox.close()
