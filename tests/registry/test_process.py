"""The ``wl-registry`` console script starts, migrates, serves health, and stops on SIGTERM."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.procs import VENV_BIN, started

from .grpc_helpers import SERVICE_SECRET, USER_SECRET


async def test_console_script_serves_and_warns_about_the_dev_key(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite+pysqlite:///{tmp_path / 'registry.db'}",
        "GRPC_PORT": "0",
        "KILO_JWT_SECRET": USER_SECRET,
        "SERVICE_JWT_SECRET": SERVICE_SECRET,
        "CREDENTIAL_KEYS": "",
        "DOLTHUB_API_URL": "http://127.0.0.1:9/api/v1alpha1",
    }
    with started("registry", [str(VENV_BIN / "wl-registry")], env=env, cwd=tmp_path) as proc:
        async with grpc.aio.insecure_channel(proc.addr) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            answer = await health.Check(
                health_pb2.HealthCheckRequest(service="wasteland.v1.RegistryService"), timeout=10
            )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert proc.popen.returncode == 0
    assert "DEV-ONLY" in proc.text()
    assert (tmp_path / "registry.db").exists()
    assert USER_SECRET not in proc.text()
    assert SERVICE_SECRET not in proc.text()


def test_a_malformed_keyring_stops_the_start_without_echoing_it(tmp_path: Path) -> None:
    key = base64.b64encode(b"0123456789abcdef").decode()  # 16 bytes: too short
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+pysqlite:///{tmp_path / 'registry.db'}",
        "GRPC_PORT": "0",
        "CREDENTIAL_KEYS": f"k1:{key}",
        "LOG_FORMAT": "text",
    }
    done = subprocess.run(
        [str(VENV_BIN / "wl-registry")], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "CREDENTIAL_KEYS" in done.stderr
    assert key not in done.stderr + done.stdout
