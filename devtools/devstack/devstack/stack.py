"""The whole system as local processes: sandbox, registry, board-sync, executor, gateway.

``make run`` and the end-to-end tests both start the system through :func:`running_stack`,
so what the tests exercise is what a developer runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wasteland_common.settings import DEV_JWT_SECRET, DEV_SERVICE_SECRET

from . import wlbuild
from .procs import VENV_BIN, Proc, started

API_PREFIX = "/api/v1alpha1"


@dataclass(frozen=True)
class StackConfig:
    """Ports, data directory and secrets of one local stack."""

    data_dir: Path
    http_port: int = 8080
    sandbox_port: int = 7355
    registry_port: int = 7401
    board_port: int = 7402
    executor_port: int = 7403
    jwt_secret: str = DEV_JWT_SECRET
    service_secret: str = DEV_SERVICE_SECRET
    # Registry database; default SQLite under data_dir.
    registry_database_url: str | None = None
    poll_interval_seconds: int = 300
    sleep_after_seconds: int = 1800
    log_format: str = "text"
    # The `wl` the control servers run; None: the real v0.4.0 built for the sandbox URL
    # when Go can build it, else the stand-in (see :func:`choose_wl`).
    wl_binary: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def sqlite(self, name: str) -> str:
        return f"sqlite+pysqlite:///{self.data_dir / (name + '.db')}"

    @property
    def dolthub_api_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}{API_PREFIX}"


STANDIN_WL = VENV_BIN / "wl"


@dataclass(frozen=True)
class WlChoice:
    """The `wl` a stack runs and why."""

    path: Path
    real: bool
    reason: str


def choose_wl(cfg: StackConfig) -> WlChoice:
    """``cfg.wl_binary`` when set; else the real `wl` built for the sandbox URL, or the
    stand-in when Go cannot build it (the reason says why)."""
    if cfg.wl_binary is not None:
        real = cfg.wl_binary.resolve() != STANDIN_WL.resolve()
        return WlChoice(cfg.wl_binary, real, "WL_BINARY is set")
    try:
        path = wlbuild.build(cfg.dolthub_api_url)
    except wlbuild.BuildError as exc:
        return WlChoice(STANDIN_WL, False, f"the real wl cannot be built here: {exc}")
    return WlChoice(path, True, f"built for {cfg.dolthub_api_url}")


@dataclass
class Stack:
    """A running stack; ``gateway.url`` is the public API."""

    config: StackConfig
    sandbox: Proc
    registry: Proc
    board: Proc
    executor: Proc
    gateway: Proc
    wl: WlChoice

    @property
    def procs(self) -> list[Proc]:
        return [self.sandbox, self.registry, self.board, self.executor, self.gateway]


def _common_env(cfg: StackConfig) -> dict[str, str]:
    return {
        "KILO_JWT_SECRET": cfg.jwt_secret,
        "SERVICE_JWT_SECRET": cfg.service_secret,
        "DOLTHUB_API_URL": cfg.dolthub_api_url,
        "REGISTRY_ADDR": f"127.0.0.1:{cfg.registry_port}",
        "BOARD_ADDR": f"127.0.0.1:{cfg.board_port}",
        "EXECUTOR_ADDR": f"127.0.0.1:{cfg.executor_port}",
        "GRPC_HOST": "127.0.0.1",
        "LOG_FORMAT": cfg.log_format,
        **cfg.extra_env,
    }


@contextlib.contextmanager
def running_stack(cfg: StackConfig) -> Iterator[Stack]:
    """Start every process in dependency order; stop them all (reverse order) on exit."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    wl = choose_wl(cfg)
    common = _common_env(cfg)
    bin_ = VENV_BIN

    def start(
        name: str, argv: list[str], env: dict[str, str]
    ) -> contextlib.AbstractContextManager[Proc]:
        return started(name, argv, env=env, log_path=cfg.log(name))

    with contextlib.ExitStack() as stack:
        sandbox = stack.enter_context(
            start(
                "dolthub-sandbox",
                [
                    str(bin_ / "dolthub-sandbox"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(cfg.sandbox_port),
                    "--data-dir",
                    str(cfg.data_dir / "dolthub-sandbox"),
                    "--seed",
                    "demo",
                ],
                env=common,
            )
        )
        board = stack.enter_context(
            start(
                "board-sync",
                [str(bin_ / "wl-board-sync")],
                env={
                    **common,
                    "GRPC_PORT": str(cfg.board_port),
                    "DATABASE_URL": cfg.sqlite("board-sync"),
                    "POLL_INTERVAL_SECONDS": str(cfg.poll_interval_seconds),
                },
            )
        )
        registry = stack.enter_context(
            start(
                "registry",
                [str(bin_ / "wl-registry")],
                env={
                    **common,
                    "GRPC_PORT": str(cfg.registry_port),
                    "DATABASE_URL": cfg.registry_database_url or cfg.sqlite("registry"),
                },
            )
        )
        executor = stack.enter_context(
            start(
                "executor",
                [str(bin_ / "wl-executor")],
                env={
                    **common,
                    "GRPC_PORT": str(cfg.executor_port),
                    "DATABASE_URL": cfg.sqlite("executor"),
                    "WORK_DIR": str(cfg.data_dir / "executor"),
                    "WL_BINARY": str(wl.path),
                    "CONTROL_SERVER_COMMAND": str(bin_ / "wl-control-server"),
                    "SLEEP_AFTER_SECONDS": str(cfg.sleep_after_seconds),
                },
            )
        )
        gateway = stack.enter_context(
            start("gateway", [str(bin_ / "wl-gateway")], env=gateway_env(cfg, cfg.http_port))
        )
        yield Stack(cfg, sandbox, registry, board, executor, gateway, wl)


def gateway_env(cfg: StackConfig, http_port: int) -> dict[str, str]:
    """The environment of one of the stack's gateway processes, listening on ``http_port``
    (every replica shares the gateway database: rate limits and idempotency keys)."""
    return {
        **_common_env(cfg),
        "WASTELAND_HTTP_PORT": str(http_port),
        "HTTP_HOST": "127.0.0.1",
        "DATABASE_URL": cfg.sqlite("gateway"),
    }


@contextlib.contextmanager
def gateway_replica(cfg: StackConfig, http_port: int, name: str = "gateway-2") -> Iterator[Proc]:
    """Another gateway replica beside a running stack's (same database, same backends),
    stopped on exit. ``make bench`` measures the shared rate limiter with it."""
    argv = [str(VENV_BIN / "wl-gateway")]
    with started(name, argv, env=gateway_env(cfg, http_port), log_path=cfg.log(name)) as proc:
        yield proc
