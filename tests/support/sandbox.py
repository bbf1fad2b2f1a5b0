"""The DoltHub sandbox as a real subprocess for tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from .ports import free_port
from .procs import VENV_BIN, Proc, started

API_PREFIX = "/api/v1alpha1"
ALICE_TOKEN = "sandbox-token-alice"
BOB_TOKEN = "sandbox-token-bob"
HOP_TOKEN = "sandbox-token-hop"


@contextlib.contextmanager
def start_sandbox(
    data_dir: Path, *, port: int | None = None, extra_args: tuple[str, ...] = ()
) -> Iterator[Proc]:
    """Start a seeded sandbox; ``proc.url + API_PREFIX`` is the DoltHub API base URL."""
    port = port or free_port()
    argv = [
        str(VENV_BIN / "dolthub-sandbox"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--seed",
        "demo",
        *extra_args,
    ]
    with started("dolthub-sandbox", argv) as proc:
        yield proc


def api_url(proc: Proc) -> str:
    """The DoltHub API base URL of a started sandbox."""
    return proc.url + API_PREFIX
