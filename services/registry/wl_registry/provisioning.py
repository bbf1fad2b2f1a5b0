"""Provisioning a new commons on DoltHub with the creator's own credential.

The creator names a DoltHub org (default: their credential's org). When that org has no
copy of the template yet, the template is forked into it (instant and pointer-based on
DoltHub; the fork keeps the template's name). Otherwise a database named after the
wasteland is created and the commons schema v1.2 loaded into it through the write API.
On a freshly created database DoltHub silently ignores writes to ``main`` and implicit
branch creation (``/work/shared/spec/dolthub-api.md`` §3), so every write goes to an
explicitly created bootstrap branch that is then merged into ``main``; the same branch
registers the creator's rig and names the commons. Every step tolerates having been done
before, so a failed provisioning can simply run again.

The creator's credential becomes the wasteland's upstream credential (it can write the
commons: it just created it) as well as their member credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import commons, dolthub, errors
from wasteland_common.activity import ActivityRecorder
from wasteland_common.auth import Principal
from wasteland_common.dolthub import DoltHubClient, bind

from . import activity as activity_log
from . import credentials as member_credentials
from . import crypto, members, store, upstream_credentials
from .board import BoardNotifier
from .crypto import Keyring
from .store import WastelandRow
from .validation import UpstreamRef
from .wastelands import NewWasteland, WastelandView, insert, mark_active, mark_failed, view

log = logging.getLogger(__name__)

BOOTSTRAP = "wl-bootstrap"
_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_DB = 64
CREATOR_TRUST = 3  # the creator maintains the commons they made


@dataclass(frozen=True)
class Creator:
    """Who provisions: their DoltHub token and org, and the rig they register."""

    token: SecretStr
    org: str
    rig_handle: str
    email: str = ""

    def __repr__(self) -> str:
        return f"Creator(org={self.org!r}, rig_handle={self.rig_handle!r})"


@dataclass(frozen=True)
class Target:
    """The database the new commons lives in; ``fork`` when it is a fork of the template."""

    owner: str
    database: str
    fork: bool

    @property
    def ref(self) -> UpstreamRef:
        return UpstreamRef(self.owner, self.database)


def database_name(wasteland_name: str) -> str:
    """A DoltHub database name derived from the wasteland's name."""
    slug = _SLUG.sub("-", wasteland_name.lower()).strip("-")[:_MAX_DB].strip("-")
    return slug or "wasteland"


async def choose_target(
    client: DoltHubClient, template: UpstreamRef, org: str, name: str
) -> Target:
    """Fork the template into ``org`` when the org has no copy of it, else a new database
    named after the wasteland (``-2``, ``-3`` … when the name is taken)."""
    if not await client.database_exists(org, template.database):
        return Target(org, template.database, fork=True)
    base = database_name(name)
    for n in range(1, 100):
        candidate = base if n == 1 else f"{base[: _MAX_DB - 4]}-{n}"
        if candidate != template.database and not await client.database_exists(org, candidate):
            return Target(org, candidate, fork=False)
    raise errors.AlreadyExists(
        f"dolthub_org: {org} has no free database name for {name!r}",
        [errors.FieldViolation("dolthub_org", "no free database name")],
    )


def _registration(creator: Creator, display_name: str) -> str:
    hop_uri = f"hop://{creator.email}/{creator.rig_handle}/"
    return bind(
        "INSERT INTO rigs (handle, display_name, dolthub_org, hop_uri, owner_email, gt_version,"
        " trust_level, registered_at, last_seen) VALUES (?, ?, ?, ?, ?, 'hosted', ?, NOW(), NOW())"
        " ON DUPLICATE KEY UPDATE dolthub_org = ?, last_seen = NOW()",
        creator.rig_handle,
        display_name,
        creator.org,
        hop_uri,
        creator.email or None,
        CREATOR_TRUST,
        creator.org,
    )


async def build(
    client: DoltHubClient,
    template: UpstreamRef,
    target: Target,
    *,
    wasteland_name: str,
    visibility: str,
    creator: Creator,
) -> str:
    """Make the commons at ``target`` (acting as the creator) and return the DoltHub user
    the creator's token acts as ("" when DoltHub does not say). Idempotent."""
    if target.fork:
        await client.fork(template.owner, template.database, target.owner)
        statements: list[str] = []
    else:
        with contextlib.suppress(dolthub.AlreadyExists):  # a retry: made the first time
            await client.create_database(
                target.owner,
                target.database,
                visibility=visibility,
                description=f"Wasteland commons: {wasteland_name}",
            )
        statements = commons.ddl_statements()
    statements.append(
        bind("INSERT IGNORE INTO _meta (`key`, value) VALUES ('wasteland_name', ?)", wasteland_name)
    )
    if creator.rig_handle:
        statements.append(_registration(creator, creator.rig_handle))
    await client.create_branch(target.owner, target.database, BOOTSTRAP, "main")
    user = ""
    for sql in statements:
        result = await client.write(target.owner, target.database, BOOTSTRAP, BOOTSTRAP, sql)
        user = user or dolthub.operation_user(result.operation_name)
    await client.merge_branch(target.owner, target.database, BOOTSTRAP, "main")
    with contextlib.suppress(dolthub.NotFound):
        await client.delete_branch(target.owner, target.database, BOOTSTRAP)
    return user


async def verify(client: DoltHubClient, target: Target, creator: Creator) -> str | None:
    """Why the commons at ``target`` is not ready (None when it is): a v1 schema on
    ``main`` and the creator's rig registered there."""
    from .wastelands import schema_version  # the one place that reads _meta

    version = await schema_version(client, target.ref)
    if version is None or not version.startswith("1."):
        return f"the new commons has schema {version or 'none'}, not 1.x"
    if not creator.rig_handle:
        return None
    rigs = await client.read(
        target.owner,
        target.database,
        bind("SELECT handle FROM rigs WHERE handle = ?", creator.rig_handle),
    )
    if not rigs.rows:
        return f"rig {creator.rig_handle} is not registered on the new commons"
    return None


# ---------------------------------------------------------------------------- records


def record_pending(
    session: Session,
    principal: Principal,
    spec: NewWasteland,
    target: Target,
    creator: Creator,
    *,
    keyring: Keyring,
    now: datetime,
    new_id: Callable[[], str],
) -> WastelandView:
    """The wasteland (``provisioning``), its owner, and the creator's credential stored
    both as their member credential and as the wasteland's upstream credential."""
    created = insert(
        session, principal, spec, upstream=str(target.ref), status="provisioning",
        now=now, new_id=new_id,
    )  # fmt: skip
    row = session.get(WastelandRow, created.wasteland_id)
    assert row is not None
    row.dolthub_org = target.owner
    secret = creator.token.get_secret_value()
    hint = crypto.token_hint(secret)
    if creator.rig_handle:  # the creator's own credential (not the operator's token)
        member_credentials.store_row(
            session,
            created.wasteland_id,
            principal.user_id,
            dolthub_org=creator.org,
            rig_handle=creator.rig_handle,
            sealed=crypto.seal(
                secret, keyring, crypto.associated_data(created.wasteland_id, principal.user_id)
            ),
            hint=hint,
            now=now,
            new_id=new_id,
        )
    upstream_credentials.store_row(
        session,
        created.wasteland_id,
        sealed=crypto.seal(
            secret, keyring, upstream_credentials.associated_data(created.wasteland_id)
        ),
        hint=hint,
        dolthub_user="",
        connected_by=principal.user_id,
        now=now,
    )
    return view(row, "owner", creator.rig_handle)


def record_built(
    session: Session, wasteland_id: str, user_id: str, rig_handle: str, dolthub_user: str,
    now: datetime,
) -> WastelandView:  # fmt: skip
    """Provisioning finished: active, the creator's rig registered, the DoltHub user of
    the upstream credential known."""
    if rig_handle:
        members.record_rig(session, wasteland_id, user_id=user_id, rig_handle=rig_handle, now=now)
    cred = session.get(store.UpstreamCredentialRow, wasteland_id)
    if cred is not None and dolthub_user:
        cred.dolthub_user = dolthub_user[: store.HANDLE_LEN]
    return mark_active(session, wasteland_id, now)


def discard(session: Session, wasteland_id: str) -> None:
    """Forget a wasteland whose provisioning made nothing on DoltHub (refused outright)."""
    row = session.get(WastelandRow, wasteland_id)
    if row is not None and row.status in ("provisioning", "failed"):
        session.delete(row)


# ---------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Run:
    """One provisioning run's inputs."""

    wasteland_id: str
    user_id: str
    name: str
    visibility: str
    target: Target
    creator: Creator


def failure_reason(exc: BaseException, target: Target) -> tuple[str, bool]:
    """A user-safe reason for a failed run, and whether DoltHub refused it outright
    (nothing was made: the token cannot create databases in the org)."""
    if isinstance(exc, dolthub.Forbidden | dolthub.Unauthorized):
        return f"the DoltHub token cannot create databases in {target.owner}", True
    if isinstance(exc, TimeoutError | dolthub.Unavailable | dolthub.RateLimited):
        return "DoltHub did not finish creating the commons; retry the provisioning", False
    if isinstance(exc, errors.DomainError):
        return exc.message, False
    if isinstance(exc, dolthub.DoltHubError):
        return f"DoltHub could not create {target.ref}", False
    return "provisioning failed unexpectedly", False


async def execute(
    sessions: sessionmaker[Session],
    client: DoltHubClient,
    template: UpstreamRef,
    run: Run,
    *,
    board: BoardNotifier,
    activity: ActivityRecorder,
    limit_seconds: float,
    now: Callable[[], datetime],
) -> WastelandView:
    """Build and verify the commons, then record the outcome: ``active`` (tracked by
    board-sync; ``provisioned`` in the activity log) or ``failed`` with a reason. Raises
    the failure (refused outright: ``refused`` is set on the wasteland's record first, see
    :func:`failure_reason`)."""
    acting = client.with_token(run.creator.token)
    try:
        async with asyncio.timeout(limit_seconds):
            user = await build(
                acting, template, run.target, wasteland_name=run.name,
                visibility=run.visibility, creator=run.creator,
            )  # fmt: skip
            problem = await verify(acting, run.target, run.creator)
        if problem is not None:
            raise errors.FailedPrecondition(problem)
    except BaseException as exc:
        reason, _ = failure_reason(exc, run.target)
        log.warning(
            "provisioning wasteland %s into %s failed: %s", run.wasteland_id, run.target.ref,
            reason, extra={"event": "wasteland.provisioning_failed"},
        )  # fmt: skip
        with contextlib.suppress(Exception):
            await store.run(sessions, mark_failed, run.wasteland_id, reason, now())
        raise
    active = await store.run(
        sessions, record_built, run.wasteland_id, run.user_id, run.creator.rig_handle, user,
        now(),
    )  # fmt: skip
    if active.status == "active":
        log.info(
            "wasteland %s provisioned at %s", run.wasteland_id, run.target.ref,
            extra={"event": "wasteland.provisioned"},
        )  # fmt: skip
        await activity_log.provisioned(
            activity, run.user_id, active, rig_handle=run.creator.rig_handle
        )
        await board.track(active.wasteland_id, active.upstream)
    return active


# ---------------------------------------------------------------------------- entry points


@dataclass(frozen=True)
class Settings:
    """How commons are provisioned: the template, the DoltHub client, the operator's
    optional token, how long one run may take and how long a create call waits for it."""

    client: DoltHubClient
    template: UpstreamRef
    operator_token: SecretStr | None
    timeout: float
    wait: float


def _creator_for(
    session: Session, principal: Principal, spec: NewWasteland, token: SecretStr | None,
    keyring: Keyring, operator_token: SecretStr | None,
) -> Creator:  # fmt: skip
    """The credential that provisions: the one passed in the create call, else the one
    the creator connected last, else (an operator option) the operator's token."""
    if token is not None:
        if spec.dolthub_org is None:
            raise errors.invalid("dolthub_org", "required with dolthub_token")
        return Creator(token=token, org=spec.dolthub_org, rig_handle=spec.dolthub_org)
    last = member_credentials.last_connected(session, principal.user_id, keyring)
    if last is not None:
        return Creator(
            token=last.token, org=spec.dolthub_org or last.dolthub_org, rig_handle=last.rig_handle
        )
    if operator_token is not None and spec.dolthub_org is not None:
        return Creator(token=operator_token, org=spec.dolthub_org, rig_handle="")
    raise errors.FailedPrecondition(
        "connect DoltHub first: pass dolthub_token (and dolthub_org) to create a commons"
    )


_runs: set[asyncio.Task[WastelandView]] = set()


async def _start(
    sessions: sessionmaker[Session], settings: Settings, run: Run, *, board: BoardNotifier,
    activity: ActivityRecorder, now: Callable[[], datetime],
) -> WastelandView:  # fmt: skip
    """Run the provisioning in its own task (a caller who hangs up does not stop it) and
    wait for it up to ``settings.wait``; then answer the wasteland as it is."""
    task = asyncio.create_task(
        execute(sessions, settings.client, settings.template, run, board=board,
                activity=activity, limit_seconds=settings.timeout, now=now)
    )  # fmt: skip
    _runs.add(task)
    task.add_done_callback(_runs.discard)
    done, _ = await asyncio.wait({task}, timeout=settings.wait)
    if not done:
        return await store.run(sessions, _current, run.wasteland_id)
    exc = task.exception()
    if exc is None:
        return task.result()
    reason, refused = failure_reason(exc, run.target)
    if refused:
        await store.run(sessions, discard, run.wasteland_id)
        raise errors.invalid("dolthub_org", reason) from None
    if isinstance(exc, errors.DomainError):
        raise exc
    if isinstance(exc, TimeoutError | dolthub.Unavailable | dolthub.RateLimited):
        raise errors.Unavailable(reason, retry_after=30) from None
    raise errors.FailedPrecondition(reason) from None


def _current(session: Session, wasteland_id: str) -> WastelandView:
    row = session.get(WastelandRow, wasteland_id)
    if row is None:
        raise errors.NotFound("wasteland not found")
    return view(row, "owner")


async def create(
    sessions: sessionmaker[Session],
    principal: Principal,
    spec: NewWasteland,
    *,
    token: SecretStr | None,
    settings: Settings,
    keyring: Keyring,
    board: BoardNotifier,
    activity: ActivityRecorder,
    now: Callable[[], datetime],
    new_id: Callable[[], str],
) -> WastelandView:
    """Create a wasteland with a new commons provisioned from the template (see the
    module's docstring); ``provisioning`` until done, then ``active`` or ``failed``."""
    from .ownership import can_create

    if not can_create(principal, spec.owner_type, spec.owner_org_id):
        raise errors.PermissionDenied("only the org's owners and members may create its wastelands")
    creator = await store.run(
        sessions, _creator_for, principal, spec, token, keyring, settings.operator_token
    )
    acting = settings.client.with_token(creator.token)
    try:
        await acting.validate_token(settings.template.owner, settings.template.database)
    except dolthub.Unauthorized:
        raise errors.invalid("dolthub_token", "DoltHub rejected the token") from None
    target = await choose_target(acting, settings.template, creator.org, spec.name)
    pending = await store.run(
        sessions, record_pending, principal, spec, target, creator,
        keyring=keyring, now=now(), new_id=new_id,
    )  # fmt: skip
    log.info(
        "provisioning wasteland %s into %s (%s)", pending.wasteland_id, target.ref,
        "fork of the template" if target.fork else "new database",
        extra={"event": "wasteland.provisioning"},
    )  # fmt: skip
    # Recorded before the run starts, so it precedes ``provisioned``. (A create refused
    # outright forgets the wasteland, and with it any view of these records.)
    await activity_log.created_with_new_commons(
        activity, principal, pending, creator_org=creator.org if creator.rig_handle else ""
    )
    run = Run(pending.wasteland_id, principal.user_id, spec.name, spec.visibility, target, creator)
    return await _start(sessions, settings, run, board=board, activity=activity, now=now)


def _retryable(
    session: Session, principal: Principal, wasteland_id: str, keyring: Keyring,
    template: UpstreamRef,
) -> Run:  # fmt: skip
    from .wastelands import access_to

    row, access = access_to(session, principal, wasteland_id, for_update=True)
    if not (access.is_member and access.role == "owner"):
        raise errors.PermissionDenied("only the wasteland's owners may retry its provisioning")
    if row.status != "failed":
        raise errors.FailedPrecondition(f"the wasteland is {row.status}, not failed")
    token = upstream_credentials.reveal(session, wasteland_id, keyring)
    if token is None:
        raise errors.FailedPrecondition("the provisioning credential is gone; create it again")
    owner, _, database = row.upstream.partition("/")
    cred = member_credentials.credential_row(session, wasteland_id, principal.user_id)
    creator = Creator(token=token, org=owner, rig_handle=cred.rig_handle if cred else "")
    row.status = "provisioning"
    row.status_reason = ""
    target = Target(owner, database, fork=database == template.database)
    return Run(wasteland_id, principal.user_id, row.name, row.visibility, target, creator)


async def retry(
    sessions: sessionmaker[Session],
    principal: Principal,
    wasteland_id: str,
    *,
    settings: Settings,
    keyring: Keyring,
    board: BoardNotifier,
    activity: ActivityRecorder,
    now: Callable[[], datetime],
) -> WastelandView:
    """Run the provisioning of a failed wasteland again (its owner)."""
    run = await store.run(sessions, _retryable, principal, wasteland_id, keyring, settings.template)
    return await _start(sessions, settings, run, board=board, activity=activity, now=now)
