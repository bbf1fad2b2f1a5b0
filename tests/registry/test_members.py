"""Members domain: list, add, update, remove, record a rig (both backends)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import errors
from wasteland_common.auth import Principal
from wl_registry import members, paging, store
from wl_registry.ownership import StoredRole
from wl_registry.paging import PageRequest
from wl_registry.store import MemberRow

from .conftest import Clock, make_wasteland, user

ALICE = user("alice")
BOB = user("bob")
CAROL = user("carol")
ROOT = user("root", admin=True)


@pytest.fixture
def wid(sessions: sessionmaker[Session], clock: Clock) -> str:
    return make_wasteland(sessions, ALICE, wasteland_id="w1", visibility="private", now=clock())


@pytest.fixture
def add(
    sessions: sessionmaker[Session], clock: Clock, new_id: Callable[[], str], wid: str
) -> Callable[..., members.MemberView]:
    def run(
        by: Principal, user_id: str, role: str = "contributor", trust: int = 1
    ) -> members.MemberView:
        with sessions.begin() as session:
            return members.add(
                session, by, wid, user_id=user_id, role=role, trust_level=trust,  # type: ignore[arg-type]
                now=clock(), new_id=new_id,
            )  # fmt: skip

    return run


def test_owner_adds_and_maintainers_add(
    add: Callable[..., members.MemberView], sessions: sessionmaker[Session], wid: str
) -> None:
    bob = add(ALICE, "bob", "maintainer", 2)
    assert (bob.role, bob.trust_level, bob.source) == ("maintainer", 2, "explicit")
    carol = add(BOB, "carol", "contributor", 0)
    assert carol.role == "contributor"
    with pytest.raises(errors.PermissionDenied):
        add(CAROL, "dan")
    with pytest.raises(errors.AlreadyExists):
        add(ALICE, "bob")
    with pytest.raises(errors.NotFound):  # private: strangers cannot even see it
        add(user("mallory"), "mallory")
    with pytest.raises(errors.PermissionDenied):  # admins read but never change
        add(ROOT, "dan")


def test_list_members_pages(
    add: Callable[..., members.MemberView], sessions: sessionmaker[Session], wid: str, clock: Clock
) -> None:
    for name in ("b", "c", "d", "e"):
        clock.advance(seconds=1)
        add(ALICE, name)
    seen: list[str] = []
    token = ""
    while True:
        with sessions.begin() as session:
            page = members.list_members(
                session, ALICE, wid, paging.request(members.LIST_KIND, 2, token, 2)
            )
        seen += [m.user_id for m in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["alice", "b", "c", "d", "e"]
    with pytest.raises(errors.NotFound), sessions.begin() as session:
        members.list_members(session, user("mallory"), wid, PageRequest(10))


def test_update_member(
    add: Callable[..., members.MemberView], sessions: sessionmaker[Session], wid: str, clock: Clock
) -> None:
    add(ALICE, "bob")

    def update(
        by: Principal, target: str, role: StoredRole | None, trust: int | None
    ) -> members.MemberView:
        with sessions.begin() as session:
            return members.update(
                session,
                by,
                wid,
                user_id=target,
                role=role,
                trust_level=trust,
                now=clock(),
            )

    assert update(ALICE, "bob", "maintainer", None).role == "maintainer"
    assert update(ALICE, "bob", None, 3).trust_level == 3
    with pytest.raises(errors.NotFound):
        update(ALICE, "nobody", None, 1)
    with pytest.raises(errors.FailedPrecondition):
        update(BOB, "alice", "contributor", None)  # owners' memberships are fixed
    add(ALICE, "carol")
    with pytest.raises(errors.PermissionDenied):
        update(CAROL, "carol", "maintainer", None)  # no self-promotion


def test_remove_member(
    add: Callable[..., members.MemberView], sessions: sessionmaker[Session], wid: str
) -> None:
    add(ALICE, "bob", "maintainer")
    add(ALICE, "carol")
    add(ALICE, "dan")

    def remove(by: Principal, target: str) -> None:
        with sessions.begin() as session:
            members.remove(session, by, wid, user_id=target)

    with pytest.raises(errors.FailedPrecondition, match="cannot remove themself"):
        remove(ALICE, "alice")
    with pytest.raises(errors.PermissionDenied):
        remove(CAROL, "dan")
    with pytest.raises(errors.PermissionDenied):
        remove(BOB, "alice")  # a maintainer cannot remove an owner
    remove(CAROL, "carol")  # leaving is always allowed
    remove(BOB, "dan")
    with pytest.raises(errors.NotFound):
        remove(ALICE, "dan")
    with sessions.begin() as session:
        names = [
            m.user_id for m in members.list_members(session, ALICE, wid, PageRequest(10)).items
        ]
    assert sorted(names) == ["alice", "bob"]


def test_org_member_rows_grant_nothing_after_leaving_the_org(
    sessions: sessionmaker[Session], clock: Clock, new_id: Callable[[], str]
) -> None:
    wid = make_wasteland(sessions, user("olga", ("acme", "owner")), wasteland_id="w2",
                         visibility="private", org="acme", now=clock())  # fmt: skip
    frank = user("frank", ("acme", "member"))
    with sessions.begin() as session:
        from wl_registry.wastelands import access_to

        _, access = access_to(session, frank, wid)
        row = members.ensure_member(session, frank, wid, access, now=clock(), new_id=new_id)
        assert (row.source, row.role) == ("org", "contributor")
    from wl_registry.wastelands import get

    with pytest.raises(errors.NotFound), sessions.begin() as session:
        get(session, user("frank"), wid)


def test_record_rig(
    add: Callable[..., members.MemberView], sessions: sessionmaker[Session], wid: str, clock: Clock
) -> None:
    add(ALICE, "bob")
    with sessions.begin() as session:
        bob = members.record_rig(session, wid, user_id="bob", rig_handle="bobrig", now=clock())
    assert bob.rig_handle == "bobrig"
    with pytest.raises(errors.AlreadyExists), sessions.begin() as session:
        members.record_rig(session, wid, user_id="alice", rig_handle="bobrig", now=clock())
    with pytest.raises(errors.FailedPrecondition), sessions.begin() as session:
        members.record_rig(session, wid, user_id="zed", rig_handle="zed", now=clock())
    with pytest.raises(errors.NotFound), sessions.begin() as session:
        members.record_rig(session, "nope", user_id="bob", rig_handle="x", now=clock())
    # Recording the same rig again is idempotent.
    with sessions.begin() as session:
        again = members.record_rig(session, wid, user_id="bob", rig_handle="bobrig", now=clock())
    assert again == bob


async def test_a_constraint_clash_is_aborted_not_internal(
    sessions: sessionmaker[Session], clock: Clock, wid: str
) -> None:
    def duplicate_owner_row(session: Session) -> None:
        session.add(
            MemberRow(
                member_id="dup", wasteland_id=wid, user_id="alice", role="contributor",
                trust_level=0, source="explicit", joined_at=clock(), updated_at=clock(),
            )
        )  # fmt: skip

    with pytest.raises(errors.Aborted):
        await store.run(sessions, duplicate_owner_row)
