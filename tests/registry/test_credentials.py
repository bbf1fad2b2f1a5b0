"""Credentials and the action decision (credentials.py, actions.py) on both backends."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import dolthub, errors
from wasteland_common.auth import Principal
from wl_registry import actions, credentials, crypto, members, towns, wastelands
from wl_registry.credentials import NewCredential
from wl_registry.paging import PageRequest
from wl_registry.store import CredentialRow
from wl_registry.validation import UpstreamRef

from .conftest import Clock, make_wasteland, user

ALICE = user("alice")
BOB = user("bob")
ROOT = user("root", admin=True)
GOOD = {"token-of-alice-1234": "alice", "token-of-bob-5678": "bob"}


async def fake_validate(token: SecretStr, ref: UpstreamRef, org: str) -> None:
    value = token.get_secret_value()
    if value == "token-dolthub-down":
        raise dolthub.Unavailable("DoltHub validate: HTTP 503")
    if value not in GOOD:
        raise dolthub.Unauthorized("DoltHub validate: HTTP 401")
    if org in GOOD.values() and org != GOOD[value]:  # another user's own org
        raise credentials.OrgNotWritable("DoltHub write probe: HTTP 403")


@pytest.fixture
def connect(
    sessions: sessionmaker[Session],
    clock: Clock,
    new_id: Callable[[], str],
    keyring: crypto.Keyring,
) -> Callable[..., object]:
    async def run(
        who: Principal, wid: str, token: str, org: str = "org", rig: str | None = None
    ) -> credentials.CredentialStatus:
        return await credentials.connect(
            sessions, who, NewCredential(wid, SecretStr(token), org, rig),
            validate=fake_validate, keyring=keyring, now=clock, new_id=new_id,
        )  # fmt: skip

    return run


def authorize(
    sessions: sessionmaker[Session], who: Principal, wid: str, kind: str, keyring: crypto.Keyring
) -> actions.ActionGrant:
    with sessions.begin() as session:
        return actions.authorize(session, who, wid, kind, keyring)  # type: ignore[arg-type]


async def test_connect_stores_only_ciphertext_and_a_hint(
    connect: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    with caplog.at_level(logging.DEBUG):
        status = await connect(ALICE, wid, "token-of-alice-1234", "alice")  # type: ignore[misc]
    assert status == credentials.CredentialStatus(True, "alice", "alice", "1234", clock())
    with sessions() as session:
        row = session.scalars(sa.select(CredentialRow)).one()
        stored = b"".join([row.ciphertext, row.wrapped_key, row.key_nonce, row.token_nonce])
        assert b"token-of-alice" not in stored
        assert "token-of-alice" not in repr(row)
    assert "token-of-alice" not in caplog.text
    with sessions.begin() as session:
        assert credentials.status(session, ALICE, wid) == status
        assert credentials.status(session, BOB, wid) == credentials.CredentialStatus(False)


async def test_a_rejected_token_is_invalid_argument_and_stores_nothing(
    connect: Callable[..., object], sessions: sessionmaker[Session], clock: Clock
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    with pytest.raises(errors.InvalidArgument) as bad:
        await connect(ALICE, wid, "token-wrong-0000")  # type: ignore[misc]
    assert bad.value.violations[0].field == "dolthub_token"
    assert "DoltHub rejected the token" in bad.value.message
    assert "token-wrong" not in bad.value.message
    with pytest.raises(dolthub.Unavailable):  # the interceptor maps it to UNAVAILABLE
        await connect(ALICE, wid, "token-dolthub-down")  # type: ignore[misc]
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(CredentialRow)) == 0


async def test_a_token_that_cannot_write_the_named_org_is_refused(
    connect: Callable[..., object], sessions: sessionmaker[Session], clock: Clock
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    with pytest.raises(errors.InvalidArgument) as bad:
        await connect(ALICE, wid, "token-of-alice-1234", "bob")  # type: ignore[misc]
    assert bad.value.violations[0].field == "dolthub_org"
    assert "cannot write the DoltHub org bob" in bad.value.message
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(CredentialRow)) == 0


async def test_replacing_a_credential_keeps_one_row(
    connect: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    await connect(ALICE, wid, "token-of-bob-5678", "first")  # type: ignore[misc]
    clock.advance(minutes=1)
    second = await connect(ALICE, wid, "token-of-alice-1234", "second")  # type: ignore[misc]
    assert (second.dolthub_org, second.token_hint) == ("second", "1234")
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(CredentialRow)) == 1
    grant = authorize(sessions, ALICE, wid, "claim", keyring)
    assert grant.token.get_secret_value() == "token-of-alice-1234"


async def test_connecting_to_a_public_wasteland_makes_a_contributor(
    connect: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", visibility="public", now=clock())
    with pytest.raises(errors.FailedPrecondition, match="connect DoltHub first"):
        authorize(sessions, BOB, wid, "join", keyring)
    await connect(BOB, wid, "token-of-bob-5678", "bob")  # type: ignore[misc]
    with sessions.begin() as session:
        page = members.list_members(session, ALICE, wid, PageRequest(10))
    bob = next(m for m in page.items if m.user_id == "bob")
    assert (bob.role, bob.trust_level, bob.source) == ("contributor", 1, "explicit")
    grant = authorize(sessions, BOB, wid, "join", keyring)
    assert (grant.role, grant.rig_handle, grant.rig_registered) == ("contributor", "bob", False)
    assert grant.token.get_secret_value() == "token-of-bob-5678"
    assert "token-of-bob" not in repr(grant)
    with pytest.raises(errors.PermissionDenied):
        authorize(sessions, BOB, wid, "accept", keyring)
    # After the join the executor records the rig.
    with sessions.begin() as session:
        members.record_rig(session, wid, user_id="bob", rig_handle="bob", now=clock())
    assert authorize(sessions, BOB, wid, "claim", keyring).rig_registered


async def test_private_wastelands_hide_and_admins_cannot_act(
    connect: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", visibility="private", now=clock())
    with pytest.raises(errors.NotFound):
        await connect(BOB, wid, "token-of-bob-5678")  # type: ignore[misc]
    with pytest.raises(errors.NotFound):
        authorize(sessions, BOB, wid, "join", keyring)
    with pytest.raises(errors.PermissionDenied):
        await connect(ROOT, wid, "token-of-bob-5678")  # type: ignore[misc]
    with pytest.raises(errors.PermissionDenied):
        authorize(sessions, ROOT, wid, "claim", keyring)


async def test_owner_may_accept_and_inactive_wastelands_refuse(
    connect: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    await connect(ALICE, wid, "token-of-alice-1234", "alice")  # type: ignore[misc]
    assert authorize(sessions, ALICE, wid, "accept", keyring).role == "owner"
    failed = make_wasteland(sessions, ALICE, wasteland_id="w2", status="failed", now=clock())
    with pytest.raises(errors.FailedPrecondition, match="not active"):
        await connect(ALICE, failed, "token-of-alice-1234")  # type: ignore[misc]
    with pytest.raises(errors.FailedPrecondition, match="not active"):
        authorize(sessions, ALICE, failed, "claim", keyring)


async def test_credentials_are_bound_to_their_row(
    connect: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    await connect(ALICE, wid, "token-of-alice-1234", "alice")  # type: ignore[misc]
    await connect(BOB, wid, "token-of-bob-5678", "bob")  # type: ignore[misc]
    # Someone with database access copies alice's ciphertext onto bob's row.
    with sessions.begin() as session:
        rows = {r.user_id: r for r in session.scalars(sa.select(CredentialRow))}
        for column in ("key_id", "wrapped_key", "key_nonce", "token_nonce", "ciphertext"):
            setattr(rows["bob"], column, getattr(rows["alice"], column))
    with pytest.raises(errors.FailedPrecondition, match="connect DoltHub again"):
        authorize(sessions, BOB, wid, "claim", keyring)


async def test_rig_handles_are_unique_per_wasteland(
    connect: Callable[..., object], sessions: sessionmaker[Session], clock: Clock
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    await connect(ALICE, wid, "token-of-alice-1234", "alice", "shared")  # type: ignore[misc]
    with pytest.raises(errors.AlreadyExists):
        await connect(BOB, wid, "token-of-bob-5678", "bob", "shared")  # type: ignore[misc]
    with sessions.begin() as session:
        members.record_rig(session, wid, user_id="alice", rig_handle="shared", now=clock())
    with pytest.raises(errors.FailedPrecondition, match="already registered"):
        await connect(ALICE, wid, "token-of-alice-1234", "alice", "other")  # type: ignore[misc]
    # Without a rig handle the registered one is kept.
    again = await connect(ALICE, wid, "token-of-alice-1234", "alice")  # type: ignore[misc]
    assert again.rig_handle == "shared"


async def test_delete_and_member_removal_erase_the_credential(
    connect: Callable[..., object], sessions: sessionmaker[Session], clock: Clock
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    await connect(ALICE, wid, "token-of-alice-1234", "alice")  # type: ignore[misc]
    await connect(BOB, wid, "token-of-bob-5678", "bob")  # type: ignore[misc]
    with sessions.begin() as session:
        credentials.delete(session, ALICE, wid)
        credentials.delete(session, ALICE, wid)  # idempotent
        assert not credentials.status(session, ALICE, wid).connected
        members.remove(session, ALICE, wid, user_id="bob")
        assert not credentials.status(session, BOB, wid).connected


async def test_rotation_rewraps_stored_credentials(
    connect: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    await connect(ALICE, wid, "token-of-alice-1234", "alice")  # type: ignore[misc]
    rotated = crypto.Keyring({"k1": b"\x01" * 32, "k2": b"\x02" * 32}, "k2")
    with sessions.begin() as session:
        assert credentials.rotate(session, rotated) == 1
    with sessions.begin() as session:
        assert credentials.rotate(session, rotated) == 0
    only_new = crypto.Keyring({"k2": b"\x02" * 32}, "k2")
    grant = authorize(sessions, ALICE, wid, "claim", only_new)
    assert grant.token.get_secret_value() == "token-of-alice-1234"


async def test_the_dolthub_validator_uses_the_token_against_the_upstream() -> None:
    seen: list[tuple[str, str | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization")))
        if request.headers.get("authorization") == "token good-token-123456":
            return httpx.Response(
                200,
                json={
                    "query_execution_status": "Success",
                    "schema": [{"columnName": "1"}],
                    "rows": [{"1": "1"}],
                },
            )
        return httpx.Response(401, json={"message": "invalid authorization"})

    client = dolthub.DoltHubClient(
        "http://dolthub.invalid/api/v1alpha1",
        transport=httpx.MockTransport(answer),
        retry=dolthub.RetryPolicy(attempts=1),
    )
    validate = credentials.dolthub_validator(client)
    await validate(SecretStr("good-token-123456"), UpstreamRef("hop", "wl-commons"), "alice")
    with pytest.raises(dolthub.Unauthorized) as rejected:
        await validate(SecretStr("bad-token-9876543"), UpstreamRef("hop", "wl-commons"), "alice")
    assert "bad-token" not in str(rejected.value)
    assert seen[0] == ("/api/v1alpha1/hop/wl-commons/main", "token good-token-123456")


async def test_permission_is_checked_before_preconditions(
    connect: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
    new_id: Callable[[], str],
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", visibility="public", now=clock())
    carol = user("carol")
    with sessions.begin() as session:
        members.add(
            session, ALICE, wid, user_id="carol", role="contributor", trust_level=1,
            now=clock(), new_id=new_id,
        )  # fmt: skip
    # A contributor without a credential may not accept: 403, not "connect DoltHub first".
    for kind in ("accept", "reject"):
        with pytest.raises(errors.PermissionDenied, match="maintainers and owners"):
            authorize(sessions, carol, wid, kind, keyring)
        # Neither may a reader of the public wasteland (connecting makes a contributor).
        with pytest.raises(errors.PermissionDenied, match="maintainers and owners"):
            authorize(sessions, BOB, wid, kind, keyring)
    # What they may do once connected answers the precondition.
    for who in (carol, BOB):
        with pytest.raises(errors.FailedPrecondition, match="connect DoltHub first"):
            authorize(sessions, who, wid, "claim", keyring)
    # "Not active" is a precondition too: permission still comes first.
    failed = make_wasteland(sessions, ALICE, wasteland_id="w2", status="failed", now=clock())
    with pytest.raises(errors.PermissionDenied):
        authorize(sessions, BOB, failed, "accept", keyring)
    with pytest.raises(errors.FailedPrecondition, match="not active"):
        authorize(sessions, BOB, failed, "claim", keyring)
    # Removing someone else needs the right before the member is even looked up.
    with sessions.begin() as session, pytest.raises(errors.PermissionDenied):
        members.remove(session, carol, wid, user_id="nobody")


async def test_admins_change_nothing_even_on_public_wastelands(
    connect: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
    new_id: Callable[[], str],
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", visibility="public", now=clock())
    with sessions.begin() as session:
        assert wastelands.get(session, ROOT, wid).my_role == "viewer"
    with pytest.raises(errors.PermissionDenied):
        await connect(ROOT, wid, "token-of-bob-5678", "root")  # type: ignore[misc]
    for kind in ("join", "claim", "post", "accept"):
        with pytest.raises(errors.PermissionDenied):
            authorize(sessions, ROOT, wid, kind, keyring)
    town = towns.NewTown(wid, "t1", "root-town", "root@example.com")
    refusals = [
        lambda s: towns.connect(s, ROOT, town, now=clock(), new_id=new_id),
        lambda s: towns.disconnect(s, ROOT, wid, "t1"),
        lambda s: credentials.delete(s, ROOT, wid),
        lambda s: members.remove(s, ROOT, wid, user_id="root"),
        lambda s: members.add(
            s, ROOT, wid, user_id="root", role="owner", trust_level=3, now=clock(), new_id=new_id
        ),
        lambda s: wastelands.update(s, ROOT, wid, wastelands.WastelandChanges(name="x"), clock()),
        lambda s: wastelands.soft_delete(s, ROOT, wid, clock()),
    ]
    for refused in refusals:
        with sessions.begin() as session, pytest.raises(errors.PermissionDenied):
            refused(session)
    # An admin who is also a member keeps that member's rights.
    await connect(ALICE, wid, "token-of-alice-1234", "alice")  # type: ignore[misc]
    owner_admin = user("alice", admin=True)
    assert authorize(sessions, owner_admin, wid, "accept", keyring).role == "owner"
