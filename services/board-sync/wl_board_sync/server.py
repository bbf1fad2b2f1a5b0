"""board-sync bootstrap: settings, storage, the DoltHub client, the polling loop, the
event feed (with its PostgreSQL listener and retention schedule) and the gRPC server.

``wl-board-sync`` runs :func:`main`. Tests start the same thing in-process with
:func:`build_app` + :func:`start_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
from pydantic import Field, SecretStr
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from wasteland.v1 import activity_pb2_grpc, board_pb2_grpc, registry_pb2, registry_pb2_grpc
from wasteland_common import db, grpc_server, logs, telemetry
from wasteland_common.auth import Authenticator
from wasteland_common.db import run_in_session, utcnow
from wasteland_common.dolthub import DoltHubClient
from wasteland_common.grpc_client import Channels, ServiceCredentials
from wasteland_common.settings import CommonSettings

from . import retention
from .activity_servicer import ActivityServicer
from .board import Freshness
from .board_keys import NoKeys, key_reader
from .feed import EventFeed, LogListener
from .inbox import Inbox
from .read_cache import ReadCache
from .schedule import ScheduleConfig, Scheduler
from .servicer import BoardDeps, BoardServicer
from .sync import Syncer
from .tracking import ActiveWasteland, collect, retrack_all

log = logging.getLogger(__name__)

SERVICE_NAME = "board-sync"
PROTO_SERVICE = "wasteland.v1.BoardService"
ACTIVITY_SERVICE = "wasteland.v1.ActivityService"
MIGRATIONS = Path(__file__).parent / "migrations"
REGISTRY_PAGE_SIZE = 200
REGISTRY_TIMEOUT_SECONDS = 10.0


@dataclass
class _BoardRunningServer(grpc_server.RunningServer):
    """Ends the WatchBoard/WatchEvents streams before draining, so shutdown does not wait out the
    grace period for streams that never finish on their own."""

    before_stop: Callable[[], None] | None = None

    async def stop(self, grace: float) -> None:
        if self.before_stop is not None:
            self.before_stop()
        await super().stop(grace)


class RegistryUnavailable(Exception):
    """The registry could not list the active wastelands (board-sync tries again later)."""


def _replica_id() -> str:
    return f"board-sync-{uuid.uuid4().hex[:12]}"


class BoardSettings(CommonSettings):
    """board-sync's settings (environment variables in UPPER_CASE)."""

    database_url: str = Field(default="sqlite+pysqlite:///.run/board-sync.db", alias="DATABASE_URL")
    migrate_on_start: bool = Field(default=True, alias="MIGRATE_ON_START")
    grpc_port: int = Field(default=7402, ge=0, le=65535, alias="GRPC_PORT")
    poll_interval_seconds: int = Field(default=300, ge=1, le=86_400, alias="POLL_INTERVAL_SECONDS")
    # Unset: three poll intervals of the wasteland.
    stale_after_seconds: int | None = Field(default=None, ge=1, alias="STALE_AFTER_SECONDS")
    scheduler_tick_seconds: float = Field(default=5.0, gt=0, alias="SCHEDULER_TICK_SECONDS")
    lease_seconds: float = Field(default=60.0, gt=0, alias="LEASE_SECONDS")
    # Optional token for DoltHub reads (private commons); public ones read anonymously.
    dolthub_read_token: SecretStr | None = Field(default=None, alias="DOLTHUB_READ_TOKEN")
    replica_id: str = Field(default_factory=_replica_id, alias="REPLICA_ID", min_length=1)
    # The durable event log (activity log and board changes) and its streams.
    event_poll_seconds: float = Field(default=2.0, gt=0, le=60, alias="EVENT_POLL_SECONDS")
    activity_retention_days: float = Field(default=90.0, gt=0, alias="ACTIVITY_RETENTION_DAYS")
    board_event_retention_hours: float = Field(
        default=24.0, gt=0, alias="BOARD_EVENT_RETENTION_HOURS"
    )
    event_purge_interval_seconds: float = Field(
        default=3600.0, gt=0, alias="EVENT_PURGE_INTERVAL_SECONDS"
    )
    # Board reads (Browse, CountWanted, GetWantedItem) built once per board revision and
    # kept in memory, up to this many items in all; 0 builds every read.
    read_cache_items: int = Field(default=20_000, ge=0, alias="READ_CACHE_ITEMS")


@dataclass
class BoardApp:
    """Everything a running board-sync holds."""

    settings: BoardSettings
    engine: Engine
    sessions: sessionmaker[Session]
    dolthub: DoltHubClient
    feed: EventFeed
    syncer: Syncer
    scheduler: Scheduler
    deps: BoardDeps
    channels: Channels
    loop_task: asyncio.Task[None] | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)
    running: grpc_server.RunningServer | None = None
    _closed: bool = field(default=False)

    async def close(self) -> None:
        """Stop the loop and release connections (after the gRPC server stopped)."""
        if self._closed:
            return
        self._closed = True
        self.feed.close()
        for task in [t for t in (self.loop_task, *self.background) if t is not None]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.dolthub.aclose()
        await self.deps.keys.aclose()
        await self.channels.close()
        self.engine.dispose()


async def _registry_pages(
    channels: Channels, credentials: ServiceCredentials, address: str
) -> AsyncIterator[list[ActiveWasteland]]:
    stub = registry_pb2_grpc.RegistryServiceStub(channels.get(address))
    token = ""
    seen: set[str] = set()
    while True:
        response = await stub.ListActiveWastelands(
            registry_pb2.ListActiveWastelandsRequest(
                page_size=REGISTRY_PAGE_SIZE, page_token=token
            ),
            metadata=credentials.metadata(),
            timeout=REGISTRY_TIMEOUT_SECONDS,
        )
        yield [ActiveWasteland(w.wasteland_id, w.upstream) for w in response.wastelands]
        token = response.next_page_token
        if not token or token in seen:
            return
        seen.add(token)


async def build_app(
    settings: BoardSettings,
    *,
    clock: Callable[[], datetime] = utcnow,
    dolthub: DoltHubClient | None = None,
) -> BoardApp:
    """Open storage (migrating it when configured) and wire the domain objects."""
    if settings.dolthub_read_token is not None:
        logs.register_secret(settings.dolthub_read_token.get_secret_value())
    engine = db.make_engine(settings.database_url)
    if settings.migrate_on_start:
        await asyncio.to_thread(db.migrate, engine, MIGRATIONS)
    sessions = db.session_factory(engine)
    schedule = ScheduleConfig(
        default_interval=settings.poll_interval_seconds,
        tick_seconds=settings.scheduler_tick_seconds,
        lease_seconds=settings.lease_seconds,
    )
    # Idle connections beyond the polls in flight are closed: httpcore checks every pooled
    # connection on each request, and a pool left at 20 by a burst of table reads made an
    # idle poll's head read cost half as much CPU again (measured on the sandbox).
    client = dolthub or DoltHubClient(
        settings.dolthub_api_url,
        token=settings.dolthub_read_token,
        limits=httpx.Limits(max_keepalive_connections=schedule.concurrency),
    )
    feed = EventFeed(sessions, poll_seconds=settings.event_poll_seconds)
    syncer = Syncer(sessions, client, clock=clock, on_logged=feed.wake)
    channels = Channels()
    credentials = ServiceCredentials(SERVICE_NAME, settings.service_jwt_secret.get_secret_value())

    scheduler_box: list[Scheduler] = []

    async def retrack() -> int:
        try:
            active = await collect(_registry_pages(channels, credentials, settings.registry_addr))
        except grpc.aio.AioRpcError as exc:
            # One line instead of the error's multi-line repr.
            raise RegistryUnavailable(
                f"registry {settings.registry_addr}: {exc.code().name}: {exc.details()}"
            ) from None
        added = await run_in_session(sessions, retrack_all, active, clock)
        if scheduler_box:
            scheduler_box[0].wake()
        return added

    async def sync(wasteland_id: str, force: bool) -> Any:
        return await syncer.sync(wasteland_id, force=force)

    scheduler = Scheduler(
        sessions,
        sync,
        replica_id=settings.replica_id,
        clock=clock,
        config=schedule,
        poll=syncer.poll,
        record=syncer.record,
        # An empty REGISTRY_ADDR means no registry to re-track from (tests, tools).
        retrack=retrack if settings.registry_addr else None,
    )
    scheduler_box.append(scheduler)
    reads = ReadCache(max_items=settings.read_cache_items)
    deps = BoardDeps(
        sessions=sessions,
        auth=Authenticator(
            user_secret=settings.kilo_jwt_secret.get_secret_value(),
            audience=settings.kilo_jwt_audience,
            service_secret=settings.service_jwt_secret.get_secret_value(),
        ),
        scheduler=scheduler,
        feed=feed,
        clock=clock,
        freshness=Freshness(settings.poll_interval_seconds, settings.stale_after_seconds),
        inbox=Inbox(sessions, client, clock=clock, details=syncer.pulls),
        reads=reads,
        keys=key_reader(settings.database_url) if reads.enabled else NoKeys(),
    )
    return BoardApp(
        settings=settings,
        engine=engine,
        sessions=sessions,
        dolthub=client,
        feed=feed,
        syncer=syncer,
        scheduler=scheduler,
        deps=deps,
        channels=channels,
    )


def _retention(settings: BoardSettings) -> retention.Retention:
    return retention.Retention(
        activity=timedelta(days=settings.activity_retention_days),
        board=timedelta(hours=settings.board_event_retention_hours),
    )


async def start_app(app: BoardApp, *, run_scheduler: bool = True) -> grpc_server.RunningServer:
    """Start the gRPC server, the event feed (with its PostgreSQL listener) and the
    retention schedule, and, unless told not to, the polling loop."""
    servicer = BoardServicer(app.deps)
    activity = ActivityServicer(app.deps)

    def register(server: grpc.aio.Server) -> None:
        board_pb2_grpc.add_BoardServiceServicer_to_server(servicer, server)
        activity_pb2_grpc.add_ActivityServiceServicer_to_server(activity, server)

    started = await grpc_server.start(
        register=register,
        service_names=[PROTO_SERVICE, ACTIVITY_SERVICE],
        host=app.settings.grpc_host,
        port=app.settings.grpc_port,
    )
    app.running = _BoardRunningServer(
        server=started.server,
        port=started.port,
        health=started.health,
        before_stop=app.feed.close,
    )
    app.background.append(asyncio.create_task(app.feed.run(), name="board-sync-event-feed"))
    if app.engine.dialect.name == "postgresql":
        listener = LogListener(app.settings.database_url, app.feed.wake)
        app.background.append(asyncio.create_task(listener.run(), name="board-sync-listener"))
    app.background.append(
        asyncio.create_task(
            retention.run_schedule(
                app.sessions,
                _retention(app.settings),
                interval_seconds=app.settings.event_purge_interval_seconds,
                now=app.deps.clock,
            ),
            name="board-sync-event-purge",
        )
    )
    if run_scheduler:
        app.loop_task = asyncio.create_task(app.scheduler.run(), name="board-sync-scheduler")
    return app.running


async def _serve(settings: BoardSettings) -> None:
    app = await build_app(settings)
    try:
        running = await start_app(app)
        await grpc_server.serve_forever(
            running,
            name=SERVICE_NAME,
            host=settings.grpc_host,
            grace=settings.shutdown_grace_seconds,
            metrics_port=settings.metrics_port,
            metrics_host=settings.metrics_host,
            on_stop=app.close,
        )
    finally:
        await app.close()


def main() -> None:
    """Entry point of ``wl-board-sync``."""
    settings = BoardSettings()
    logs.configure(SERVICE_NAME, settings.log_level, settings.log_format)
    # Alembic announces its plugins at INFO on every start; its upgrade lines stay.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
    telemetry.configure(SERVICE_NAME, settings)
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
