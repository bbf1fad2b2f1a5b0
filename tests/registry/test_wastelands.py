"""Wastelands domain (create, read, list, update, delete, purge) on both backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import errors
from wasteland_common.auth import Principal
from wasteland_common.db import run_in_session
from wl_registry import members, paging, wastelands
from wl_registry.paging import PageRequest
from wl_registry.store import CredentialRow, MemberRow, WastelandRow
from wl_registry.validation import UpstreamRef
from wl_registry.wastelands import Joining, NewWasteland, WastelandChanges

from .conftest import Clock, FakeDoltHub, RecordingBoard, RecordingWorkloads, user

TEMPLATE = UpstreamRef("kilo-wastelands", "wl-template")
ALICE = user("alice")
BOB = user("bob")


@pytest.fixture
def hub() -> FakeDoltHub:
    return FakeDoltHub({"hop/wl-commons": "1.2", "kilo-wastelands/wl-template": "1.2"})


@pytest.fixture
def board() -> RecordingBoard:
    return RecordingBoard()


def spec(
    *,
    name: str = "Commons",
    owner_org: str | None = None,
    visibility: str = "public",
    upstream: str | None = "hop/wl-commons",
    dolthub_org: str | None = None,
) -> NewWasteland:
    ref = UpstreamRef(*upstream.split("/")) if upstream else None
    return NewWasteland(
        name=name,
        owner_type="org" if owner_org else "user",
        owner_org_id=owner_org,
        visibility=visibility,  # type: ignore[arg-type]
        upstream=ref,
        dolthub_org=dolthub_org,
    )


@pytest.fixture
def make(
    sessions: sessionmaker[Session],
    hub: FakeDoltHub,
    board: RecordingBoard,
    clock: Clock,
    new_id: Callable[[], str],
) -> Callable[..., object]:
    async def create(principal: Principal = ALICE, **kwargs: object) -> wastelands.WastelandView:
        return await wastelands.create(
            sessions, principal, spec(**kwargs),  # type: ignore[arg-type]
            joining=Joining(reader=hub), board=board, now=clock, new_id=new_id,
        )  # fmt: skip

    return create


async def test_create_joined_to_an_upstream(
    make: Callable[..., object], sessions: sessionmaker[Session], board: RecordingBoard
) -> None:
    created = await make()  # type: ignore[misc]
    assert created.status == "active"
    assert created.upstream == "hop/wl-commons"
    assert created.my_role == "owner"
    assert board.tracked == {created.wasteland_id: "hop/wl-commons"}
    page = await run_in_session(
        sessions, members.list_members, ALICE, created.wasteland_id, PageRequest(50)
    )
    [owner] = page.items
    assert (owner.user_id, owner.role, owner.trust_level, owner.source) == (
        "alice", "owner", 3, "explicit",
    )  # fmt: skip


async def test_create_refuses_a_missing_or_foreign_upstream(
    make: Callable[..., object], hub: FakeDoltHub, sessions: sessionmaker[Session]
) -> None:
    with pytest.raises(errors.InvalidArgument) as missing:
        await make(upstream="hop/nope")  # type: ignore[misc]
    assert missing.value.violations[0].field == "upstream"
    assert "no such DoltHub database" in missing.value.message
    hub.databases["hop/not-a-commons"] = None
    hub.databases["hop/v2"] = "2.0"
    for name in ("hop/not-a-commons", "hop/v2"):
        with pytest.raises(errors.InvalidArgument):
            await make(upstream=name)  # type: ignore[misc]
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(WastelandRow)) == 0


async def test_org_wastelands_need_a_non_billing_org_role(make: Callable[..., object]) -> None:
    with pytest.raises(errors.PermissionDenied):
        await make(user("carol", ("acme", "billing_manager")), owner_org="acme")  # type: ignore[misc]
    created = await make(user("dave", ("acme", "member")), owner_org="acme")  # type: ignore[misc]
    assert created.owner_type == "org"
    assert created.owner_org_id == "acme"


async def test_visibility_and_not_found(
    make: Callable[..., object], sessions: sessionmaker[Session]
) -> None:
    private = await make(visibility="private")  # type: ignore[misc]
    public = await make(visibility="public")  # type: ignore[misc]

    def get(p: Principal, wid: str) -> wastelands.WastelandView:
        with sessions.begin() as session:
            return wastelands.get(session, p, wid)

    assert get(BOB, public.wasteland_id).my_role == "viewer"
    with pytest.raises(errors.NotFound):
        get(BOB, private.wasteland_id)
    with pytest.raises(errors.NotFound):
        get(BOB, "no-such-id")
    assert get(user("root", admin=True), private.wasteland_id).my_role == "viewer"


async def test_org_wasteland_access(
    make: Callable[..., object], sessions: sessionmaker[Session]
) -> None:
    creator = user("dave", ("acme", "member"))
    w = await make(creator, owner_org="acme", visibility="private")  # type: ignore[misc]

    def role(p: Principal) -> str | None:
        with sessions.begin() as session:
            try:
                return wastelands.get(session, p, w.wasteland_id).my_role
            except errors.NotFound:
                return None

    assert role(creator) == "owner"  # the creator is an explicit owner
    assert role(user("erin", ("acme", "owner"))) == "owner"
    assert role(user("frank", ("acme", "member"))) == "contributor"
    assert role(user("gina", ("acme", "billing_manager"))) is None
    assert role(user("hank", ("other", "owner"))) is None


async def test_lists_are_paged_and_scoped(
    make: Callable[..., object], sessions: sessionmaker[Session], clock: Clock
) -> None:
    mine = []
    for i in range(5):
        clock.advance(seconds=1)
        mine.append(await make(name=f"w{i}"))  # type: ignore[misc]
    await make(BOB, name="bobs")  # type: ignore[misc]
    org = await make(user("dave", ("acme", "member")), owner_org="acme")  # type: ignore[misc]

    def list_all(p: Principal, org_id: str | None, size: int) -> list[str]:
        seen: list[str] = []
        token = ""
        while True:
            page = paging.request(wastelands.LIST_KIND, size, token, 2)
            with sessions.begin() as session:
                result = wastelands.list_for(session, p, org_id, page)
            assert len(result.items) <= size
            seen += [w.name for w in result.items]
            token = result.next_page_token
            if not token:
                return seen

    assert list_all(ALICE, None, 2) == [w.name for w in mine]
    assert list_all(ALICE, None, 200) == [w.name for w in mine]
    assert list_all(user("x", ("acme", "member")), "acme", 1) == [org.name]
    assert list_all(user("root", admin=True), "acme", 10) == [org.name]
    with pytest.raises(errors.PermissionDenied), sessions.begin() as session:
        wastelands.list_for(
            session, user("gina", ("acme", "billing_manager")), "acme", PageRequest(10)
        )
    # An explicit membership puts someone else's wasteland in your personal list.
    with sessions.begin() as session:
        members.add(
            session, ALICE, mine[0].wasteland_id, user_id="bob", role="contributor",
            trust_level=1, now=clock(), new_id=lambda: "m-bob",
        )  # fmt: skip
    assert list_all(BOB, None, 10) == ["w0", "bobs"]


def test_page_tokens_are_checked() -> None:
    with pytest.raises(errors.InvalidArgument) as bad:
        paging.request(wastelands.LIST_KIND, 10, "garbage!!", 2)
    assert bad.value.violations[0].field == "page_token"
    other = paging.encode("members", ("a", "b"))
    with pytest.raises(errors.InvalidArgument):
        paging.request(wastelands.LIST_KIND, 10, other, 2)
    with pytest.raises(errors.InvalidArgument):
        paging.request(wastelands.LIST_KIND, -1, "", 2)
    assert paging.request(wastelands.LIST_KIND, 0, "", 2).size == 50
    assert paging.request(wastelands.LIST_KIND, 10_000, "", 2).size == 200


async def test_update_is_for_owners(
    make: Callable[..., object], sessions: sessionmaker[Session], clock: Clock
) -> None:
    w = await make(visibility="public")  # type: ignore[misc]
    clock.advance(minutes=1)
    with sessions.begin() as session:
        updated = wastelands.update(
            session, ALICE, w.wasteland_id, WastelandChanges("Renamed", "private"), clock()
        )
    assert (updated.name, updated.visibility) == ("Renamed", "private")
    assert updated.updated_at > w.updated_at
    with pytest.raises(errors.NotFound), sessions.begin() as session:
        wastelands.update(session, BOB, w.wasteland_id, WastelandChanges("x"), clock())
    with pytest.raises(errors.PermissionDenied), sessions.begin() as session:
        wastelands.update(
            session, user("root", admin=True), w.wasteland_id, WastelandChanges("x"), clock()
        )


async def test_delete_rules_and_purge(
    make: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    board: RecordingBoard,
    workloads: RecordingWorkloads,
) -> None:
    dave = user("dave", ("acme", "member"))
    org_w = await make(dave, owner_org="acme")  # type: ignore[misc]
    # The creator is an explicit owner but only org owners delete org wastelands.
    with pytest.raises(errors.PermissionDenied):
        await wastelands.delete(
            sessions, dave, org_w.wasteland_id, board=board, workloads=workloads, now=clock
        )
    acme_owner = user("olga", ("acme", "owner"))
    await wastelands.delete(
        sessions, acme_owner, org_w.wasteland_id, board=board, workloads=workloads, now=clock
    )
    assert org_w.wasteland_id not in board.tracked
    assert workloads.stopped == [org_w.wasteland_id]  # refused deletes stop nothing
    with pytest.raises(errors.NotFound), sessions.begin() as session:
        wastelands.get(session, dave, org_w.wasteland_id)

    with sessions.begin() as session:
        assert wastelands.purge_deleted(session, clock()) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(MemberRow)) == 1
    clock.advance(days=30, seconds=1)
    with sessions.begin() as session:
        assert wastelands.purge_deleted(session, clock()) == 1
    with sessions.begin() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(MemberRow)) == 0
        assert session.get(WastelandRow, org_w.wasteland_id) is not None  # tombstone


async def test_delete_erases_credentials_at_once(
    make: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    board: RecordingBoard,
    workloads: RecordingWorkloads,
) -> None:
    w = await make()  # type: ignore[misc]
    with sessions.begin() as session:
        session.add(
            CredentialRow(
                credential_id="c1", wasteland_id=w.wasteland_id, user_id="alice",
                dolthub_org="alice", rig_handle="alice", key_id="k1", wrapped_key=b"x",
                key_nonce=b"x", token_nonce=b"x", ciphertext=b"x", token_hint="",
                connected_at=clock(), updated_at=clock(),
            )
        )  # fmt: skip
    with pytest.raises(errors.PermissionDenied):  # bob reads the public wasteland only
        await wastelands.delete(
            sessions, BOB, w.wasteland_id, board=board, workloads=workloads, now=clock
        )
    await wastelands.delete(
        sessions, ALICE, w.wasteland_id, board=board, workloads=workloads, now=clock
    )
    with sessions.begin() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(CredentialRow)) == 0


async def test_list_active_and_stale_provisioning(
    make: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    new_id: Callable[[], str],
) -> None:
    active = [await make(name=f"a{i}") for i in range(3)]  # type: ignore[misc]
    with sessions.begin() as session:
        stuck = wastelands.insert(
            session, ALICE, spec(upstream=None, dolthub_org="alice"),
            upstream="alice/wl-template", status="provisioning", now=clock(), new_id=new_id,
        )  # fmt: skip
    seen: list[str] = []
    token = ""
    while True:
        with sessions.begin() as session:
            page = wastelands.list_active(
                session, paging.request(wastelands.ACTIVE_KIND, 2, token, 1)
            )
        seen += [w.wasteland_id for w in page.items]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(w.wasteland_id for w in active)
    with sessions.begin() as session:
        assert wastelands.fail_stale_provisioning(session, clock(), timedelta(minutes=5)) == 0
    clock.advance(minutes=6)
    with sessions.begin() as session:
        assert wastelands.fail_stale_provisioning(session, clock(), timedelta(minutes=5)) == 1
        assert session.get(WastelandRow, stuck.wasteland_id).status == "failed"  # type: ignore[union-attr]


async def test_get_reads_in_one_statement_what_the_access_decision_and_rig_say(
    make: Callable[..., object], sessions: sessionmaker[Session], clock: Clock
) -> None:
    """``get`` (every board read's access check) joins the caller's membership and
    credential into one query; its answer is the one ``access_to`` + ``my_rig_handle``
    give, for every kind of caller."""
    public = await make(visibility="public")  # type: ignore[misc]
    private = await make(visibility="private")  # type: ignore[misc]
    org = await make(user("dave", ("acme", "member")), owner_org="acme", visibility="private")  # type: ignore[misc]
    wids = [public.wasteland_id, private.wasteland_id, org.wasteland_id, "no-such-id"]

    def credential(wid: str, user_id: str, rig: str) -> CredentialRow:
        return CredentialRow(
            credential_id=f"c-{wid}-{user_id}", wasteland_id=wid, user_id=user_id,
            dolthub_org=user_id, rig_handle=rig, key_id="k1", wrapped_key=b"x",
            key_nonce=b"x", token_nonce=b"x", ciphertext=b"x", token_hint="",
            connected_at=clock(), updated_at=clock(),
        )  # fmt: skip

    def member(wid: str, user_id: str, role: str, rig: str | None, source: str) -> MemberRow:
        return MemberRow(
            member_id=f"m-{wid}-{user_id}", wasteland_id=wid, user_id=user_id, role=role,
            trust_level=1, source=source, rig_handle=rig, joined_at=clock(),
            updated_at=clock(),
        )  # fmt: skip

    with sessions.begin() as session:
        # bob: a contributor on the private one with a rig, a credential only on the public.
        session.add(member(private.wasteland_id, "bob", "contributor", "bob-rig", "explicit"))
        session.add(credential(private.wasteland_id, "bob", "bob-cred-rig"))
        session.add(credential(public.wasteland_id, "bob", "bob-public-rig"))
        # carol: a member without a registered rig, whose credential names one.
        session.add(member(private.wasteland_id, "carol", "maintainer", None, "explicit"))
        session.add(credential(private.wasteland_id, "carol", "carol-rig"))
        # frank: an org member's rig row (grants nothing by itself).
        session.add(member(org.wasteland_id, "frank", "contributor", "frank-rig", "org"))
    callers = [
        ALICE, BOB, user("carol"), user("root", admin=True), user("frank", ("acme", "member")),
        user("frank"), user("gina", ("acme", "billing_manager")), user("erin", ("acme", "owner")),
        user("zed"),
    ]  # fmt: skip

    def old_way(p: Principal, wid: str) -> wastelands.WastelandView | None:
        with sessions.begin() as session:
            try:
                row, access = wastelands.access_to(session, p, wid)
            except errors.NotFound:
                return None
            # The rig as GetWasteland found it before its one-statement read: the
            # registered one, else the credential's.
            member = wastelands.member_row(session, wid, p.user_id)
            rig = member.rig_handle if member is not None and member.rig_handle else ""
            rig = (
                rig
                or session.scalars(
                    sa.select(CredentialRow.rig_handle).where(
                        CredentialRow.wasteland_id == wid, CredentialRow.user_id == p.user_id
                    )
                ).first()
                or ""
            )
            return wastelands.view(row, access.role, rig)

    def new_way(p: Principal, wid: str) -> wastelands.WastelandView | None:
        with sessions.begin() as session:
            try:
                return wastelands.get(session, p, wid)
            except errors.NotFound:
                return None

    seen = set()
    for p in callers:
        for wid in wids:
            got = new_way(p, wid)
            assert got == old_way(p, wid), (p.user_id, wid)
            seen.add(
                (p.user_id, wid, got.my_role if got else None, got.my_rig_handle if got else None)
            )
    assert ("bob", private.wasteland_id, "contributor", "bob-rig") in seen
    assert ("bob", public.wasteland_id, "viewer", "bob-public-rig") in seen
    assert ("carol", private.wasteland_id, "maintainer", "carol-rig") in seen
    assert ("frank", org.wasteland_id, "contributor", "frank-rig") in seen
    assert ("frank", org.wasteland_id, None, None) in seen  # left the org: nothing
    assert ("gina", org.wasteland_id, None, None) in seen

    with sessions.begin() as session:
        session.execute(
            sa.update(WastelandRow)
            .where(WastelandRow.wasteland_id == public.wasteland_id)
            .values(status="deleted", deleted_at=clock())
        )
    assert new_way(ALICE, public.wasteland_id) is None
