"""What GetInfo reports: the `wl` version, a per-boot instance id, uptime, joined rigs and
operations in flight."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wasteland.v1 import control_pb2

from . import output, rigs
from .wl import WlRunner

log = logging.getLogger(__name__)

VERSION_TIMEOUT_SECONDS = 30.0


def new_instance_id() -> str:
    """A random id for this process start, so restarts are visible to the executor."""
    return secrets.token_hex(8)


async def probe_wl_version(
    runner: WlRunner, *, limit_seconds: float = VERSION_TIMEOUT_SECONDS
) -> str:
    """The version `wl version` reports, or "" when `wl` cannot be run."""
    run = await runner.run(["version"], None, limit_seconds=limit_seconds)
    version = output.parse_version(run.stdout) if run.ok else None
    if version is None:
        log.error("cannot determine the wl version: %s", run.error_message())
        return ""
    return version


@dataclass
class Info:
    """Facts about this control server that do not change per call."""

    wl_version: str
    work_dir: Path
    instance_id: str = field(default_factory=new_instance_id)
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def snapshot(self, *, in_flight: int) -> control_pb2.GetInfoResponse:
        """The GetInfo answer now."""
        return control_pb2.GetInfoResponse(
            wl_version=self.wl_version,
            instance_id=self.instance_id,
            uptime_seconds=int(self.clock() - self.started),
            joined_rigs=rigs.joined_rigs(self.work_dir),
            operations_in_flight=in_flight,
        )
