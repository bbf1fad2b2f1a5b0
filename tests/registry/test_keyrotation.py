"""``wl-registry rotate-keys``: every stored credential re-wrapped under the active key, on
SQLite and on a real PostgreSQL, through the command operators run."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from wl_registry import credentials, crypto, keyrotation, upstream_credentials
from wl_registry.server import main
from wl_registry.store import CredentialRow, UpstreamCredentialRow

from .conftest import Clock, make_wasteland, user

K1 = b"\x11" * 32
K2 = b"\x22" * 32
OLD = crypto.Keyring({"k1": K1}, "k1")
BOTH = crypto.Keyring({"k1": K1, "k2": K2}, "k2")
ONLY_NEW = crypto.Keyring({"k2": K2}, "k2")
WASTELANDS = ("w1", "w2", "w3")


def keys_env(**keys: bytes) -> str:
    return ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in keys.items())


def member_token(wid: str, who: str) -> str:
    return f"dolthub-token-of-{who}-in-{wid}"


def upstream_token(wid: str) -> str:
    return f"upstream-token-of-{wid}"


@pytest.fixture
def stored(sessions: sessionmaker[Session], clock: Clock) -> sessionmaker[Session]:
    """Three wastelands with two member credentials and one upstream credential each, all
    wrapped by k1."""
    for wid in WASTELANDS:
        make_wasteland(sessions, user("alice"), wasteland_id=wid, now=clock())
        with sessions.begin() as session:
            for who in ("alice", "bob"):
                credentials.store_row(
                    session, wid, who, dolthub_org=who, rig_handle=who,
                    sealed=crypto.seal(
                        member_token(wid, who), OLD, crypto.associated_data(wid, who)
                    ),
                    hint="", now=clock(), new_id=lambda wid=wid, who=who: f"{wid}-{who}",
                )  # fmt: skip
            upstream_credentials.store_row(
                session, wid,
                sealed=crypto.seal(
                    upstream_token(wid), OLD, upstream_credentials.associated_data(wid)
                ),
                hint="", dolthub_user="hop", connected_by="alice", now=clock(),
            )  # fmt: skip
    return sessions


def key_ids(sessions: sessionmaker[Session]) -> set[str]:
    with sessions.begin() as session:
        return {
            *(row.key_id for row in session.query(CredentialRow)),
            *(row.key_id for row in session.query(UpstreamCredentialRow)),
        }


def assert_readable_with(sessions: sessionmaker[Session], keyring: crypto.Keyring) -> None:
    with sessions.begin() as session:
        for row in session.query(CredentialRow):
            assert credentials.reveal(row, keyring).get_secret_value() == member_token(
                row.wasteland_id, row.user_id
            )
        for wid in WASTELANDS:
            revealed = upstream_credentials.reveal(session, wid, keyring)
            assert revealed is not None
            assert revealed.get_secret_value() == upstream_token(wid)


def run_command(monkeypatch: pytest.MonkeyPatch, db_url: str, *args: str, **keys: bytes) -> int:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("CREDENTIAL_KEYS", keys_env(**keys))
    monkeypatch.setenv("CREDENTIAL_ACTIVE_KEY_ID", list(keys)[-1])
    with pytest.raises(SystemExit) as exited:
        main(["rotate-keys", *args])
    return int(exited.value.code or 0)


def test_rotate_keys_rewraps_every_credential_under_the_active_key(
    stored: sessionmaker[Session],
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_command(monkeypatch, db_url, "--check", k1=K1, k2=K2) == 1
    assert key_ids(stored) == {"k1"}  # --check changes nothing

    # Batches of two: several transactions per kind.
    assert run_command(monkeypatch, db_url, "--batch", "2", k1=K1, k2=K2) == 0
    report = capsys.readouterr().out
    assert "re-wrapped 6 member credentials under key 'k2'" in report
    assert "re-wrapped 3 upstream credentials under key 'k2'" in report

    assert key_ids(stored) == {"k2"}
    assert_readable_with(stored, ONLY_NEW)
    assert run_command(monkeypatch, db_url, "--check", k1=K1, k2=K2) == 0
    # Once everything is under k2, k1 can leave the ring.
    assert run_command(monkeypatch, db_url, "--check", k2=K2) == 0


def test_rotate_keys_refuses_when_the_ring_lacks_a_key_in_use(
    stored: sessionmaker[Session], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_command(monkeypatch, db_url, k2=K2) == 1
    assert key_ids(stored) == {"k1"}
    assert_readable_with(stored, OLD)


def test_rewrap_all_stops_at_a_tampered_credential(stored: sessionmaker[Session]) -> None:
    with stored.begin() as session:
        row = session.get(UpstreamCredentialRow, "w2")
        assert row is not None
        row.wrapped_key = bytes(len(row.wrapped_key))
    with pytest.raises(crypto.DecryptionError):
        keyrotation.rewrap_all(stored, BOTH)
    # The member credentials (re-wrapped first) are done; the failed batch of upstream
    # credentials was rolled back whole, so every one of them still opens with k1.
    with stored.begin() as session:
        assert {row.key_id for row in session.query(CredentialRow)} == {"k2"}
        assert {row.key_id for row in session.query(UpstreamCredentialRow)} == {"k1"}
        assert upstream_credentials.reveal(session, "w1", OLD) is not None


def test_the_console_script_runs_the_command(stored: sessionmaker[Session], db_url: str) -> None:
    script = Path(sys.executable).parent / "wl-registry"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "CREDENTIAL_KEYS": keys_env(k1=K1, k2=K2),
        "CREDENTIAL_ACTIVE_KEY_ID": "k2",
        "LOG_FORMAT": "text",
    }
    done = subprocess.run(
        [str(script), "rotate-keys"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "re-wrapped 3 upstream credentials under key 'k2'" in done.stdout
    assert key_ids(stored) == {"k2"}
    # Neither key material nor any plaintext token reaches the output.
    output = done.stdout + done.stderr
    assert base64.b64encode(K1).decode() not in output
    assert base64.b64encode(K2).decode() not in output
    assert "-token-of-" not in output  # every member and upstream token contains it
