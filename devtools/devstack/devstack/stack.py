"""The whole system as local processes: sandbox, registry, board-sync, executor, gateway.

``make run`` and the end-to-end tests both start the system through :func:`running_stack`,
so what the tests exercise is what a developer runs. With :class:`KubernetesTarget` the
executor runs with ``RUNTIME=kubernetes`` against a control plane (``devstack.cluster``),
as the ``wasteland-executor`` ServiceAccount, and a kubelet stand-in
(``devstack.kubelet``) runs the control server of each Ready pod.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wasteland_common.settings import DEV_JWT_SECRET, DEV_SERVICE_SECRET

from . import wlbuild
from .procs import VENV_BIN, Proc, started, stop

KUBELET_READY = re.compile(r"kubelet stand-in watching pods")
# Kubernetes never pulls this: the kubelet stand-in runs the local virtualenv instead.
DEV_WORKLOAD_IMAGE = "hosted-wasteland/control-server:dev"


@dataclass(frozen=True)
class KubernetesTarget:
    """Where a RUNTIME=kubernetes executor runs its workloads, and as whom."""

    # The executor's own kubeconfig (its ServiceAccount's token), never the admin's.
    executor_kubeconfig: Path
    # The cluster admin's kubeconfig, for the kubelet stand-in.
    admin_kubeconfig: Path
    namespace: str


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
    # board-sync's database; default SQLite under data_dir. Replicas (board_replica)
    # share it, so a PostgreSQL one lets them run side by side.
    board_database_url: str | None = None
    # Extra environment of the registry only (e.g. another board-sync's BOARD_ADDR).
    registry_env: dict[str, str] = field(default_factory=dict)
    poll_interval_seconds: int = 300
    sleep_after_seconds: int = 1800
    log_format: str = "text"
    # The `wl` the control servers run; None: the real v0.4.0 built for the sandbox URL
    # when Go can build it, else the stand-in (see :func:`choose_wl`).
    wl_binary: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Extra environment of the executor only (e.g. a short reconcile interval in tests).
    executor_env: dict[str, str] = field(default_factory=dict)
    kubernetes: KubernetesTarget | None = None

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
    kubelet: Proc | None = None
    _exits: contextlib.ExitStack | None = None

    @property
    def procs(self) -> list[Proc]:
        extra = [self.kubelet] if self.kubelet is not None else []
        return [self.sandbox, self.registry, self.board, *extra, self.executor, self.gateway]

    def restart_executor(self) -> Proc:
        """Stop the executor (SIGTERM, as a rollout would) and start it again."""
        assert self._exits is not None
        stop(self.executor.popen)
        self.executor = self._exits.enter_context(_start_executor(self.config, self.wl))
        return self.executor


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


def _executor_env(cfg: StackConfig, wl: WlChoice) -> dict[str, str]:
    env = {
        **_common_env(cfg),
        "GRPC_PORT": str(cfg.executor_port),
        "DATABASE_URL": cfg.sqlite("executor"),
        "WORK_DIR": str(cfg.data_dir / "executor"),
        "WL_BINARY": str(wl.path),
        "CONTROL_SERVER_COMMAND": str(VENV_BIN / "wl-control-server"),
        "SLEEP_AFTER_SECONDS": str(cfg.sleep_after_seconds),
    }
    kube = cfg.kubernetes
    if kube is not None:
        env.update(
            {
                "RUNTIME": "kubernetes",
                "KUBECONFIG": str(kube.executor_kubeconfig),
                "WORKLOAD_NAMESPACE": kube.namespace,
                "WORKLOAD_IMAGE": DEV_WORKLOAD_IMAGE,
                "WORKLOAD_IMAGE_PULL_POLICY": "Never",
                # Inside the pod, as in the image: programs found on its PATH (the
                # kubelet stand-in puts the chosen wl first on it).
                "CONTROL_SERVER_COMMAND": "wl-control-server",
                "WL_BINARY": "wl",
                "DEV_SERVICE_ROUTES_FILE": str(_routes_file(cfg)),
            }
        )
    return {**env, **cfg.executor_env}


def _routes_file(cfg: StackConfig) -> Path:
    return cfg.data_dir / "kubelet" / "routes.json"


def _start_executor(cfg: StackConfig, wl: WlChoice) -> contextlib.AbstractContextManager[Proc]:
    return started(
        "executor",
        [str(VENV_BIN / "wl-executor")],
        env=_executor_env(cfg, wl),
        log_path=cfg.log("executor"),
    )


def _board_env(cfg: StackConfig, port: int) -> dict[str, str]:
    return {
        **_common_env(cfg),
        "GRPC_PORT": str(port),
        "DATABASE_URL": cfg.board_database_url or cfg.sqlite("board-sync"),
        "POLL_INTERVAL_SECONDS": str(cfg.poll_interval_seconds),
    }


def _gateway_env(cfg: StackConfig, http_port: int) -> dict[str, str]:
    """A gateway process's environment, listening on ``http_port``: every replica shares
    the gateway database (rate limits and idempotency keys hold across them)."""
    return {
        **_common_env(cfg),
        "WASTELAND_HTTP_PORT": str(http_port),
        "HTTP_HOST": "127.0.0.1",
        "DATABASE_URL": cfg.sqlite("gateway"),
    }


def board_replica(
    cfg: StackConfig, name: str, port: int
) -> contextlib.AbstractContextManager[Proc]:
    """One more board-sync process of ``cfg``'s stack on ``port``, sharing its database
    (give the stack a PostgreSQL ``board_database_url``)."""
    return started(
        name,
        [str(VENV_BIN / "wl-board-sync")],
        env=_board_env(cfg, port),
        log_path=cfg.log(name),
    )


def gateway_replica(
    cfg: StackConfig, name: str, http_port: int, board_port: int | None = None
) -> contextlib.AbstractContextManager[Proc]:
    """One more gateway of ``cfg``'s stack on ``http_port``, sharing its database; it reads
    from the board-sync on ``board_port`` (e.g. a :func:`board_replica`) when given."""
    env = _gateway_env(cfg, http_port)
    if board_port is not None:
        env["BOARD_ADDR"] = f"127.0.0.1:{board_port}"
    return started(name, [str(VENV_BIN / "wl-gateway")], env=env, log_path=cfg.log(name))


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
                env=_board_env(cfg, cfg.board_port),
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
                    **cfg.registry_env,
                },
            )
        )
        kubelet = None
        if cfg.kubernetes is not None:
            kubelet = stack.enter_context(
                started(
                    "kubelet",
                    [
                        str(bin_ / "devstack"),
                        "kubelet",
                        "--kubeconfig",
                        str(cfg.kubernetes.admin_kubeconfig),
                        "--namespace",
                        cfg.kubernetes.namespace,
                        "--routes",
                        str(_routes_file(cfg)),
                        "--state-dir",
                        str(cfg.data_dir / "kubelet"),
                        "--path",
                        os.pathsep.join(
                            [
                                str(wl.path.parent),
                                str(bin_),
                                os.environ.get("PATH", "/usr/bin:/bin"),
                            ]
                        ),
                    ],
                    env=common,
                    log_path=cfg.log("kubelet"),
                    ready=KUBELET_READY,
                )
            )
        executor = stack.enter_context(_start_executor(cfg, wl))
        gateway = stack.enter_context(
            start(
                "gateway",
                [str(bin_ / "wl-gateway")],
                env=_gateway_env(cfg, cfg.http_port),
            )
        )
        yield Stack(cfg, sandbox, registry, board, executor, gateway, wl, kubelet, stack)
