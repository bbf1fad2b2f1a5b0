"""The ``wl-gateway`` process: readiness line, serving, SIGTERM."""

from __future__ import annotations

from pathlib import Path

import httpx
from wasteland_common.auth import mint_user_token
from wasteland_common.settings import DEV_JWT_SECRET

from tests.support.ports import free_port
from tests.support.procs import VENV_BIN, started


def test_console_script_serves_and_stops(tmp_path: Path) -> None:
    # Backends on ports nobody listens on: the gateway still starts and answers 503.
    env = {
        "WASTELAND_HTTP_PORT": "0",
        "HTTP_HOST": "127.0.0.1",
        "DATABASE_URL": f"sqlite+pysqlite:///{tmp_path / 'gateway.db'}",
        "REGISTRY_ADDR": f"127.0.0.1:{free_port()}",
        "BOARD_ADDR": f"127.0.0.1:{free_port()}",
        "EXECUTOR_ADDR": f"127.0.0.1:{free_port()}",
        "RPC_TIMEOUT_SECONDS": "2",
    }
    with started("gateway", [str(VENV_BIN / "wl-gateway")], env=env) as proc:
        assert proc.port > 0
        assert f"gateway listening on http://127.0.0.1:{proc.port}" in proc.text()
        with httpx.Client(base_url=proc.url, timeout=10) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            assert http.get("/readyz").status_code == 503
            token = mint_user_token("alice", secret=DEV_JWT_SECRET)
            down = http.get("/v1/wastelands", headers={"Authorization": f"Bearer {token}"})
            assert down.status_code == 503
            assert down.json()["error"]["code"] == "UNAVAILABLE"
    assert proc.popen.returncode == 0
    assert token not in proc.text()
