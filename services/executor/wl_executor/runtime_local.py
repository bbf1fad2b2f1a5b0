"""Local-process runtime: one control-server process per awake wasteland on loopback.

The embedded default for ``make run`` and the end-to-end tests. Each child gets an
explicit environment (never a DoltHub token: tokens travel per call in RunOperation),
reports its port on a ``... listening on HOST:PORT`` line, and must answer the gRPC
health check before it counts as running. Children stay in the executor's process
group, so a supervisor that signals the group (``make run``, the test harness) reaches
them even if the executor itself dies first.

With ``spare`` the runtime keeps one control server started ahead of any wake, in
standby (interpreter up, modules imported, waiting on stdin): a wake hands it its
wasteland in one line instead of paying a Python start, and a new spare is started
behind it (and after a sleep, when there is none).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from wasteland_common import errors

from .runtime import Endpoint, Workload

log = logging.getLogger(__name__)
child_log = logging.getLogger("wl_executor.control")

READY_LINE = re.compile(r"listening on (?P<host>[A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)")
# Variables a child may inherit from the executor's environment: what a process needs to
# find programs and behave sanely, nothing that could carry a credential.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")
# Never handed to a child, whatever the configuration says.
FORBIDDEN = frozenset({"DOLTHUB_TOKEN", "DOLTHUB_API_TOKEN", "KILO_JWT_SECRET", "WL_TOKEN"})
LINE_LIMIT = 1 << 20
# The control server's standby switch, and the settings a wake hands a spare.
STANDBY_ENV = "CONTROL_SERVER_STANDBY"
ASSIGNED = ("WASTELAND_ID", "UPSTREAM", "WORK_DIR")
MAX_LOGGED_LINE = 4000


@dataclass(frozen=True)
class LocalRuntimeConfig:
    """How to start and stop control-server processes."""

    command: tuple[str, ...]
    work_dir: Path
    wl_binary: str = "wl"
    dolthub_api_url: str = ""
    service_jwt_secret: str = ""
    log_level: str = "INFO"
    log_format: str = "json"
    host: str = "127.0.0.1"
    start_timeout: float = 60.0
    stop_grace: float = 10.0
    health_timeout: float = 3.0
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # Keep one control server started in standby for the next wake.
    spare: bool = False


@dataclass
class _Child:
    wasteland_id: str
    process: asyncio.subprocess.Process
    drains: list[asyncio.Task[None]]
    endpoint: Endpoint | None = None


class LocalRuntime:
    """Runs ``command`` once per awake wasteland and keeps track of the processes."""

    name = "local"
    # Children die with the executor (they share its process group).
    outlives_executor = False

    def __init__(self, config: LocalRuntimeConfig) -> None:
        if not config.command:
            raise ValueError("control server command is empty")
        self._cfg = config
        self._children: dict[str, _Child] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._spare: asyncio.subprocess.Process | None = None
        self._spare_task: asyncio.Task[None] | None = None
        self._closed = False

    # --- Runtime protocol ---------------------------------------------------------

    async def ensure_running(self, wasteland_id: str, upstream: str) -> Endpoint:
        """The live child of ``wasteland_id``; starts one when there is none."""
        async with self._lock(wasteland_id):
            child = self._children.get(wasteland_id)
            if child and child.process.returncode is None and child.endpoint is not None:
                return child.endpoint
            if child is not None:
                self._children.pop(wasteland_id, None)
                await self._terminate(child)
            child = await self._start(wasteland_id, upstream)
            self._children[wasteland_id] = child
            self._replenish()
            assert child.endpoint is not None
            return child.endpoint

    async def stop(self, wasteland_id: str) -> None:
        """SIGTERM the child, SIGKILL it after the grace period, reap it."""
        async with self._lock(wasteland_id):
            child = self._children.pop(wasteland_id, None)
            if child is not None:
                await self._terminate(child)
                self._replenish()

    async def remove(self, wasteland_id: str) -> None:
        """Stop the child and delete its work directory (its ``wl`` configuration)."""
        await self.stop(wasteland_id)
        async with self._lock(wasteland_id):
            await asyncio.to_thread(shutil.rmtree, self._work_dir(wasteland_id), True)

    async def healthy(self, endpoint: Endpoint) -> bool:
        """Alive (our child with that instance id) and answering SERVING."""
        child = next(
            (
                c
                for c in self._children.values()
                if c.endpoint is not None and c.endpoint.instance_id == endpoint.instance_id
            ),
            None,
        )
        if child is None or child.process.returncode is not None:
            return False
        return await _serving(endpoint.address, self._cfg.health_timeout)

    async def observe(self) -> dict[str, Workload]:
        """Every live child; ``ready`` only when it answers its health check."""
        alive = [
            (wid, child.endpoint)
            for wid, child in list(self._children.items())
            if child.process.returncode is None and child.endpoint is not None
        ]
        answers = await asyncio.gather(
            *(_serving(endpoint.address, self._cfg.health_timeout) for _, endpoint in alive)
        )
        return {
            wid: Workload(wasteland_id=wid, ready=endpoint if serving else None)
            for (wid, endpoint), serving in zip(alive, answers, strict=True)
        }

    def running(self) -> list[str]:
        """Wasteland ids whose child process is alive."""
        return sorted(
            wid
            for wid, child in self._children.items()
            if child.process.returncode is None and child.endpoint is not None
        )

    async def shutdown(self) -> None:
        """Stop every child (in parallel) and the spare."""
        self._closed = True
        if self._spare_task is not None:
            self._spare_task.cancel()
            await asyncio.gather(self._spare_task, return_exceptions=True)
        await asyncio.gather(*(self.stop(wid) for wid in list(self._children)))
        spare, self._spare = self._spare, None
        if spare is not None:
            await self._end_spare(spare)

    @property
    def spare_pid(self) -> int | None:
        """The process id of the standby control server, if one is up (for tests)."""
        spare = self._spare
        return spare.pid if spare is not None and spare.returncode is None else None

    # --- internals ----------------------------------------------------------------

    def pid(self, wasteland_id: str) -> int | None:
        """The process id of the wasteland's child (for diagnostics and tests)."""
        child = self._children.get(wasteland_id)
        return child.process.pid if child else None

    def _lock(self, wasteland_id: str) -> asyncio.Lock:
        return self._locks.setdefault(wasteland_id, asyncio.Lock())

    def environment(self, wasteland_id: str, upstream: str) -> dict[str, str]:
        """The complete environment a child starts with (nothing else is inherited)."""
        return self._environment(wasteland_id, upstream, self._work_dir(wasteland_id))

    def _environment(self, wasteland_id: str, upstream: str, work_dir: Path) -> dict[str, str]:
        cfg = self._cfg
        env = {k: os.environ[k] for k in INHERITED if k in os.environ}
        env.update(cfg.extra_env)
        env.update(
            {
                "GRPC_HOST": cfg.host,
                "GRPC_PORT": "0",
                "WASTELAND_ID": wasteland_id,
                "UPSTREAM": upstream,
                "WL_BINARY": cfg.wl_binary,
                "DOLTHUB_API_URL": cfg.dolthub_api_url,
                "WORK_DIR": str(work_dir),
                "SERVICE_JWT_SECRET": cfg.service_jwt_secret,
                "LOG_LEVEL": cfg.log_level,
                "LOG_FORMAT": cfg.log_format,
            }
        )
        return {k: v for k, v in env.items() if k not in FORBIDDEN}

    def _work_dir(self, wasteland_id: str) -> Path:
        # wasteland ids are validated to [A-Za-z0-9_-]; resolve() guards the invariant.
        base = self._cfg.work_dir.resolve()
        path = (base / wasteland_id).resolve()
        if path.parent != base:
            raise errors.invalid("wasteland_id", "not a valid wasteland id")
        return path

    async def _start(self, wasteland_id: str, upstream: str) -> _Child:
        cfg = self._cfg
        env = self.environment(wasteland_id, upstream)
        work_dir = Path(env["WORK_DIR"])
        await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
        deadline = time.monotonic() + cfg.start_timeout
        process = await self._take_spare(env)
        if process is not None:
            log.info("handed the standby control server pid %d to %s", process.pid, wasteland_id)
        else:
            try:
                process = await self._spawn(env, work_dir, stdin=asyncio.subprocess.DEVNULL)
            except OSError as exc:
                log.error("cannot start the control server %r: %s", cfg.command[0], exc)
                raise errors.Unavailable(
                    "the wasteland's workload could not start", retry_after=30
                ) from exc
            log.info("started control server pid %d for %s", process.pid, wasteland_id)
        ready: asyncio.Future[tuple[str, int] | None] = asyncio.get_running_loop().create_future()
        assert process.stdout is not None
        assert process.stderr is not None
        child = _Child(
            wasteland_id=wasteland_id,
            process=process,
            drains=[
                asyncio.create_task(_drain(wasteland_id, process.stdout, ready)),
                asyncio.create_task(_drain(wasteland_id, process.stderr, None)),
            ],
        )
        try:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    found = await ready
            except TimeoutError:
                raise errors.Unavailable(
                    "the wasteland's workload did not become ready in time", retry_after=10
                ) from None
            if found is None:
                code = await _exit_code(process)
                raise errors.Unavailable(
                    f"the wasteland's workload exited while starting (exit code {code})",
                    retry_after=10,
                )
            host, port = found
            if host in ("0.0.0.0", "[::]", "::"):
                host = cfg.host
            endpoint = Endpoint(host=host, port=port, instance_id=f"local-{uuid.uuid4().hex}")
            if not await self._wait_serving(process, endpoint, deadline):
                raise errors.Unavailable(
                    "the wasteland's workload did not pass its health check", retry_after=10
                )
        except BaseException:
            await self._terminate(child)
            raise
        child.endpoint = endpoint
        log.info("control server for %s ready on %s", wasteland_id, endpoint.address)
        return child

    async def _wait_serving(
        self, process: asyncio.subprocess.Process, endpoint: Endpoint, deadline: float
    ) -> bool:
        while process.returncode is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if await _serving(endpoint.address, min(remaining, self._cfg.health_timeout)):
                return True
            await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        return False

    def _replenish(self) -> None:
        """Start a spare in the background unless there is one (or one is starting)."""
        if not self._cfg.spare or self._closed:
            return
        if self._spare is not None and self._spare.returncode is None:
            return
        if self._spare_task is not None and not self._spare_task.done():
            return
        self._spare_task = asyncio.create_task(self._start_spare())

    async def _spawn(
        self, env: Mapping[str, str], cwd: Path, *, stdin: int
    ) -> asyncio.subprocess.Process:
        """The control-server command with exactly ``env``, its output piped to us."""
        return await asyncio.create_subprocess_exec(
            *self._cfg.command,
            env=env,
            cwd=cwd,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )

    async def _start_spare(self) -> None:
        cfg = self._cfg
        base = cfg.work_dir.resolve()
        try:
            await asyncio.to_thread(base.mkdir, parents=True, exist_ok=True)
            env = self._environment("", "", base)
            env[STANDBY_ENV] = "1"
            spare = await self._spawn(env, base, stdin=asyncio.subprocess.PIPE)
        except OSError as exc:
            log.warning("cannot start a standby control server: %s", exc)
            return
        if self._closed:
            await self._end_spare(spare)
            return
        self._spare = spare
        log.info("started standby control server pid %d", spare.pid)

    async def _take_spare(self, env: Mapping[str, str]) -> asyncio.subprocess.Process | None:
        """The spare, told which wasteland it serves; None when there is no live one."""
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.returncode is not None or spare.stdin is None:
            log.warning("the standby control server pid %d had exited", spare.pid)
            return None
        line = json.dumps({key: env[key] for key in ASSIGNED}) + "\n"
        try:
            spare.stdin.write(line.encode())
            await spare.stdin.drain()
            spare.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            await self._end_spare(spare)
            return None
        return spare

    async def _end_spare(self, spare: asyncio.subprocess.Process) -> None:
        """Close a spare's stdin (it exits at once) and reap it; kill it if it lingers."""
        if spare.stdin is not None:
            spare.stdin.close()
        try:
            await asyncio.wait_for(spare.wait(), self._cfg.stop_grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                spare.kill()
            await spare.wait()

    async def _terminate(self, child: _Child) -> None:
        process = child.process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self._cfg.stop_grace)
            except TimeoutError:
                log.warning(
                    "control server pid %d for %s ignored SIGTERM; killing it",
                    process.pid,
                    child.wasteland_id,
                )
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        log.info(
            "control server pid %d for %s stopped (exit code %s)",
            process.pid,
            child.wasteland_id,
            process.returncode,
        )
        # A grandchild that inherited the pipes could keep them open; don't wait forever.
        _done, pending = await asyncio.wait(child.drains, timeout=2.0)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


async def _drain(
    wasteland_id: str,
    stream: asyncio.StreamReader,
    ready: asyncio.Future[tuple[str, int] | None] | None,
) -> None:
    """Log every line of ``stream`` (so the pipe never fills); spot the readiness line."""
    try:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than LINE_LIMIT: skipped, keep draining
                continue
            if not raw:
                break
            line = raw.decode("utf-8", errors="replace").rstrip()
            if line:
                child_log.info("control[%s] %s", wasteland_id, line[:MAX_LOGGED_LINE])
            if ready is not None and not ready.done() and (m := READY_LINE.search(line)):
                port = int(m.group("port"))
                if 0 < port < 65536:
                    ready.set_result((m.group("host"), port))
    finally:
        if ready is not None and not ready.done():
            ready.set_result(None)


async def _exit_code(process: asyncio.subprocess.Process) -> int | None:
    try:
        return await asyncio.wait_for(process.wait(), 5.0)
    except TimeoutError:
        return None


async def _serving(address: str, limit: float) -> bool:
    """One gRPC health check of ``address`` (overall server status)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=limit)
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def split_command(command: str) -> tuple[str, ...]:
    """The argv of a configured command line (shell-like quoting, never a shell)."""
    import shlex

    argv = tuple(shlex.split(command))
    if not argv:
        raise ValueError("empty command")
    return argv


__all__: Sequence[str] = ["LocalRuntime", "LocalRuntimeConfig", "split_command"]
