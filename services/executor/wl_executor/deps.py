"""Everything the executor's domain functions need, built once at start and injected."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from wasteland_common.activity import ActivityRecorder, NoActivity
from wasteland_common.db import utcnow

from .clients import Peers
from .runtime import Endpoint, Runtime


@dataclass(frozen=True)
class Limits:
    """Timings and caps of the executor (from ``ExecutorSettings``)."""

    sleep_after_seconds: float = 1800.0
    max_instances: int = 200
    wait_budget_seconds: float = 20.0
    operation_timeout_seconds: float = 660.0
    wake_wait_seconds: float = 5.0
    # How long a workload may take to start answering before it counts as failed.
    start_timeout_seconds: float = 60.0


def new_operation_id() -> str:
    """A fresh, unguessable operation id."""
    return "op_" + uuid.uuid4().hex


@dataclass
class ExecutorDeps:
    """The executor's collaborators and its in-process bookkeeping."""

    sessions: sessionmaker[Session]
    runtime: Runtime
    peers: Peers
    limits: Limits = field(default_factory=Limits)
    # Where the wastelands' activity logs are written (board-sync's ActivityService).
    activity: ActivityRecorder = field(default_factory=NoActivity)
    clock: Callable[[], datetime] = utcnow
    new_id: Callable[[], str] = new_operation_id
    # Operations running in this process, by id (a repeat may wait for one).
    operation_tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    # Other background work (wakes started by WakeRuntime, sleeps) to await at shutdown.
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    # Cap decisions one at a time in this process (SQLite cannot serialise them for us;
    # PostgreSQL also takes an advisory lock, for several replicas).
    admission_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Wakes under way in this process, by wasteland: concurrent callers share one.
    wakes: dict[str, asyncio.Task[Endpoint]] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def workload_lock(self, wasteland_id: str) -> asyncio.Lock:
        """Serialises wake and sleep of one wasteland's workload in this process."""
        return self._locks.setdefault(wasteland_id, asyncio.Lock())

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference until it finishes."""
        task: asyncio.Task[Any] = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self.background.discard)
        return task


def _settled(task: asyncio.Task[Any]) -> None:
    # Whoever awaited the task has seen its error; this only keeps asyncio from
    # reporting an exception "never retrieved" when nobody waited any more.
    if not task.cancelled():
        task.exception()
