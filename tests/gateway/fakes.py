"""Small but honest stand-ins for registry, board-sync and executor, served over real gRPC.

Each fake validates the caller's metadata the way the real services do (the gateway's
service token and the user's Kilo JWT), keeps a little state, and raises the specific
status codes the real services are specified to raise. ``faults`` injects a failure
into the next call of a method.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from wasteland.v1 import (
    activity_pb2,
    activity_pb2_grpc,
    board_pb2,
    board_pb2_grpc,
    common_pb2,
    executor_pb2,
    executor_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
)
from wasteland_common import errors, grpc_server
from wasteland_common.auth import REQUEST_ID_METADATA_KEY, Authenticator, Principal
from wasteland_common.settings import DEV_JWT_SECRET, DEV_SERVICE_SECRET

AUDIENCE = "wasteland"
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
T0_TEXT = "2023-11-14T22:13:20Z"


def ts(seconds: int = T0) -> Timestamp:
    return Timestamp(seconds=seconds)


@dataclass
class Fault:
    """A failure to inject: a domain error (rich status) or a bare status code."""

    error: errors.DomainError | None = None
    code: grpc.StatusCode | None = None
    message: str = "injected"


@dataclass
class Common:
    """What every fake does on entry: check identity, record the request id, faults."""

    authn: Authenticator = field(
        default_factory=lambda: Authenticator(
            user_secret=DEV_JWT_SECRET, audience=AUDIENCE, service_secret=DEV_SERVICE_SECRET
        )
    )
    faults: dict[str, Fault] = field(default_factory=dict)
    request_ids: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    # A call of a gated method signals ``entered[method]`` and waits for its gate.
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    entered: dict[str, asyncio.Event] = field(default_factory=dict)

    async def enter(
        self, method: str, context: grpc.aio.ServicerContext, *, user: bool = True
    ) -> Principal | None:
        metadata = context.invocation_metadata() or ()
        for key, value in metadata:
            if key == REQUEST_ID_METADATA_KEY and isinstance(value, str):
                self.request_ids.append(value)
        self.calls[method] = self.calls.get(method, 0) + 1
        identity = self.authn.identify(metadata)
        identity.require_service("gateway")
        principal = identity.require_user() if user else identity.principal
        gate = self.gates.get(method)
        if gate is not None:
            self.entered.setdefault(method, asyncio.Event()).set()
            await gate.wait()
        fault = self.faults.pop(method, None)
        if fault is not None:
            if fault.error is not None:
                raise fault.error
            assert fault.code is not None
            await context.abort(fault.code, fault.message)
        return principal


# ============================================================================ registry
class FakeRegistry(registry_pb2_grpc.RegistryServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.common = Common()
        self.wastelands: dict[str, Any] = {}
        self.owners: dict[str, str] = {}
        self.members: dict[str, dict[str, Any]] = {}
        self.credentials: dict[tuple[str, str], Any] = {}
        self.tokens: dict[tuple[str, str], str] = {}
        self.towns: dict[str, dict[str, Any]] = {}
        self.upstream: dict[str, Any] = {}
        self._next = 0
        # WatchAccessChanges: one queue per open stream, and the last change id.
        self.access_watchers: list[asyncio.Queue[Any]] = []
        self.access_seq = 0
        # Off by default: tests that edit the fake directly expect no cached answer.
        self.serve_access_changes = False

    # ------------------------------------------------------------------ test helpers
    def seed(self, owner: str, *, visibility: str = "public", name: str = "Demo") -> str:
        self._next += 1
        wid = f"wl-{self._next}"
        self.wastelands[wid] = common_pb2.Wasteland(
            wasteland_id=wid,
            name=name,
            owner=common_pb2.Owner(type=common_pb2.OWNER_TYPE_USER, user_id=owner),
            visibility="VISIBILITY_" + visibility.upper(),
            upstream="hop/wl-commons",
            status=common_pb2.WASTELAND_STATUS_ACTIVE,
            created_at=ts(),
            updated_at=ts(T0 + 60),
            runtime_state=common_pb2.RUNTIME_STATE_RUNNING,
        )
        self.owners[wid] = owner
        self.members[wid] = {
            owner: common_pb2.Member(
                user_id=owner,
                role=common_pb2.MEMBER_ROLE_OWNER,
                trust_level=3,
                joined_at=ts(),
                source=common_pb2.MEMBER_SOURCE_EXPLICIT,
            )
        }
        self.towns[wid] = {}
        return wid

    def connect(self, wid: str, user: str, org: str, rig: str = "") -> None:
        self.credentials[(wid, user)] = common_pb2.CredentialStatus(
            connected=True,
            dolthub_org=org,
            rig_handle=rig,
            token_hint="abcd",
            connected_at=ts(),
        )
        self.tokens[(wid, user)] = "secret-token-abcd"

    def visible(self, wid: str, user: str) -> Any:
        """The wasteland as ``user`` sees it, or NOT_FOUND."""
        wasteland = self.wastelands.get(wid)
        if wasteland is None:
            raise errors.NotFound("wasteland not found")
        member = self.members[wid].get(user)
        if wasteland.visibility != common_pb2.VISIBILITY_PUBLIC and member is None:
            raise errors.NotFound("wasteland not found")
        out = common_pb2.Wasteland()
        out.CopyFrom(wasteland)
        out.my_role = member.role if member else common_pb2.MEMBER_ROLE_VIEWER
        cred = self.credentials.get((wid, user))
        out.my_rig_handle = (member.rig_handle if member else "") or (
            (cred.rig_handle or cred.dolthub_org) if cred else ""
        )
        return out

    def _owner_only(self, wid: str, user: str) -> None:
        self.visible(wid, user)
        if self.owners[wid] != user:
            raise errors.PermissionDenied("only the owner may do this")

    async def _user(self, method: str, context: grpc.aio.ServicerContext) -> str:
        principal = await self.common.enter(method, context)
        assert principal is not None
        return principal.user_id

    # ------------------------------------------------------------------- wastelands
    async def CreateWasteland(self, request: Any, context: Any) -> Any:
        user = await self._user("CreateWasteland", context)
        if request.name == "taken":
            raise errors.AlreadyExists("a wasteland with this name exists")
        if request.owner.type == common_pb2.OWNER_TYPE_ORG:
            raise errors.PermissionDenied("Not an org member")
        visibility = common_pb2.Visibility.Name(request.visibility).removeprefix("VISIBILITY_")
        wid = self.seed(user, visibility=visibility.lower(), name=request.name)
        if request.upstream:
            self.wastelands[wid].upstream = request.upstream
        return registry_pb2.CreateWastelandResponse(wasteland=self.visible(wid, user))

    async def GetWasteland(self, request: Any, context: Any) -> Any:
        user = await self._user("GetWasteland", context)
        return registry_pb2.GetWastelandResponse(wasteland=self.visible(request.wasteland_id, user))

    async def ListWastelands(self, request: Any, context: Any) -> Any:
        user = await self._user("ListWastelands", context)
        mine = [self.visible(w, user) for w in self.wastelands if user in self.members[w]]
        start = int(request.page_token or 0)
        page = mine[start : start + request.page_size]
        more = start + request.page_size < len(mine)
        return registry_pb2.ListWastelandsResponse(
            wastelands=page, next_page_token=str(start + request.page_size) if more else ""
        )

    async def UpdateWasteland(self, request: Any, context: Any) -> Any:
        user = await self._user("UpdateWasteland", context)
        self._owner_only(request.wasteland_id, user)
        self.access_changed(request.wasteland_id)
        stored = self.wastelands[request.wasteland_id]
        if request.HasField("name"):
            stored.name = request.name
        if request.visibility:
            stored.visibility = request.visibility
        return registry_pb2.UpdateWastelandResponse(
            wasteland=self.visible(request.wasteland_id, user)
        )

    async def DeleteWasteland(self, request: Any, context: Any) -> Any:
        user = await self._user("DeleteWasteland", context)
        self._owner_only(request.wasteland_id, user)
        del self.wastelands[request.wasteland_id]
        self.access_changed(request.wasteland_id)
        return registry_pb2.DeleteWastelandResponse()

    # ------------------------------------------------------------------ credentials
    async def PutCredential(self, request: Any, context: Any) -> Any:
        user = await self._user("PutCredential", context)
        self.visible(request.wasteland_id, user)
        if request.dolthub_token.startswith("bad"):
            raise errors.invalid("dolthub_token", "DoltHub rejected the token")
        self.credentials[(request.wasteland_id, user)] = common_pb2.CredentialStatus(
            connected=True,
            dolthub_org=request.dolthub_org,
            rig_handle=request.rig_handle,
            token_hint=request.dolthub_token[-4:],
            connected_at=ts(),
        )
        self.tokens[(request.wasteland_id, user)] = request.dolthub_token
        self.members[request.wasteland_id].setdefault(
            user,
            common_pb2.Member(
                user_id=user,
                role=common_pb2.MEMBER_ROLE_CONTRIBUTOR,
                trust_level=1,
                joined_at=ts(),
                source=common_pb2.MEMBER_SOURCE_EXPLICIT,
            ),
        )
        return registry_pb2.PutCredentialResponse(
            credential=self.credentials[(request.wasteland_id, user)]
        )

    async def GetCredential(self, request: Any, context: Any) -> Any:
        user = await self._user("GetCredential", context)
        self.visible(request.wasteland_id, user)
        cred = self.credentials.get((request.wasteland_id, user))
        return registry_pb2.GetCredentialResponse(
            credential=cred or common_pb2.CredentialStatus(connected=False)
        )

    async def PutUpstreamCredential(self, request: Any, context: Any) -> Any:
        user = await self._user("PutUpstreamCredential", context)
        self._owner_only(request.wasteland_id, user)
        if not request.dolthub_token.startswith("writer"):
            raise errors.invalid("dolthub_token", "the token cannot write the upstream")
        self.upstream[request.wasteland_id] = common_pb2.UpstreamCredentialStatus(
            connected=True,
            dolthub_user="hop",
            token_hint=request.dolthub_token[-4:],
            connected_at=ts(),
        )
        return registry_pb2.PutUpstreamCredentialResponse(
            credential=self.upstream[request.wasteland_id]
        )

    async def GetUpstreamCredential(self, request: Any, context: Any) -> Any:
        user = await self._user("GetUpstreamCredential", context)
        self.visible(request.wasteland_id, user)
        status = self.upstream.get(request.wasteland_id)
        return registry_pb2.GetUpstreamCredentialResponse(
            credential=status or common_pb2.UpstreamCredentialStatus(connected=False)
        )

    async def DeleteUpstreamCredential(self, request: Any, context: Any) -> Any:
        user = await self._user("DeleteUpstreamCredential", context)
        self._owner_only(request.wasteland_id, user)
        self.upstream.pop(request.wasteland_id, None)
        return registry_pb2.DeleteUpstreamCredentialResponse()

    async def DeleteCredential(self, request: Any, context: Any) -> Any:
        user = await self._user("DeleteCredential", context)
        self.visible(request.wasteland_id, user)
        self.credentials.pop((request.wasteland_id, user), None)
        return registry_pb2.DeleteCredentialResponse()

    # ---------------------------------------------------------------------- members
    async def ListMembers(self, request: Any, context: Any) -> Any:
        user = await self._user("ListMembers", context)
        self.visible(request.wasteland_id, user)
        return registry_pb2.ListMembersResponse(
            members=list(self.members[request.wasteland_id].values())
        )

    async def AddMember(self, request: Any, context: Any) -> Any:
        user = await self._user("AddMember", context)
        self._owner_only(request.wasteland_id, user)
        if request.user_id in self.members[request.wasteland_id]:
            raise errors.AlreadyExists("already a member")
        member = common_pb2.Member(
            user_id=request.user_id,
            role=request.role,
            trust_level=request.trust_level,
            joined_at=ts(),
            source=common_pb2.MEMBER_SOURCE_EXPLICIT,
        )
        self.members[request.wasteland_id][request.user_id] = member
        return registry_pb2.AddMemberResponse(member=member)

    async def UpdateMember(self, request: Any, context: Any) -> Any:
        user = await self._user("UpdateMember", context)
        self._owner_only(request.wasteland_id, user)
        member = self.members[request.wasteland_id].get(request.user_id)
        if member is None:
            raise errors.NotFound("member not found")
        if request.role:
            member.role = request.role
        if request.HasField("trust_level"):
            member.trust_level = request.trust_level
        return registry_pb2.UpdateMemberResponse(member=member)

    async def RemoveMember(self, request: Any, context: Any) -> Any:
        user = await self._user("RemoveMember", context)
        self._owner_only(request.wasteland_id, user)
        if request.user_id == user:
            raise errors.FailedPrecondition("an owner cannot remove themself")
        if self.members[request.wasteland_id].pop(request.user_id, None) is None:
            raise errors.NotFound("member not found")
        self.access_changed(request.wasteland_id)
        return registry_pb2.RemoveMemberResponse()

    def access_changed(self, wid: str) -> None:
        """Tell every WatchAccessChanges stream that ``wid``'s access changed."""
        self.access_seq += 1
        change = registry_pb2.AccessChange(change_id=self.access_seq, wasteland_id=wid)
        for queue in self.access_watchers:
            queue.put_nowait(change)

    async def WatchAccessChanges(self, request: Any, context: Any) -> AsyncIterator[Any]:
        await self.common.enter("WatchAccessChanges", context, user=False)
        if not self.serve_access_changes:
            raise errors.Unavailable("the access log is unavailable")
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self.access_watchers.append(queue)
        try:
            yield registry_pb2.AccessChange(change_id=self.access_seq, all=True)
            while True:
                yield await queue.get()
        finally:
            self.access_watchers.remove(queue)

    def record_rig(self, wid: str, user: str, rig: str) -> None:
        member = self.members[wid].setdefault(
            user,
            common_pb2.Member(
                user_id=user,
                role=common_pb2.MEMBER_ROLE_CONTRIBUTOR,
                trust_level=1,
                joined_at=ts(),
                source=common_pb2.MEMBER_SOURCE_EXPLICIT,
            ),
        )
        member.rig_handle = rig
        cred = self.credentials.get((wid, user))
        if cred is not None:
            cred.rig_handle = rig

    # ------------------------------------------------------------------------ towns
    async def ConnectTown(self, request: Any, context: Any) -> Any:
        user = await self._user("ConnectTown", context)
        self.visible(request.wasteland_id, user)
        town = common_pb2.Town(
            town_id=request.town_id,
            rig_handle=request.rig_handle,
            owner_email=request.owner_email,
            parent_rig=self.members[request.wasteland_id].get(user, common_pb2.Member()).rig_handle,
            connected_by=user,
            connected_at=ts(),
        )
        self.towns[request.wasteland_id][request.town_id] = town
        return registry_pb2.ConnectTownResponse(town=town)

    async def ListTowns(self, request: Any, context: Any) -> Any:
        user = await self._user("ListTowns", context)
        self.visible(request.wasteland_id, user)
        return registry_pb2.ListTownsResponse(towns=list(self.towns[request.wasteland_id].values()))

    async def DisconnectTown(self, request: Any, context: Any) -> Any:
        user = await self._user("DisconnectTown", context)
        self.visible(request.wasteland_id, user)
        if self.towns[request.wasteland_id].pop(request.town_id, None) is None:
            raise errors.NotFound("town not found")
        return registry_pb2.DisconnectTownResponse()


# =============================================================================== board
def wanted(
    wanted_id: str,
    title: str,
    *,
    type_: str = "feature",
    priority: int = 2,
    status: str = "open",
    posted_by: str = "hop",
    claimed_by: str = "",
) -> Any:
    return common_pb2.WantedItem(
        wanted_id=wanted_id,
        title=title,
        description=f"Description of {title}",
        project="gastown",
        type=type_,
        priority=priority,
        tags=["go", "cli"],
        posted_by=posted_by,
        claimed_by=claimed_by,
        status=status,
        effort_level="medium",
        sandbox_required=False,
        sandbox_scope='{"net": false}',
        sandbox_min_tier="",
        created_at=ts(),
        updated_at=ts(T0 + 120),
    )


BOARD = [
    wanted("w-1", "Fix the flaky sync", type_="bug", priority=1),
    wanted("w-2", "Write the guide", type_="docs", priority=3),
    wanted("w-3", "Design rigs page", type_="design", status="claimed", claimed_by="alice"),
    wanted("w-4", "Add inference gate", type_="feature", priority=0, posted_by="alice"),
    wanted("w-5", "Old idea", type_="rfc", status="withdrawn"),
]


def pull(
    pull_id: str,
    kind: str,
    *,
    wanted_id: str = "",
    author_rig: str = "bob",
    state: str = "open",
    warnings: tuple[tuple[str, str], ...] = (),
    stamp_subjects: tuple[str, ...] = (),
) -> Any:
    """A Pull as board-sync answers it, with one row change."""
    return board_pb2.Pull(
        pull_id=pull_id,
        title=f"[wl] {wanted_id or author_rig}",
        state="PULL_STATE_" + state.upper(),
        kind="PULL_KIND_" + kind.upper(),
        wanted_id=wanted_id,
        author_rig=author_rig,
        from_branch=f"wl/{author_rig}/{wanted_id}" if wanted_id else f"wl/register/{author_rig}",
        created_at=ts(),
        mergeable=state == "open",
        url=f"https://www.dolthub.com/repositories/hop/wl-commons/pulls/{pull_id}",
        warnings=[board_pb2.PullWarning(code=c, message=m) for c, m in warnings],
        from_owner=author_rig,
        author=author_rig,
        stamp_subjects=list(stamp_subjects),
        changes=[
            board_pb2.PullChange(
                table="wanted",
                key=wanted_id,
                kind="modified",
                before_json=json.dumps({"id": wanted_id, "status": "open", "claimed_by": None}),
                after_json=json.dumps({"id": wanted_id, "status": "claimed", "claimed_by": "bob"}),
            )
        ]
        if wanted_id
        else [],
    )


# Special pull requests: 12 stamps alice's work, 13 carries a warning, 14 stays RUNNING.
PULLS = [
    pull("10", "registration"),
    pull("11", "claim", wanted_id="w-1"),
    pull("12", "accept", wanted_id="w-3", author_rig="hop", stamp_subjects=("alice",)),
    pull("13", "done", wanted_id="w-2", warnings=(("done_not_by_claimer", "bob is not carol"),)),
    pull("14", "claim", wanted_id="w-4"),
    pull("9", "post", wanted_id="w-9", state="merged"),
]


class FakeBoard(board_pb2_grpc.BoardServiceServicer):  # type: ignore[misc]
    def __init__(self, registry: FakeRegistry) -> None:
        self.common = Common()
        self.registry = registry
        self.items: list[Any] = list(BOARD)
        self.events: list[Any] = []
        self.synced_at = ts(T0 + 300)
        self.pulls: dict[str, Any] = {}
        for p in PULLS:
            copy = board_pb2.Pull()
            copy.CopyFrom(p)
            self.pulls[p.pull_id] = copy

    async def ListPulls(self, request: Any, context: Any) -> Any:
        await self._service("ListPulls", context)
        state = request.state or board_pb2.PULL_STATE_OPEN
        found = [p for p in self.pulls.values() if p.state == state]
        found.sort(key=lambda p: int(p.pull_id))
        start = int(request.page_token or 0)
        size = request.page_size or 50
        page = []
        for p in found[start : start + size]:
            listed = board_pb2.Pull()
            listed.CopyFrom(p)
            del listed.changes[:]  # a listing carries no changes
            page.append(listed)
        more = start + size < len(found)
        return board_pb2.ListPullsResponse(
            pulls=page, next_page_token=str(start + size) if more else ""
        )

    async def GetPull(self, request: Any, context: Any) -> Any:
        await self._service("GetPull", context)
        found = self.pulls.get(request.pull_id)
        if found is None:
            raise errors.NotFound("pull request not found")
        return board_pb2.GetPullResponse(pull=found)

    async def _service(self, method: str, context: Any) -> None:
        # board-sync answers internal services only; it does no per-user access check
        await self.common.enter(method, context, user=False)

    async def Browse(self, request: Any, context: Any) -> Any:
        await self._service("Browse", context)
        items = [
            i
            for i in self.items
            if (not request.status or i.status == request.status)
            and (not request.type or i.type == request.type)
            and (not request.HasField("priority") or i.priority == request.priority)
            and (not request.project or i.project == request.project)
            and (not request.tag or request.tag in i.tags)
            and (not request.q or request.q.lower() in (i.title + i.description).lower())
            and (not request.rig_handle or request.rig_handle in (i.posted_by, i.claimed_by))
        ]
        if request.sort == board_pb2.BROWSE_SORT_PRIORITY:
            items.sort(key=lambda i: i.priority)
        start = int(request.page_token or 0)
        size = request.page_size or 50
        page = items[start : start + size]
        more = start + size < len(items)
        return board_pb2.BrowseResponse(
            items=page,
            next_page_token=str(start + size) if more else "",
            synced_at=self.synced_at,
            stale=False,
        )

    async def GetWantedItem(self, request: Any, context: Any) -> Any:
        await self._service("GetWantedItem", context)
        for item in self.items:
            if item.wanted_id == request.wanted_id:
                return board_pb2.GetWantedItemResponse(
                    item=item,
                    completions=[
                        common_pb2.Completion(
                            completion_id="c-1",
                            wanted_id=item.wanted_id,
                            completed_by="alice",
                            evidence="https://example.com/pr/1",
                            completed_at=ts(),
                        )
                    ],
                    stamps=[
                        common_pb2.Stamp(
                            stamp_id="s-1",
                            author="hop",
                            subject="alice",
                            quality=4,
                            reliability=5,
                            severity="leaf",
                            context_id="c-1",
                            skill_tags=["go"],
                            created_at=ts(),
                        )
                    ],
                )
        raise errors.NotFound("wanted item not found")

    async def CountWanted(self, request: Any, context: Any) -> Any:
        await self._service("CountWanted", context)
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.status] = counts.get(item.status, 0) + 1
        return board_pb2.CountWantedResponse(by_status=counts)

    async def ListCompletions(self, request: Any, context: Any) -> Any:
        await self._service("ListCompletions", context)
        return board_pb2.ListCompletionsResponse(
            completions=[
                common_pb2.Completion(
                    completion_id="c-1",
                    wanted_id="w-3",
                    completed_by="alice",
                    evidence="https://example.com/pr/1",
                    completed_at=ts(),
                )
            ]
        )

    async def ListRigs(self, request: Any, context: Any) -> Any:
        await self._service("ListRigs", context)
        return board_pb2.ListRigsResponse(
            rigs=[
                common_pb2.Rig(
                    handle="alice",
                    display_name="Alice",
                    rig_type="human",
                    trust_level=2,
                    registered_at=ts(),
                    dolthub_org="alice",
                ),
                common_pb2.Rig(
                    handle="alice-town",
                    display_name="Alice's town",
                    rig_type="agent",
                    parent_rig="alice",
                    trust_level=1,
                    registered_at=ts(),
                ),
            ]
        )

    async def WatchBoard(self, request: Any, context: Any) -> AsyncIterator[Any]:
        await self._service("WatchBoard", context)
        for event in self.events:
            yield event


# ======================================================================= activity log
class FakeActivityLog(activity_pb2_grpc.ActivityServiceServicer):  # type: ignore[misc]
    """board-sync's ActivityService: ``entries`` oldest first; WatchEvents streams
    ``stream`` after sending its headers, then ends."""

    def __init__(self) -> None:
        self.common = Common()
        self.entries: list[Any] = []
        self.stream: list[Any] = []
        self.watches: list[Any] = []

    async def ListActivity(self, request: Any, context: Any) -> Any:
        await self.common.enter("ListActivity", context, user=False)
        found = [
            e
            for e in reversed(self.entries)
            if e.wasteland_id == request.wasteland_id
            and (not request.kind or e.kind == request.kind)
        ]
        start = int(request.page_token or 0)
        size = request.page_size or 50
        more = start + size < len(found)
        return activity_pb2.ListActivityResponse(
            events=found[start : start + size],
            next_page_token=str(start + size) if more else "",
        )

    async def WatchEvents(self, request: Any, context: Any) -> AsyncIterator[Any]:
        await self.common.enter("WatchEvents", context, user=False)
        self.watches.append(request)
        await context.send_initial_metadata(())
        for event in self.stream:
            yield event


# ============================================================================ executor
class FakeExecutor(executor_pb2_grpc.ExecutorServiceServicer):  # type: ignore[misc]
    """Runs actions against the fake registry's state.

    Special wanted ids: ``w-3`` is already claimed (ABORTED), ``w-slow`` stays RUNNING,
    ``w-down`` finds DoltHub unreachable (UNAVAILABLE, retry in 17 s), ``w-failed``
    finishes FAILED with error code ABORTED.
    """

    def __init__(self, registry: FakeRegistry) -> None:
        self.common = Common()
        self.registry = registry
        self.operations: dict[str, Any] = {}
        self.by_key: dict[tuple[str, str], str] = {}
        self.runtime: dict[str, Any] = {}
        self._next = 0
        self.board: FakeBoard | None = None  # set by start_backends

    def _op_id(self) -> str:
        self._next += 1
        return f"op-{self._next}"

    async def Execute(self, request: Any, context: Any) -> Any:
        principal = await self.common.enter("Execute", context)
        assert principal is not None
        user = principal.user_id
        wid = request.wasteland_id
        self.registry.visible(wid, user)
        if request.idempotency_key and (user, request.idempotency_key) in self.by_key:
            first = self.operations[self.by_key[(user, request.idempotency_key)]]
            return executor_pb2.ExecuteResponse(result=first)
        cred = self.registry.credentials.get((wid, user))
        pull_kinds = (common_pb2.OPERATION_KIND_MERGE_PULL, common_pb2.OPERATION_KIND_CLOSE_PULL)
        if request.kind in pull_kinds:
            # Permission first; the upstream credential may stand in for the caller's own.
            member = self.registry.members[wid].get(user)
            rig = (member.rig_handle if member else "") or (
                (cred.rig_handle or cred.dolthub_org) if cred else ""
            )
            result = self._decide(request, user, rig)
        else:
            if cred is None:
                raise errors.FailedPrecondition("connect DoltHub first")
            rig = cred.rig_handle or cred.dolthub_org
            result = self._run(request, user, rig)
        self.operations[result.operation_id] = result
        if request.idempotency_key:
            self.by_key[(user, request.idempotency_key)] = result.operation_id
        self.runtime[wid] = common_pb2.RUNTIME_STATE_RUNNING
        return executor_pb2.ExecuteResponse(result=result)

    def _decide(self, request: Any, user: str, rig: str) -> Any:
        """merge_pull / close_pull as the executor and control server decide them."""
        member = self.registry.members[request.wasteland_id].get(user)
        maintainers = (common_pb2.MEMBER_ROLE_OWNER, common_pb2.MEMBER_ROLE_MAINTAINER)
        if member is None or member.role not in maintainers:
            raise errors.PermissionDenied(
                "only maintainers and owners may merge or close pull requests"
            )
        assert self.board is not None
        found = self.board.pulls.get(request.args.pull_id)
        if found is None:
            raise errors.NotFound(f"pull request {request.args.pull_id} not found")
        result = common_pb2.OperationResult(
            operation_id=self._op_id(),
            kind=request.kind,
            wanted_id=found.wanted_id,
            pull_id=found.pull_id,
            pull_request_url=found.url,
        )
        if request.kind == common_pb2.OPERATION_KIND_MERGE_PULL:
            if rig in found.stamp_subjects:
                raise errors.PermissionDenied(
                    "you may not merge a pull request that stamps your own work"
                )
            if found.warnings and not request.args.confirm:
                raise errors.FailedPrecondition("needs a second look; confirm")
            if found.pull_id == "14":
                result.status = common_pb2.OPERATION_STATUS_RUNNING
                return result
            found.state = board_pb2.PULL_STATE_MERGED
        else:
            found.state = board_pb2.PULL_STATE_CLOSED
        found.mergeable = False
        result.status = common_pb2.OPERATION_STATUS_SUCCEEDED
        return result

    def _run(self, request: Any, user: str, rig: str) -> Any:
        kind = request.kind
        wanted_id = request.wanted_id
        result = common_pb2.OperationResult(
            operation_id=self._op_id(), kind=kind, wanted_id=wanted_id, rig_handle=rig
        )
        if kind == common_pb2.OPERATION_KIND_JOIN and request.args.rig_handle == "slow-rig":
            result.status = common_pb2.OPERATION_STATUS_RUNNING
            return result
        if kind == common_pb2.OPERATION_KIND_SYNC:
            if request.wasteland_id not in self.registry.upstream:
                raise errors.FailedPrecondition("the wasteland has no upstream credential")
            result.fork_sync.fork_behind_before = True
            result.fork_sync.fork_behind_after = False
            result.fork_sync.pull_request_url = (
                f"https://www.dolthub.com/repositories/{rig}/wl-commons/pulls/1"
            )
            result.fork_sync.branches_removed.append(f"wl/{rig}/w-1")
            result.status = common_pb2.OPERATION_STATUS_SUCCEEDED
            return result
        if kind == common_pb2.OPERATION_KIND_REGISTER_TOWN:
            if request.args.rig_handle == "taken-town":
                raise errors.AlreadyExists("the rig handle taken-town is taken on the commons")
            result.branch = f"wl/register/{request.args.rig_handle}"
            result.pull_request_url = (
                f"https://www.dolthub.com/repositories/hop/wl-commons/pulls/{result.operation_id}"
            )
            town = self.registry.towns[request.wasteland_id][request.args.town_id]
            town.pull_request_url = result.pull_request_url  # what RecordTown does
            result.status = common_pb2.OPERATION_STATUS_SUCCEEDED
            return result
        if kind == common_pb2.OPERATION_KIND_JOIN:
            handle = request.args.rig_handle or rig
            self.registry.record_rig(request.wasteland_id, user, handle)
            result.rig_handle = handle
            result.status = common_pb2.OPERATION_STATUS_SUCCEEDED
            return result
        if wanted_id == "w-3" and kind == common_pb2.OPERATION_KIND_CLAIM:
            raise errors.Aborted("already claimed")
        if wanted_id == "w-down":
            raise errors.Unavailable("DoltHub is unreachable; try again later", retry_after=17)
        if wanted_id == "w-slow":
            result.status = common_pb2.OPERATION_STATUS_RUNNING
            return result
        if wanted_id == "w-failed":
            result.status = common_pb2.OPERATION_STATUS_FAILED
            result.error = "already claimed"
            result.error_code = "ABORTED"
            return result
        if kind == common_pb2.OPERATION_KIND_POST:
            result.wanted_id = f"w-new-{result.operation_id}"
            item = wanted(
                result.wanted_id,
                request.args.title,
                type_=request.args.type,
                priority=request.args.priority,
                posted_by=rig,
            )
            item.description = request.args.description
            item.tags[:] = list(request.args.tags)
            result.item.CopyFrom(item)
        elif wanted_id:
            item = wanted(wanted_id, "Item " + wanted_id, claimed_by=rig, status="claimed")
            if kind == common_pb2.OPERATION_KIND_DONE:
                item.status = "in_review"
                item.evidence_url = request.args.evidence
            result.item.CopyFrom(item)
            result.branch = f"wl/{rig}/{wanted_id}"
            result.pull_request_url = (
                f"https://www.dolthub.com/repositories/hop/wl-commons/pulls/{result.operation_id}"
            )
        result.status = common_pb2.OPERATION_STATUS_SUCCEEDED
        return result

    def finish(self, operation_id: str) -> None:
        self.operations[operation_id].status = common_pb2.OPERATION_STATUS_SUCCEEDED

    async def GetOperation(self, request: Any, context: Any) -> Any:
        await self.common.enter("GetOperation", context)
        op = self.operations.get(request.operation_id)
        if op is None:
            raise errors.NotFound("operation not found")
        return executor_pb2.GetOperationResponse(result=op)

    def _status(self, wid: str) -> Any:
        return executor_pb2.RuntimeStatus(
            wasteland_id=wid,
            state=self.runtime.get(wid, common_pb2.RUNTIME_STATE_SLEEPING),
            last_activity_at=ts(T0 + 600),
            wl_version="0.9.1",
            started_at=ts(T0 + 500) if wid in self.runtime else None,
        )

    async def GetRuntime(self, request: Any, context: Any) -> Any:
        await self.common.enter("GetRuntime", context)
        return executor_pb2.GetRuntimeResponse(runtime=self._status(request.wasteland_id))

    async def WakeRuntime(self, request: Any, context: Any) -> Any:
        await self.common.enter("WakeRuntime", context)
        self.runtime[request.wasteland_id] = common_pb2.RUNTIME_STATE_STARTING
        return executor_pb2.WakeRuntimeResponse(runtime=self._status(request.wasteland_id))

    async def StopRuntime(self, request: Any, context: Any) -> Any:
        await self.common.enter("StopRuntime", context)
        self.runtime[request.wasteland_id] = common_pb2.RUNTIME_STATE_SLEEPING
        return executor_pb2.StopRuntimeResponse(runtime=self._status(request.wasteland_id))


# ============================================================================= servers
@dataclass
class Backends:
    registry: FakeRegistry
    board: FakeBoard
    executor: FakeExecutor
    servers: dict[str, grpc_server.RunningServer]
    activity: FakeActivityLog

    def addr(self, name: str) -> str:
        return f"127.0.0.1:{self.servers[name].port}"

    async def stop(self) -> None:
        for running in self.servers.values():
            await running.server.stop(None)


async def start_backends() -> Backends:
    registry = FakeRegistry()
    board = FakeBoard(registry)
    executor = FakeExecutor(registry)
    activity = FakeActivityLog()

    def board_services(server: grpc.aio.Server) -> None:
        board_pb2_grpc.add_BoardServiceServicer_to_server(board, server)
        activity_pb2_grpc.add_ActivityServiceServicer_to_server(activity, server)

    executor.board = board
    servers = {
        "registry": await grpc_server.start(
            register=lambda s: registry_pb2_grpc.add_RegistryServiceServicer_to_server(registry, s),
            service_names=["wasteland.v1.RegistryService"],
            host="127.0.0.1",
            port=0,
        ),
        "board": await grpc_server.start(
            register=board_services,
            service_names=["wasteland.v1.BoardService", "wasteland.v1.ActivityService"],
            host="127.0.0.1",
            port=0,
        ),
        "executor": await grpc_server.start(
            register=lambda s: executor_pb2_grpc.add_ExecutorServiceServicer_to_server(executor, s),
            service_names=["wasteland.v1.ExecutorService"],
            host="127.0.0.1",
            port=0,
        ),
    }
    return Backends(registry, board, executor, servers, activity)
