"""Registry bootstrap: settings, logging, database, keyring, DoltHub, gRPC server; and
the operator command ``wl-registry rotate-keys``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import grpc
import sqlalchemy.exc
from pydantic import Field, SecretStr
from wasteland.v1 import registry_pb2, registry_pb2_grpc
from wasteland_common import db, dolthub, grpc_server, logs, telemetry
from wasteland_common.activity import ActivityRecorder, GrpcActivity
from wasteland_common.auth import Authenticator
from wasteland_common.grpc_client import Channels, ServiceCredentials
from wasteland_common.settings import CommonSettings

from . import crypto, keyrotation, provisioning, retention, wastelands
from .board import BoardNotifier, GrpcBoard
from .credentials import TokenValidator, dolthub_fork_checker, dolthub_validator
from .servicer import RegistryDeps, RegistryServicer
from .upstream_credentials import dolthub_probe
from .validation import upstream
from .workloads import GrpcWorkloads, WorkloadNotifier

log = logging.getLogger("wl_registry")

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


class RegistrySettings(CommonSettings):
    """Settings of the registry (environment variables in UPPER_CASE)."""

    database_url: str = Field(default="sqlite+pysqlite:///.run/registry.db", alias="DATABASE_URL")
    migrate_on_start: bool = Field(default=True, alias="MIGRATE_ON_START")
    # "kid1:<base64 32 bytes>,kid2:<...>"; empty = the built-in DEV-ONLY key.
    credential_keys: SecretStr = Field(default=SecretStr(""), alias="CREDENTIAL_KEYS")
    credential_active_key_id: str = Field(default="", alias="CREDENTIAL_ACTIVE_KEY_ID")
    wasteland_template: str = Field(
        default="kilo-wastelands/wl-template", alias="WASTELAND_TEMPLATE"
    )
    # An operator option: provisions a commons in the org a creator names when the
    # creator has no DoltHub credential of their own; unset disables it.
    provisioning_dolthub_token: SecretStr | None = Field(
        default=None, alias="PROVISIONING_DOLTHUB_TOKEN"
    )
    provision_timeout_seconds: float = Field(default=120.0, gt=0, alias="PROVISION_TIMEOUT_SECONDS")
    # A create call waits this long for provisioning, then answers "provisioning".
    provision_wait_seconds: float = Field(default=20.0, ge=0, alias="PROVISION_WAIT_SECONDS")
    board_call_timeout_seconds: float = Field(default=5.0, gt=0, alias="BOARD_CALL_TIMEOUT_SECONDS")
    # A delete waits this long for the executor to stop the wasteland's workload.
    executor_call_timeout_seconds: float = Field(
        default=30.0, gt=0, alias="EXECUTOR_CALL_TIMEOUT_SECONDS"
    )
    # How often deleted wastelands' member data past the 30-day retention is erased.
    purge_interval_seconds: float = Field(
        default=retention.DEFAULT_INTERVAL_SECONDS, gt=0, alias="PURGE_INTERVAL_SECONDS"
    )
    # How often WatchAccessChanges streams look for changes other replicas committed.
    access_change_poll_seconds: float = Field(
        default=0.25, gt=0, le=10, alias="ACCESS_CHANGE_POLL_SECONDS"
    )
    grpc_port: int = Field(default=7401, ge=0, le=65535, alias="GRPC_PORT")


def keyring_from(settings: RegistrySettings) -> crypto.Keyring:
    """The credential keyring the settings describe (warns when it is the dev key)."""
    spec = settings.credential_keys.get_secret_value()
    for entry in spec.split(","):
        _, _, key = entry.partition(":")
        if key.strip():
            logs.register_secret(key.strip())
    keyring = crypto.parse_keyring(spec, settings.credential_active_key_id)
    if keyring.uses_dev_key:
        log.warning(
            "CREDENTIAL_KEYS is not set: DoltHub tokens are encrypted with the built-in"
            " DEV-ONLY key; set CREDENTIAL_KEYS and CREDENTIAL_ACTIVE_KEY_ID in production"
        )
    return keyring


async def start_server(deps: RegistryDeps, *, host: str, port: int) -> grpc_server.RunningServer:
    """Serve RegistryService over ``deps`` (with health, reflection, the shared interceptor)."""
    servicer = RegistryServicer(deps)

    def register(server: grpc.aio.Server) -> None:
        registry_pb2_grpc.add_RegistryServiceServicer_to_server(servicer, server)

    return await grpc_server.start(
        register=register, service_names=[SERVICE_NAME], host=host, port=port
    )


async def build_and_start(
    settings: RegistrySettings,
    *,
    dolthub_client: dolthub.DoltHubClient | None = None,
    validate_token: TokenValidator | None = None,
    board: BoardNotifier | None = None,
    workloads: WorkloadNotifier | None = None,
    activity: ActivityRecorder | None = None,
) -> tuple[grpc_server.RunningServer, Callable[[], Awaitable[None]]]:
    """Build the dependencies, migrate, and start the gRPC server.

    Returns the running server and a coroutine function that releases everything else
    (call it after stopping the server).
    """
    keyring = keyring_from(settings)
    template = upstream(settings.wasteland_template, "WASTELAND_TEMPLATE")
    engine = db.make_engine(settings.database_url)
    if settings.migrate_on_start:
        await asyncio.to_thread(db.migrate, engine, MIGRATIONS)
    sessions = db.session_factory(engine)
    stale = await db.run_in_session(
        sessions,
        wastelands.fail_stale_provisioning,
        db.utcnow(),
        timedelta(seconds=settings.provision_timeout_seconds),
    )
    if stale:
        log.warning("marked %d interrupted provisioning(s) as failed", stale)

    owns_client = dolthub_client is None
    client = dolthub_client or dolthub.DoltHubClient(settings.dolthub_api_url)
    anonymous = client.with_token(None)
    operator_token = settings.provisioning_dolthub_token
    if operator_token is not None and operator_token.get_secret_value():
        logs.register_secret(operator_token.get_secret_value())
    else:
        operator_token = None
    channels = Channels()
    identity = ServiceCredentials("registry", settings.service_jwt_secret.get_secret_value())
    if board is None:
        board = GrpcBoard(
            channels, settings.board_addr, identity, settings.board_call_timeout_seconds
        )
    if workloads is None:
        workloads = GrpcWorkloads(
            channels, settings.executor_addr, identity, settings.executor_call_timeout_seconds
        )
    recorder = GrpcActivity(channels, settings.board_addr, identity, service="registry")
    if activity is None:
        activity = recorder
    deps = RegistryDeps(
        sessions=sessions,
        authenticator=Authenticator(
            user_secret=settings.kilo_jwt_secret.get_secret_value(),
            audience=settings.kilo_jwt_audience,
            service_secret=settings.service_jwt_secret.get_secret_value(),
        ),
        keyring=keyring,
        joining=wastelands.Joining(reader=anonymous),
        provisioning=provisioning.Settings(
            client=client,
            template=template,
            operator_token=operator_token,
            timeout=settings.provision_timeout_seconds,
            wait=settings.provision_wait_seconds,
        ),
        validate_token=validate_token or dolthub_validator(client),
        board=board,
        probe_upstream=dolthub_probe(client),
        check_fork=dolthub_fork_checker(client),
        workloads=workloads,
        activity=activity,
        access_change_poll_seconds=settings.access_change_poll_seconds,
    )
    running = await start_server(deps, host=settings.grpc_host, port=settings.grpc_port)
    # The first pass runs at once, then one every PURGE_INTERVAL_SECONDS.
    purging = asyncio.create_task(
        retention.run_schedule(
            sessions, interval_seconds=settings.purge_interval_seconds, now=db.utcnow
        ),
        name="registry-purge",
    )

    async def cleanup() -> None:
        purging.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purging
        await recorder.close()
        await channels.close()
        if owns_client:
            await client.aclose()
        engine.dispose()

    return running, cleanup


async def _serve(settings: RegistrySettings) -> None:
    running, cleanup = await build_and_start(settings)
    try:
        await grpc_server.serve_forever(
            running,
            name="registry",
            host=settings.grpc_host,
            grace=settings.shutdown_grace_seconds,
            metrics_port=settings.metrics_port,
            metrics_host=settings.metrics_host,
        )
    finally:
        await cleanup()


def rotate_keys(settings: RegistrySettings, *, check: bool, batch: int) -> int:
    """``wl-registry rotate-keys``: re-wrap every stored credential under the active key
    (or, with ``check``, only say whether any is still under another key). Prints what
    it found and did; returns the exit status."""
    keyring = keyring_from(settings)
    engine = db.make_engine(settings.database_url)
    sessions = db.session_factory(engine)
    say = print  # the command's report, for the operator
    try:
        with sessions.begin() as session:
            before = keyrotation.usage(session)
        for entry in before:
            counts = ", ".join(f"{k}: {n}" for k, n in sorted(entry.rows_by_key.items()))
            say(f"{entry.kind} by key id: {counts or 'none stored'}")
        pending = keyrotation.not_under_active(before, keyring)
        if check:
            say(f"{pending} credentials are not under the active key {keyring.active_key_id!r}")
            return 1 if pending else 0
        done = keyrotation.rewrap_all(sessions, keyring, batch=batch)
        for kind, rows in done.items():
            say(f"re-wrapped {rows} {kind} under key {keyring.active_key_id!r}")
        with sessions.begin() as session:
            left = keyrotation.not_under_active(keyrotation.usage(session), keyring)
        if left:
            # Connected concurrently under an old key by a registry not yet rolled out.
            say(f"{left} credentials are still under other keys: run rotate-keys again")
            return 1
        return 0
    except keyrotation.MissingKeysError as exc:
        log.error("rotate-keys: %s", exc)
        return 1
    except crypto.DecryptionError as exc:
        log.error("rotate-keys: a stored credential does not decrypt: %s", exc)
        return 1
    except sqlalchemy.exc.DBAPIError as exc:
        log.error("rotate-keys: database error (is the schema migrated?): %s", exc.orig)
        return 2
    finally:
        engine.dispose()


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="wl-registry",
        description="The Hosted Wasteland registry. Without a command it serves gRPC.",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve RegistryService (the default)")
    rotate = commands.add_parser(
        "rotate-keys",
        help="re-wrap every stored DoltHub credential under CREDENTIAL_ACTIVE_KEY_ID",
        description="Re-wrap every stored DoltHub credential under the active key of"
        " CREDENTIAL_KEYS (docs/operations.md: rotating the credential keyring).",
    )
    rotate.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 while any credential is under another key",
    )
    rotate.add_argument("--batch", type=int, default=500, help="rows per transaction")
    args = parser.parse_args(argv)
    if args.command == "rotate-keys" and args.batch < 1:
        parser.error("--batch must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``wl-registry [serve | rotate-keys [--check] [--batch N]]``."""
    args = _arguments(sys.argv[1:] if argv is None else argv)
    settings = RegistrySettings()
    logs.configure("registry", settings.log_level, settings.log_format)
    try:
        if args.command == "rotate-keys":
            raise SystemExit(rotate_keys(settings, check=args.check, batch=args.batch))
        telemetry.configure("registry", settings)
        asyncio.run(_serve(settings))
    except crypto.KeyringError as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
