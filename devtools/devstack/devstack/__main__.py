"""``devstack run`` starts the local system (``--runtime kubernetes``: against a throwaway
control plane); ``devstack token USER`` prints a dev JWT; ``devstack cluster up|down``
starts or stops the throwaway control plane; ``devstack kubelet`` is the kubelet
stand-in that ``run --runtime kubernetes`` and the tests start."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import cast, get_args

from wasteland_common.auth import OrgRole, mint_user_token
from wasteland_common.settings import DEV_JWT_SECRET, DEV_SERVICE_SECRET

from .demo import ensure_demo_wasteland
from .stack import KubernetesTarget, StackConfig, choose_wl, running_stack

WORKLOAD_NAMESPACE = "wasteland-workloads"


@contextlib.contextmanager
def _kubernetes(data_dir: Path, service_secret: str) -> Iterator[KubernetesTarget]:
    """A fresh control plane under ``data_dir/kubernetes`` with the workload namespace
    provisioned and a kubeconfig for the executor's ServiceAccount; stopped on exit."""
    from lightkube import Client
    from lightkube.config.kubeconfig import KubeConfig

    from . import cluster, workspace

    directory = data_dir / "kubernetes"
    cluster.down(directory)  # a control plane left behind by a killed run
    if cluster.missing_binaries():
        cluster.build_binaries()
    with cluster.running(directory) as running:
        admin = Client(config=KubeConfig.from_file(running.kubeconfig), field_manager="devstack")
        workspace.provision(admin, WORKLOAD_NAMESPACE, service_secret)
        token = workspace.service_account_token(admin, WORKLOAD_NAMESPACE)
        admin.close()
        executor_kubeconfig = directory / "executor.kubeconfig"
        executor_kubeconfig.write_text(
            cluster.kubeconfig_yaml(running.server, running.ca_file, token, user="executor"),
            encoding="utf-8",
        )
        executor_kubeconfig.chmod(0o600)
        yield KubernetesTarget(
            executor_kubeconfig=executor_kubeconfig,
            admin_kubeconfig=running.kubeconfig,
            namespace=WORKLOAD_NAMESPACE,
        )


def _port(variable: str, default: int) -> int:
    """The port of a ``host:port`` setting (the services listen on 127.0.0.1)."""
    value = os.environ.get(variable, "")
    return int(value.rpartition(":")[2]) if value else default


def _run(args: argparse.Namespace) -> int:
    secret = os.environ.get("KILO_JWT_SECRET", DEV_JWT_SECRET)
    service_secret = os.environ.get("SERVICE_JWT_SECRET", DEV_SERVICE_SECRET)
    data_dir = Path(args.data_dir).resolve()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    cfg = StackConfig(
        data_dir=data_dir,
        http_port=int(os.environ.get("WASTELAND_HTTP_PORT", "8080")),
        sandbox_port=int(os.environ.get("DOLTHUB_SANDBOX_PORT", "7355")),
        registry_port=_port("REGISTRY_ADDR", 7401),
        board_port=_port("BOARD_ADDR", 7402),
        executor_port=_port("EXECUTOR_ADDR", 7403),
        jwt_secret=secret,
        service_secret=service_secret,
        log_format=os.environ.get("LOG_FORMAT", "text"),
        sleep_after_seconds=int(os.environ.get("SLEEP_AFTER_SECONDS", "1800")),
        wl_binary=Path(os.environ["WL_BINARY"]) if os.environ.get("WL_BINARY") else None,
    )
    if cfg.wl_binary is None:
        print("devstack: building the real wl 0.4.0 for the sandbox (first time about a minute)")  # noqa: T201
    choice = choose_wl(cfg)
    if choice.real:
        wl_line = f"the real wl 0.4.0 ({choice.reason})"
    else:
        wl_line = f"the wl STAND-IN ({choice.reason})"
        print(f"devstack: falling back to the wl stand-in: {choice.reason}", file=sys.stderr)  # noqa: T201
    cfg = dataclasses.replace(cfg, wl_binary=choice.path)
    with contextlib.ExitStack() as exits:
        if args.runtime == "kubernetes":
            kube = exits.enter_context(_kubernetes(data_dir, service_secret))
            cfg = dataclasses.replace(cfg, kubernetes=kube)
        return _serve(cfg, secret, done, wl_line)


def _serve(cfg: StackConfig, secret: str, done: threading.Event, wl_line: str) -> int:
    with running_stack(cfg) as stack:
        url = stack.gateway.url
        demo = ensure_demo_wasteland(url, secret)
        print(  # noqa: T201 - this is the command's output
            f"""
Hosted Wasteland is running.
  gateway (public API):  {url}
  DoltHub sandbox:       {stack.sandbox.url}/api/v1alpha1
                         (tokens sandbox-token-alice, sandbox-token-bob)
  JWT secret:            KILO_JWT_SECRET={secret}
  wl:                    {wl_line}
                         {cfg.wl_binary}
  data and logs:         {cfg.data_dir} (logs/<service>.log){_kube_note(cfg)}

Get a development JWT and look at alice's demo board:
  TOKEN=$(make -s token USER=alice)
  curl -s -H "Authorization: Bearer $TOKEN" {url}/v1/wastelands
  curl -s -H "Authorization: Bearer $TOKEN" {url}/v1/wastelands/{demo}/wanted
  curl -s -X POST -H "Authorization: Bearer $TOKEN" \\
       {url}/v1/wastelands/{demo}/wanted/w-demo-001/claim

Ctrl-C stops everything.""",
            flush=True,
        )
        while not done.wait(1.0):
            dead = [p.name for p in stack.procs if p.popen.poll() is not None]
            if dead:
                print(f"stopping: {', '.join(dead)} exited", file=sys.stderr)  # noqa: T201
                return 1
    return 0


def _kube_note(cfg: StackConfig) -> str:
    if cfg.kubernetes is None:
        return ""
    return f"""
  Kubernetes:            RUNTIME=kubernetes, workloads in namespace {cfg.kubernetes.namespace}
                         export KUBECONFIG={cfg.kubernetes.admin_kubeconfig}
                         (.tools/k8s/bin/kubectl get deploy,pods -n {cfg.kubernetes.namespace})"""


def _cluster(args: argparse.Namespace) -> int:
    from . import cluster

    directory = Path(args.dir).resolve()
    if args.action == "down":
        stopped = cluster.down(directory)
        print("stopped" if stopped else f"no control plane in {directory}")  # noqa: T201
        return 0
    if cluster.missing_binaries():
        cluster.build_binaries()
    running = cluster.up(directory)
    print(  # noqa: T201
        f"control plane at {running.server} (logs in {directory / 'logs'})\n"
        f"export KUBECONFIG={running.kubeconfig}\n"
        f"stop it with: make cluster-down (devstack cluster down --dir {args.dir})"
    )
    return 0


def _token(args: argparse.Namespace) -> int:
    secret = os.environ.get("KILO_JWT_SECRET", DEV_JWT_SECRET)
    orgs: list[tuple[str, OrgRole]] = []
    for spec in args.org or []:
        org_id, _, role = spec.partition(":")
        role = role or "member"
        if role not in get_args(OrgRole):
            print(f"devstack: unknown org role {role!r} in {spec!r}", file=sys.stderr)  # noqa: T201
            return 2
        orgs.append((org_id, cast(OrgRole, role)))
    token = mint_user_token(
        args.user, secret=secret, orgs=orgs, is_admin=args.admin, ttl_seconds=args.ttl
    )
    print(token)  # noqa: T201
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``devstack`` command."""
    parser = argparse.ArgumentParser(prog="devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the whole system on embedded defaults")
    run.add_argument("--data-dir", default=".run")
    run.add_argument("--runtime", choices=["local", "kubernetes"], default="local")
    clu = sub.add_parser("cluster", help="start or stop the throwaway Kubernetes control plane")
    clu.add_argument("action", choices=["up", "down"])
    clu.add_argument("--dir", default=".run/cluster")
    sub.add_parser("kubelet", help="the kubelet stand-in (see devstack.kubelet)", add_help=False)
    tok = sub.add_parser("token", help="print a development Kilo JWT")
    tok.add_argument("user")
    tok.add_argument("--org", action="append", help="ORG_ID[:owner|member|billing_manager]")
    tok.add_argument("--admin", action="store_true")
    tok.add_argument("--ttl", type=int, default=12 * 3600)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["kubelet"]:
        from . import kubelet

        return kubelet.main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "cluster":
        return _cluster(args)
    return _run(args) if args.command == "run" else _token(args)


if __name__ == "__main__":
    sys.exit(main())
