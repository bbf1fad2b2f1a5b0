"""Towns domain: connect, list, disconnect (both backends)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import errors
from wasteland_common.auth import Principal
from wl_registry import towns
from wl_registry.store import CredentialRow
from wl_registry.wastelands import member_row

from .conftest import Clock, make_wasteland, user

ALICE = user("alice")
BOB = user("bob")


def give_credential(
    sessions: sessionmaker[Session], wid: str, user_id: str, rig: str, clock: Clock
) -> None:
    with sessions.begin() as session:
        session.add(
            CredentialRow(
                credential_id=f"c-{user_id}", wasteland_id=wid, user_id=user_id,
                dolthub_org=rig, rig_handle=rig, key_id="k1", wrapped_key=b"x", key_nonce=b"x",
                token_nonce=b"x", ciphertext=b"x", token_hint="", connected_at=clock(),
                updated_at=clock(),
            )
        )  # fmt: skip


def test_towns(sessions: sessionmaker[Session], clock: Clock, new_id: Callable[[], str]) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())

    def connect(who: Principal, town_id: str, rig: str) -> towns.TownView:
        with sessions.begin() as session:
            return towns.connect(
                session, who, towns.NewTown(wid, town_id, rig, "ops@example.com"),
                now=clock(), new_id=new_id,
            )  # fmt: skip

    with pytest.raises(errors.FailedPrecondition, match="connect DoltHub first"):
        connect(ALICE, "town-1", "mayor")
    give_credential(sessions, wid, "alice", "alice", clock)
    town = connect(ALICE, "town-1", "mayor")
    assert (town.parent_rig, town.connected_by) == ("alice", "alice")
    with pytest.raises(errors.AlreadyExists):
        connect(ALICE, "town-1", "mayor2")
    with pytest.raises(errors.AlreadyExists):
        connect(ALICE, "town-2", "mayor")
    with pytest.raises(errors.AlreadyExists):
        connect(ALICE, "town-2", "alice")  # a member's rig handle
    # bob, a reader of the public wasteland with a credential, connects his own town.
    give_credential(sessions, wid, "bob", "bob", clock)
    connect(BOB, "town-b", "bobtown")
    with sessions.begin() as session:
        assert [t.town_id for t in towns.list_towns(session, BOB, wid)] == ["town-1", "town-b"]
        bob = member_row(session, wid, "bob")
        assert bob is not None
        assert (bob.role, bob.source) == ("contributor", "explicit")
    with pytest.raises(errors.PermissionDenied), sessions.begin() as session:
        towns.disconnect(session, BOB, wid, "town-1")
    with sessions.begin() as session:
        towns.disconnect(session, BOB, wid, "town-b")
        towns.disconnect(session, ALICE, wid, "town-1")
        assert towns.list_towns(session, ALICE, wid) == []
    with pytest.raises(errors.NotFound), sessions.begin() as session:
        towns.disconnect(session, ALICE, wid, "town-1")
