"""The wasteland's upstream credential, fork currency on member credentials, and what the
executor gets for one call (on both database backends)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import dolthub, errors
from wasteland_common.auth import Principal
from wasteland_common.vocabulary import OperationKindName
from wl_registry import actions, credentials, crypto, members, upstream_credentials, wastelands
from wl_registry.credentials import NewCredential
from wl_registry.store import UpstreamCredentialRow
from wl_registry.validation import UpstreamRef

from .conftest import Clock, make_wasteland, user

ALICE = user("alice")
BOB = user("bob")
CAROL = user("carol")
ROOT = user("root", admin=True)
UPSTREAM_TOKEN = "upstream-writer-token-9876"


async def probe(token: SecretStr, ref: UpstreamRef) -> str:
    value = token.get_secret_value()
    if value == UPSTREAM_TOKEN:
        return "hop"
    if value == "reader-only-token-5555":
        raise dolthub.Forbidden("DoltHub write: HTTP 403")
    raise dolthub.Unauthorized("DoltHub write: HTTP 401")


async def validate(token: SecretStr, ref: UpstreamRef, org: str) -> None:
    return None


@pytest.fixture
def connect_upstream(
    sessions: sessionmaker[Session], clock: Clock, keyring: crypto.Keyring
) -> Callable[..., object]:
    async def run(
        who: Principal, wid: str, token: str
    ) -> upstream_credentials.UpstreamCredentialStatus:
        return await upstream_credentials.connect(
            sessions,
            who,
            wid,
            SecretStr(token),
            probe=probe,
            keyring=keyring,
            now=clock,
        )

    return run


async def join(
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
    who: Principal,
    wid: str,
    org: str,
) -> None:
    ids = iter(f"{org}-{n}" for n in range(10))
    await credentials.connect(
        sessions, who, NewCredential(wid, SecretStr(f"token-of-{org}-0000"), org, None),
        validate=validate, keyring=keyring, now=clock, new_id=lambda: next(ids),
    )  # fmt: skip


async def test_owners_and_maintainers_connect_it_and_members_see_its_status(
    connect_upstream: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    await join(sessions, clock, keyring, BOB, wid, "bob")  # a contributor
    with pytest.raises(errors.PermissionDenied):
        await connect_upstream(BOB, wid, UPSTREAM_TOKEN)  # type: ignore[misc]
    with pytest.raises(errors.PermissionDenied):
        await connect_upstream(ROOT, wid, UPSTREAM_TOKEN)  # type: ignore[misc]
    private = make_wasteland(sessions, ALICE, wasteland_id="w2", visibility="private", now=clock())
    with pytest.raises(errors.NotFound):
        await connect_upstream(CAROL, private, UPSTREAM_TOKEN)  # type: ignore[misc]

    with caplog.at_level(logging.DEBUG):
        status = await connect_upstream(ALICE, wid, UPSTREAM_TOKEN)  # type: ignore[misc]
    assert status == upstream_credentials.UpstreamCredentialStatus(True, "hop", "9876", clock())
    assert UPSTREAM_TOKEN not in caplog.text
    with sessions.begin() as session:
        row = session.scalars(sa.select(UpstreamCredentialRow)).one()
        assert UPSTREAM_TOKEN.encode() not in row.ciphertext + row.wrapped_key
        assert UPSTREAM_TOKEN not in repr(row)
        assert upstream_credentials.status(session, BOB, wid) == status
        with pytest.raises(errors.PermissionDenied):  # a reader who is not a member
            upstream_credentials.status(session, CAROL, wid)
        with pytest.raises(errors.PermissionDenied):
            upstream_credentials.delete(session, BOB, wid)
    with sessions.begin() as session:
        upstream_credentials.delete(session, ALICE, wid)
    with sessions.begin() as session:
        assert upstream_credentials.status(session, BOB, wid).connected is False


async def test_a_token_that_cannot_write_the_upstream_is_refused(
    connect_upstream: Callable[..., object], sessions: sessionmaker[Session], clock: Clock
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    with pytest.raises(errors.InvalidArgument) as reader:
        await connect_upstream(ALICE, wid, "reader-only-token-5555")  # type: ignore[misc]
    assert reader.value.violations[0].field == "dolthub_token"
    assert "cannot write the upstream hop/wl-commons" in reader.value.message
    with pytest.raises(errors.InvalidArgument, match="DoltHub rejected the token"):
        await connect_upstream(ALICE, wid, "nonsense-token-0000")  # type: ignore[misc]
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(UpstreamCredentialRow)) == 0


async def test_the_executor_gets_it_only_for_actions_that_may_sync(
    connect_upstream: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    await join(sessions, clock, keyring, BOB, wid, "bob")
    with sessions.begin() as session:
        assert actions.authorize(session, BOB, wid, "claim", keyring).upstream_token is None
    await connect_upstream(ALICE, wid, UPSTREAM_TOKEN)  # type: ignore[misc]
    kinds: tuple[OperationKindName, ...] = ("claim", "post", "done", "sync", "register_town")
    with sessions.begin() as session:
        for kind in kinds:
            grant = actions.authorize(session, BOB, wid, kind, keyring)
            assert grant.upstream_token is not None
            assert grant.upstream_token.get_secret_value() == UPSTREAM_TOKEN
        assert actions.authorize(session, BOB, wid, "join", keyring).upstream_token is None
    # A ciphertext moved to another wasteland no longer opens.
    other = make_wasteland(sessions, ALICE, wasteland_id="w3", now=clock())
    with sessions.begin() as session:
        row = session.get(UpstreamCredentialRow, wid)
        assert row is not None
        session.add(
            UpstreamCredentialRow(
                wasteland_id=other, dolthub_user="hop", connected_by="alice",
                key_id=row.key_id, wrapped_key=row.wrapped_key, key_nonce=row.key_nonce,
                token_nonce=row.token_nonce, ciphertext=row.ciphertext, token_hint="9876",
                connected_at=clock(), updated_at=clock(),
            )
        )  # fmt: skip
    with sessions.begin() as session:
        assert upstream_credentials.reveal(session, other, keyring) is None


async def test_rotation_rewraps_the_upstream_credential(
    connect_upstream: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    await connect_upstream(ALICE, wid, UPSTREAM_TOKEN)  # type: ignore[misc]
    rotated = crypto.Keyring({"k1": b"\x01" * 32, "k2": b"\x02" * 32}, "k2")
    with sessions.begin() as session:
        assert upstream_credentials.rotate(session, rotated) == 1
        assert upstream_credentials.rotate(session, rotated) == 0
    only_new = crypto.Keyring({"k2": b"\x02" * 32}, "k2")
    with sessions.begin() as session:
        revealed = upstream_credentials.reveal(session, wid, only_new)
        assert revealed is not None
        assert revealed.get_secret_value() == UPSTREAM_TOKEN


async def test_fork_currency_is_read_with_the_members_token_and_cached(
    sessions: sessionmaker[Session], clock: Clock, keyring: crypto.Keyring
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    await join(sessions, clock, keyring, BOB, wid, "bob")
    answers: list[bool | Exception | None] = [True, dolthub.Unavailable("HTTP 503"), False]
    asked: list[tuple[str, str]] = []

    async def check(token: SecretStr, ref: UpstreamRef, org: str) -> bool | None:
        asked.append((token.get_secret_value(), org))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def status() -> credentials.CredentialStatus:
        return await credentials.status_with_fork(
            sessions, BOB, wid, check_fork=check, keyring=keyring, now=clock
        )

    first = await status()
    assert (first.fork_behind, first.fork_checked_at) == (True, clock())
    assert asked == [("token-of-bob-0000", "bob")]
    clock.advance(seconds=1)
    unknown = await status()  # behind is asked again; DoltHub fails: the last answer stays
    assert (unknown.fork_behind, unknown.fork_checked_at) == (True, first.fork_checked_at)
    later = await status()  # a sync happened meanwhile
    assert (later.fork_behind, later.fork_checked_at) == (False, clock())
    assert len(asked) == 3
    clock.advance(seconds=10)
    assert (await status()).fork_behind is False  # current is kept for the TTL
    assert len(asked) == 3
    answers.append(True)
    clock.advance(seconds=30)
    assert (await status()).fork_behind is True  # the upstream moved on
    assert len(asked) == 4
    with sessions.begin() as session:  # alice has no credential: nothing to check
        assert credentials.status(session, ALICE, wid).fork_behind is None


async def test_the_callers_rig_handle_comes_with_the_wasteland(
    sessions: sessionmaker[Session], clock: Clock, keyring: crypto.Keyring
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    with sessions.begin() as session:
        assert wastelands.get(session, BOB, wid).my_rig_handle == ""
    await join(sessions, clock, keyring, BOB, wid, "bob")
    with sessions.begin() as session:
        assert wastelands.get(session, BOB, wid).my_rig_handle == "bob"
        members.record_rig(session, wid, user_id="bob", rig_handle="bob", now=clock())
    with sessions.begin() as session:
        assert wastelands.get(session, BOB, wid).my_rig_handle == "bob"
        assert wastelands.get(session, ALICE, wid).my_rig_handle == ""


async def test_pull_decisions_are_for_maintainers_who_have_a_way_to_write(
    connect_upstream: Callable[..., object],
    sessions: sessionmaker[Session],
    clock: Clock,
    keyring: crypto.Keyring,
    new_id: Callable[[], str],
) -> None:
    wid = make_wasteland(sessions, ALICE, wasteland_id="w1", now=clock())
    await join(sessions, clock, keyring, BOB, wid, "bob")  # a contributor
    with sessions.begin() as session:
        members.add(
            session, ALICE, wid, user_id="carol", role="maintainer", trust_level=2,
            now=clock(), new_id=new_id,
        )  # fmt: skip
        members.record_rig(session, wid, user_id="carol", rig_handle="carol-rig", now=clock())
    for kind in ("merge_pull", "close_pull"):
        # Permission first: contributors, readers and site admins, credential or not.
        for who in (BOB, user("dave"), ROOT):
            with (
                sessions.begin() as session,
                pytest.raises(errors.PermissionDenied, match=r"maintainers and owners|admins"),
            ):
                actions.authorize(session, who, wid, kind, keyring)  # type: ignore[arg-type]
        # A maintainer with neither a credential nor an upstream credential: the fix named.
        with (
            sessions.begin() as session,
            pytest.raises(errors.FailedPrecondition, match="upstream-credential"),
        ):
            actions.authorize(session, CAROL, wid, kind, keyring)  # type: ignore[arg-type]
    await connect_upstream(ALICE, wid, UPSTREAM_TOKEN)  # type: ignore[misc]
    with sessions.begin() as session:
        # Without a credential of their own, the upstream credential decides for them.
        grant = actions.authorize(session, CAROL, wid, "merge_pull", keyring)
        assert grant.token.get_secret_value() == ""
        assert grant.upstream_token is not None
        assert grant.upstream_token.get_secret_value() == UPSTREAM_TOKEN
        assert (grant.role, grant.rig_handle) == ("maintainer", "carol-rig")
    await join(sessions, clock, keyring, CAROL, wid, "carol")
    with sessions.begin() as session:
        grant = actions.authorize(session, CAROL, wid, "close_pull", keyring)
        assert grant.token.get_secret_value() == "token-of-carol-0000"
        assert grant.upstream_token is not None
