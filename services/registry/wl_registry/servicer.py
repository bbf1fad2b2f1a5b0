"""RegistryService handlers: identify the caller, check the request, call one domain
function, build the response. Errors are domain errors mapped by the shared interceptor."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from wasteland.v1 import registry_pb2
from wasteland_common import errors
from wasteland_common.activity import ActivityRecorder, NoActivity
from wasteland_common.auth import Authenticator, Principal
from wasteland_common.db import utcnow

from . import (
    access_changes,
    actions,
    activity,
    convert,
    credentials,
    members,
    paging,
    provisioning,
    store,
    towns,
    upstream_credentials,
    validation,
    wastelands,
)
from .board import BoardNotifier
from .credentials import ForkChecker, TokenValidator
from .crypto import Keyring
from .upstream_credentials import WriteProbe
from .workloads import NoWorkloads, WorkloadNotifier

# Services whose forwarded user JWT we accept; a user token from anyone else is ignored.
USER_FORWARDERS = ("gateway", "executor", "board-sync", "registry")
INTERNAL_READERS = ("board-sync", "executor", "registry")


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class RegistryDeps:
    """Everything the handlers need, built once by server.py (or a test)."""

    sessions: sessionmaker[Session]
    authenticator: Authenticator
    keyring: Keyring
    joining: wastelands.Joining
    provisioning: provisioning.Settings
    validate_token: TokenValidator
    board: BoardNotifier
    probe_upstream: WriteProbe
    check_fork: ForkChecker
    workloads: WorkloadNotifier = field(default_factory=NoWorkloads)
    # Where the wastelands' activity logs are written (board-sync's ActivityService).
    activity: ActivityRecorder = field(default_factory=NoActivity)
    now: Callable[[], datetime] = utcnow
    new_id: Callable[[], str] = field(default=_new_id)
    # How often a WatchAccessChanges stream looks for new entries of the access log.
    access_change_poll_seconds: float = 0.25


class RegistryServicer:
    """The RegistryService gRPC handlers."""

    def __init__(self, deps: RegistryDeps) -> None:
        self.deps = deps
        # WatchAccessChanges serves the access log, so every change made through these
        # sessions writes it.
        access_changes.install(deps.sessions)

    # ------------------------------------------------------------------ callers

    def _user(self, context: Any) -> Principal:
        identity = self.deps.authenticator.identify(context.invocation_metadata())
        if identity.service not in USER_FORWARDERS:
            raise errors.Unauthenticated("Authentication required")
        return identity.require_user()

    def _service(self, context: Any, *allowed: str) -> None:
        identity = self.deps.authenticator.identify(context.invocation_metadata())
        identity.require_service(*allowed)

    def _executor_user(self, context: Any) -> Principal:
        identity = self.deps.authenticator.identify(context.invocation_metadata())
        identity.require_service("executor")
        return identity.require_user()

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await store.run(self.deps.sessions, fn, *args, **kwargs)

    # ------------------------------------------------------------------ wastelands

    async def CreateWasteland(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        owner_type = convert.required_enum(request.owner.type, convert.OWNER_TYPE, "owner.type")
        org_id: str | None = None
        if owner_type == "org":
            org_id = validation.identifier(request.owner.org_id, "owner.org_id")
        elif request.owner.org_id:
            raise errors.invalid("owner.org_id", "only for owner type org")
        if request.owner.user_id and request.owner.user_id != principal.user_id:
            raise errors.invalid("owner.user_id", "must be the calling user")
        spec = wastelands.NewWasteland(
            name=validation.name(request.name),
            owner_type=owner_type,
            owner_org_id=org_id,
            visibility=convert.required_enum(request.visibility, convert.VISIBILITY, "visibility"),
            upstream=validation.upstream(request.upstream) if request.upstream else None,
            dolthub_org=validation.optional_handle(request.dolthub_org, "dolthub_org"),
        )
        if spec.upstream is not None:
            if request.dolthub_token:
                raise errors.invalid("dolthub_token", "only for provisioning a new commons")
            created = await wastelands.create(
                self.deps.sessions,
                principal,
                spec,
                joining=self.deps.joining,
                board=self.deps.board,
                now=self.deps.now,
                new_id=self.deps.new_id,
            )
            await activity.created(self.deps.activity, principal, created)
        else:
            token = request.dolthub_token
            created = await provisioning.create(
                self.deps.sessions,
                principal,
                spec,
                token=SecretStr(validation.dolthub_token(token)) if token else None,
                settings=self.deps.provisioning,
                keyring=self.deps.keyring,
                board=self.deps.board,
                activity=self.deps.activity,
                now=self.deps.now,
                new_id=self.deps.new_id,
            )
        return registry_pb2.CreateWastelandResponse(wasteland=convert.wasteland(created))

    async def GetWasteland(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        found = await self._run(wastelands.get, principal, wasteland_id)
        return registry_pb2.GetWastelandResponse(wasteland=convert.wasteland(found))

    async def ListWastelands(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        org_id = validation.identifier(request.org_id, "org_id") if request.org_id else None
        page = paging.request(wastelands.LIST_KIND, request.page_size, request.page_token, 2)
        result = await self._run(wastelands.list_for, principal, org_id, page)
        return registry_pb2.ListWastelandsResponse(
            wastelands=[convert.wasteland(w) for w in result.items],
            next_page_token=result.next_page_token,
        )

    async def UpdateWasteland(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        changes = wastelands.WastelandChanges(
            name=validation.name(request.name) if request.HasField("name") else None,
            visibility=convert.enum_value(
                request.visibility, convert.VISIBILITY, "visibility", required=False
            ),
        )
        updated = await self._run(
            wastelands.update, principal, wasteland_id, changes, self.deps.now()
        )
        return registry_pb2.UpdateWastelandResponse(wasteland=convert.wasteland(updated))

    async def DeleteWasteland(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        await wastelands.delete(
            self.deps.sessions,
            principal,
            wasteland_id,
            board=self.deps.board,
            workloads=self.deps.workloads,
            now=self.deps.now,
        )
        return registry_pb2.DeleteWastelandResponse()

    async def RetryProvisioning(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        retried = await provisioning.retry(
            self.deps.sessions,
            principal,
            wasteland_id,
            settings=self.deps.provisioning,
            keyring=self.deps.keyring,
            board=self.deps.board,
            activity=self.deps.activity,
            now=self.deps.now,
        )
        return registry_pb2.RetryProvisioningResponse(wasteland=convert.wasteland(retried))

    async def ListActiveWastelands(self, request: Any, context: Any) -> Any:
        self._service(context, *INTERNAL_READERS)
        page = paging.request(wastelands.ACTIVE_KIND, request.page_size, request.page_token, 1)
        result = await self._run(wastelands.list_active, page)
        return registry_pb2.ListActiveWastelandsResponse(
            wastelands=[convert.wasteland(w) for w in result.items],
            next_page_token=result.next_page_token,
        )

    async def WatchAccessChanges(self, request: Any, context: Any) -> AsyncIterator[Any]:
        self._service(context, "gateway")
        cursor = await self._run(access_changes.head)
        yield registry_pb2.AccessChange(change_id=cursor, all=True)
        while True:
            found = await self._run(access_changes.changes_after, cursor)
            for change in found:
                cursor = change.change_id
                yield registry_pb2.AccessChange(
                    change_id=change.change_id,
                    wasteland_id=change.wasteland_id or "",
                    all=change.wasteland_id is None,
                )
            if not found:
                await asyncio.sleep(self.deps.access_change_poll_seconds)

    # ------------------------------------------------------------------ credentials

    async def PutCredential(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        token = validation.dolthub_token(request.dolthub_token)
        new = credentials.NewCredential(
            wasteland_id=wasteland_id,
            token=SecretStr(token),
            dolthub_org=validation.handle(request.dolthub_org, "dolthub_org"),
            rig_handle=validation.optional_handle(request.rig_handle, "rig_handle"),
        )
        status = await credentials.connect(
            self.deps.sessions,
            principal,
            new,
            validate=self.deps.validate_token,
            keyring=self.deps.keyring,
            now=self.deps.now,
            new_id=self.deps.new_id,
        )
        await activity.credential_connected(self.deps.activity, principal, wasteland_id, status)
        return registry_pb2.PutCredentialResponse(credential=convert.credential(status))

    async def GetCredential(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        status = await credentials.status_with_fork(
            self.deps.sessions,
            principal,
            wasteland_id,
            check_fork=self.deps.check_fork,
            keyring=self.deps.keyring,
            now=self.deps.now,
        )
        return registry_pb2.GetCredentialResponse(credential=convert.credential(status))

    async def DeleteCredential(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        if await self._run(credentials.delete, principal, wasteland_id):
            await activity.credential_removed(self.deps.activity, principal, wasteland_id)
        return registry_pb2.DeleteCredentialResponse()

    # ------------------------------------------------------------------ upstream credential

    async def PutUpstreamCredential(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        token = SecretStr(validation.dolthub_token(request.dolthub_token))
        status = await upstream_credentials.connect(
            self.deps.sessions,
            principal,
            wasteland_id,
            token,
            probe=self.deps.probe_upstream,
            keyring=self.deps.keyring,
            now=self.deps.now,
        )
        await activity.upstream_credential_connected(
            self.deps.activity, principal, wasteland_id, status
        )
        return registry_pb2.PutUpstreamCredentialResponse(
            credential=convert.upstream_credential(status)
        )

    async def GetUpstreamCredential(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        status = await self._run(upstream_credentials.status, principal, wasteland_id)
        return registry_pb2.GetUpstreamCredentialResponse(
            credential=convert.upstream_credential(status)
        )

    async def DeleteUpstreamCredential(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        if await self._run(upstream_credentials.delete, principal, wasteland_id):
            await activity.upstream_credential_removed(self.deps.activity, principal, wasteland_id)
        return registry_pb2.DeleteUpstreamCredentialResponse()

    # ------------------------------------------------------------------ members

    async def ListMembers(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        page = paging.request(members.LIST_KIND, request.page_size, request.page_token, 2)
        result = await self._run(members.list_members, principal, wasteland_id, page)
        return registry_pb2.ListMembersResponse(
            members=[convert.member(m) for m in result.items],
            next_page_token=result.next_page_token,
        )

    async def AddMember(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        added = await self._run(
            members.add,
            principal,
            wasteland_id,
            user_id=validation.user_id(request.user_id),
            role=convert.required_enum(request.role, convert.ASSIGNABLE_ROLE, "role"),
            trust_level=validation.trust_level(request.trust_level),
            now=self.deps.now(),
            new_id=self.deps.new_id,
        )
        await activity.member_added(self.deps.activity, principal, wasteland_id, added)
        return registry_pb2.AddMemberResponse(member=convert.member(added))

    async def UpdateMember(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        trust = (
            validation.trust_level(request.trust_level) if request.HasField("trust_level") else None
        )
        updated = await self._run(
            members.update,
            principal,
            wasteland_id,
            user_id=validation.user_id(request.user_id),
            role=convert.enum_value(request.role, convert.ASSIGNABLE_ROLE, "role", required=False),
            trust_level=trust,
            now=self.deps.now(),
        )
        return registry_pb2.UpdateMemberResponse(member=convert.member(updated))

    async def RemoveMember(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        user_id = validation.user_id(request.user_id)
        await self._run(members.remove, principal, wasteland_id, user_id=user_id)
        await activity.member_removed(self.deps.activity, principal, wasteland_id, user_id)
        return registry_pb2.RemoveMemberResponse()

    # ------------------------------------------------------------------ towns

    async def ConnectTown(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        town = towns.NewTown(
            wasteland_id=validation.identifier(request.wasteland_id, "wasteland_id"),
            town_id=validation.identifier(request.town_id, "town_id"),
            rig_handle=validation.handle(request.rig_handle, "rig_handle"),
            owner_email=validation.email(request.owner_email),
        )
        connected = await self._run(
            towns.connect, principal, town, now=self.deps.now(), new_id=self.deps.new_id
        )
        return registry_pb2.ConnectTownResponse(town=convert.town(connected))

    async def ListTowns(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        found = await self._run(towns.list_towns, principal, wasteland_id)
        return registry_pb2.ListTownsResponse(towns=[convert.town(t) for t in found])

    async def DisconnectTown(self, request: Any, context: Any) -> Any:
        principal = self._user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        town_id = validation.identifier(request.town_id, "town_id")
        await self._run(towns.disconnect, principal, wasteland_id, town_id)
        return registry_pb2.DisconnectTownResponse()

    # ------------------------------------------------------------------ executor

    async def AuthorizeAction(self, request: Any, context: Any) -> Any:
        principal = self._executor_user(context)
        wasteland_id = validation.identifier(request.wasteland_id, "wasteland_id")
        kind = convert.required_enum(request.kind, convert.OPERATION_KIND, "kind")
        if request.wanted_id:
            validation.identifier(request.wanted_id, "wanted_id")
        grant = await self._run(actions.authorize, principal, wasteland_id, kind, self.deps.keyring)
        return registry_pb2.AuthorizeActionResponse(
            wasteland=convert.wasteland(grant.wasteland),
            role=convert.role(grant.role),
            user_id=grant.user_id,
            rig_handle=grant.rig_handle,
            dolthub_org=grant.dolthub_org,
            # The one place tokens leave the registry: to the executor, for one call.
            dolthub_token=grant.token.get_secret_value(),
            rig_registered=grant.rig_registered,
            upstream_token=(
                grant.upstream_token.get_secret_value() if grant.upstream_token else ""
            ),
        )

    async def RecordRig(self, request: Any, context: Any) -> Any:
        self._service(context, "executor")
        recorded = await self._run(
            members.record_rig,
            validation.identifier(request.wasteland_id, "wasteland_id"),
            user_id=validation.user_id(request.user_id),
            rig_handle=validation.handle(request.rig_handle, "rig_handle"),
            now=self.deps.now(),
        )
        return registry_pb2.RecordRigResponse(member=convert.member(recorded))

    async def RecordTown(self, request: Any, context: Any) -> Any:
        self._service(context, "executor")
        url = request.pull_request_url
        if request.registered and not url.startswith(("https://", "http://")):
            raise errors.invalid("pull_request_url", "must be the pull request's address")
        await self._run(
            towns.record_registration,
            validation.identifier(request.wasteland_id, "wasteland_id"),
            validation.identifier(request.town_id, "town_id"),
            registered=request.registered,
            pull_request_url=validation.free_text(url, "pull_request_url", 500),
        )
        return registry_pb2.RecordTownResponse()
