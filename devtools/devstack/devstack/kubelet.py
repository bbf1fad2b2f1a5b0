"""A kubelet stand-in for development and tests: runs each Ready pod's process on loopback.

kwok marks pods Running/Ready but runs nothing. This stand-in watches the pods of some
namespaces and, for each Ready pod, starts its container's process from the pod's own spec
(command, args, environment with Secret and field references resolved), the way a kubelet
would, and stops it (SIGTERM, then SIGKILL after the pod's grace period) when the pod is
deleted or stops being Ready; a process that exits while its pod is Ready is restarted.

What it emulates differently, because there is no container runtime or pod network here:
- the image is ignored: programs are looked up on ``--path`` (the virtualenv's bin);
- each pod gets its own loopback address (127.77.x.y) standing in for its network
  namespace: an environment value ``0.0.0.0`` (listen everywhere) becomes that address,
  so every pod keeps its container ports without clashing;
- each ``emptyDir`` is a fresh directory; an environment value naming its mount path
  becomes that directory;
- Services are reached through a routes file (``--routes``) mapping
  ``<service>.<namespace>.svc.<cluster domain>:<port>`` to the serving pod's loopback
  address; the executor reads it when ``DEV_SERVICE_ROUTES_FILE`` names it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lightkube import ApiError, AsyncClient
from lightkube.config.kubeconfig import KubeConfig
from lightkube.models.core_v1 import Container
from lightkube.resources.core_v1 import ConfigMap, Pod, Secret, Service
from wl_executor.runtime_kubernetes import routes_json

log = logging.getLogger("kubelet-standin")

LOOPBACK = ipaddress.ip_network("127.77.0.0/16")
RESTART_BACKOFF_MAX = 10.0
READY_TIMEOUT = 60.0


@dataclass
class _Running:
    pod: Pod
    ip: str
    dir: Path
    task: asyncio.Task[None] | None = None
    process: asyncio.subprocess.Process | None = None
    routes: dict[str, str] = field(default_factory=dict)


def _ready(pod: Pod) -> bool:
    meta, status = pod.metadata, pod.status
    if meta is None or status is None or meta.deletionTimestamp is not None:
        return False
    if status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in status.conditions or ())


def _uid(pod: Pod) -> str:
    assert pod.metadata is not None
    assert pod.metadata.uid is not None
    return pod.metadata.uid


class KubeletStandIn:
    """Keeps one process running per Ready pod in ``namespaces``."""

    def __init__(
        self,
        client: AsyncClient,
        namespaces: list[str],
        *,
        path: str,
        state_dir: Path,
        routes_file: Path,
        cluster_domain: str = "cluster.local",
    ) -> None:
        self._client = client
        self._namespaces = namespaces
        self._path = path
        self._state = state_dir
        self._routes_file = routes_file
        self._domain = cluster_domain
        self._running: dict[str, _Running] = {}
        self._ips: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Watch pods until ``stop``; then stop every process."""
        self._write_routes()
        watches = [asyncio.create_task(self._watch(ns)) for ns in self._namespaces]
        try:
            await stop.wait()
        finally:
            for task in watches:
                task.cancel()
            await asyncio.gather(*watches, return_exceptions=True)
            await asyncio.gather(*(self._stop(uid) for uid in list(self._running)))
            self._write_routes()

    async def _watch(self, namespace: str) -> None:
        while True:
            try:
                async for kind, pod in self._client.watch(Pod, namespace=namespace):
                    await self._sync(pod, deleted=kind == "DELETED")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the API server restarted or the watch broke
                log.warning("watching pods in %s: %s; watching again", namespace, exc)
                await asyncio.sleep(1)

    async def _sync(self, pod: Pod, *, deleted: bool) -> None:
        uid = _uid(pod)
        wanted = not deleted and _ready(pod)
        if wanted and uid not in self._running:
            ip = self._allocate_ip()
            assert pod.metadata is not None
            directory = self._state / "pods" / f"{pod.metadata.namespace}_{pod.metadata.name}"
            entry = _Running(pod=pod, ip=ip, dir=directory)
            self._running[uid] = entry
            entry.task = asyncio.create_task(self._keep_running(entry))
        elif not wanted and uid in self._running:
            log.info("%s is %s", _name(pod), "deleted" if deleted else _phase(pod))
            await self._stop(uid)

    def _allocate_ip(self) -> str:
        for address in LOOPBACK.hosts():
            ip = str(address)
            if ip not in self._ips and not ip.endswith((".0", ".255")):
                self._ips.add(ip)
                return ip
        raise RuntimeError("no free loopback address left")

    async def _keep_running(self, entry: _Running) -> None:
        """Start the pod's process, publish its routes once it listens, restart it when
        it exits (restartPolicy Always), with a growing pause."""
        backoff = 1.0
        while True:
            try:
                entry.process = await self._start(entry)
            except Exception as exc:
                log.error("cannot start %s: %s", _name(entry.pod), exc)
            else:
                if await self._wait_listening(entry):
                    entry.routes = await self._routes_for(entry)
                    self._write_routes()
                    backoff = 1.0
                code = await entry.process.wait()
                log.warning("%s exited with code %s; restarting", _name(entry.pod), code)
                entry.routes = {}
                self._write_routes()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RESTART_BACKOFF_MAX)

    async def _start(self, entry: _Running) -> asyncio.subprocess.Process:
        pod = entry.pod
        assert pod.spec is not None
        assert pod.metadata is not None
        container = pod.spec.containers[0]
        mounts = self._volumes(entry, container)
        # The image's environment, then the pod's (its paths and addresses rewritten).
        env = {"PATH": self._path, "LANG": os.environ.get("LANG", "C.UTF-8")}
        for key, value in (await self._environment(pod, container)).items():
            env[key] = _rewrite(value, entry.ip, mounts)
        argv = [*(container.command or []), *(container.args or [])]
        if not argv:
            raise RuntimeError("the container has no command (images are not run here)")
        program = shutil.which(argv[0], path=self._path) or argv[0]
        logs = self._state / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{pod.metadata.namespace}_{pod.metadata.name}.log").open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                program,
                *argv[1:],
                env=env,
                cwd=mounts.get(container.workingDir or "", entry.dir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        log.info("started %s (pid %d) on %s", _name(pod), process.pid, entry.ip)
        return process

    def _volumes(self, entry: _Running, container: Container) -> dict[str, Path]:
        """A fresh directory per emptyDir volume, by the container's mount path."""
        assert entry.pod.spec is not None
        empty = {v.name for v in entry.pod.spec.volumes or () if v.emptyDir is not None}
        mounts: dict[str, Path] = {}
        for mount in container.volumeMounts or ():
            if mount.name in empty:
                directory = entry.dir / "volumes" / mount.name
                directory.mkdir(parents=True, exist_ok=True)
                mounts[mount.mountPath] = directory
        return mounts

    async def _environment(self, pod: Pod, container: Container) -> dict[str, str]:
        assert pod.metadata is not None
        namespace = pod.metadata.namespace
        env: dict[str, str] = {}
        for var in container.env or ():
            if var.value is not None:
                env[var.name] = var.value
                continue
            source = var.valueFrom
            if source is None:
                env[var.name] = ""
            elif source.secretKeyRef is not None:
                ref = source.secretKeyRef
                secret = await self._client.get(Secret, ref.name or "", namespace=namespace)
                raw = (secret.data or {}).get(ref.key)
                if raw is not None:
                    env[var.name] = base64.b64decode(raw).decode()
            elif source.configMapKeyRef is not None:
                cref = source.configMapKeyRef
                config = await self._client.get(ConfigMap, cref.name or "", namespace=namespace)
                if (value := (config.data or {}).get(cref.key)) is not None:
                    env[var.name] = value
            elif source.fieldRef is not None:
                env[var.name] = {
                    "metadata.name": pod.metadata.name or "",
                    "metadata.namespace": namespace or "",
                    "metadata.uid": pod.metadata.uid or "",
                }.get(source.fieldRef.fieldPath, "")
        return env

    async def _wait_listening(self, entry: _Running) -> bool:
        """Until every container port accepts a connection on the pod's address."""
        assert entry.pod.spec is not None
        assert entry.process is not None
        ports = [p.containerPort for p in entry.pod.spec.containers[0].ports or ()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        for port in ports:
            while True:
                if entry.process.returncode is not None or loop.time() > deadline:
                    return False
                try:
                    _, writer = await asyncio.open_connection(entry.ip, port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                break
        return True

    async def _routes_for(self, entry: _Running) -> dict[str, str]:
        """Routes from every Service whose selector matches the pod to its address."""
        pod = entry.pod
        assert pod.metadata is not None
        assert pod.spec is not None
        labels = pod.metadata.labels or {}
        ports = {p.name: p.containerPort for p in pod.spec.containers[0].ports or () if p.name}
        routes: dict[str, str] = {}
        async for svc in self._client.list(Service, namespace=pod.metadata.namespace):
            selector = (svc.spec.selector or {}) if svc.spec else {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                continue
            assert svc.metadata is not None
            assert svc.spec is not None
            host = f"{svc.metadata.name}.{svc.metadata.namespace}.svc.{self._domain}"
            for port in svc.spec.ports or ():
                target = port.targetPort if port.targetPort is not None else port.port
                container_port = ports.get(target) if isinstance(target, str) else int(target)
                if container_port is not None:
                    routes[f"{host}:{port.port}"] = f"{entry.ip}:{container_port}"
        return routes

    def _write_routes(self) -> None:
        routes: dict[str, str] = {}
        for entry in self._running.values():
            routes.update(entry.routes)
        self._routes_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._routes_file.with_suffix(".tmp")
        tmp.write_text(routes_json(routes), encoding="utf-8")
        os.replace(tmp, self._routes_file)

    async def _stop(self, uid: str) -> None:
        # The entry stays listed until its process is gone, so a watch cancelled in the
        # middle of this (the stand-in stopping) leaves it for run()'s final sweep.
        entry = self._running.get(uid)
        if entry is None:
            return
        entry.routes = {}
        self._write_routes()
        if entry.task is not None:
            entry.task.cancel()
            # asyncio.wait, not ``await entry.task`` under suppress(CancelledError): that
            # would also swallow a cancellation of the caller (the watch being stopped),
            # and the watch would then run on forever.
            await asyncio.wait([entry.task])
        process = entry.process
        if process is not None and process.returncode is None:
            spec = entry.pod.spec
            grace = float(spec.terminationGracePeriodSeconds or 30) if spec else 30.0
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            log.info("stopped %s (exit code %s)", _name(entry.pod), process.returncode)
        if self._running.get(uid) is entry:
            del self._running[uid]
        self._ips.discard(entry.ip)
        shutil.rmtree(entry.dir, ignore_errors=True)


def _phase(pod: Pod) -> str:
    """A pod's phase and readiness, for the log."""
    if pod.metadata is not None and pod.metadata.deletionTimestamp is not None:
        return "terminating"
    status = pod.status
    ready = [c.status for c in (status.conditions or ()) if c.type == "Ready"] if status else []
    return f"{status.phase if status else 'Unknown'}, ready={ready[0] if ready else 'unknown'}"


def _name(pod: Pod) -> str:
    meta = pod.metadata
    return f"{meta.namespace}/{meta.name}" if meta else "?"


def _rewrite(value: str, ip: str, mounts: dict[str, Path]) -> str:
    """An environment value as the process sees it in its stand-in pod."""
    if value == "0.0.0.0":
        return ip
    # Only a value naming a mount path exactly: a host path that merely starts the same
    # way (the checkout under /work, a clone under /tmp) must reach the process intact.
    directory = mounts.get(value) or mounts.get(value.rstrip("/"))
    return str(directory) if directory is not None else value


async def _main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = AsyncClient(config=KubeConfig.from_file(args.kubeconfig))
    standin = KubeletStandIn(
        client,
        args.namespace,
        path=args.path,
        state_dir=args.state_dir,
        routes_file=args.routes,
        cluster_domain=args.cluster_domain,
    )
    print(  # noqa: T201 - the readiness line devstack waits for
        f"kubelet stand-in watching pods in {', '.join(args.namespace)}", flush=True
    )
    try:
        await standin.run(stop)
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    """``devstack kubelet``: run the stand-in until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="devstack kubelet")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", action="append", required=True)
    parser.add_argument("--routes", required=True, help="the routes file to write")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument(
        "--path",
        default=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        help="where programs are looked up (the image's PATH)",
    )
    parser.add_argument("--cluster-domain", default="cluster.local")
    args = parser.parse_args(argv)
    args.state_dir = Path(args.state_dir).resolve()
    args.routes = Path(args.routes).resolve()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s kubelet %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        asyncio.run(_main(args))
    except ApiError as exc:
        log.error("%s", exc.status.message)
        return 1
    return 0
