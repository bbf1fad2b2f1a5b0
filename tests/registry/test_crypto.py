"""Envelope encryption of DoltHub tokens (crypto.py)."""

from __future__ import annotations

import base64
import dataclasses
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wl_registry import crypto
from wl_registry.crypto import DecryptionError, Keyring, KeyringError, SealedSecret

TOKEN = "dhat.v1.abcdefghijklmnopqrstuvwxyz0123"
AD = crypto.associated_data("w1", "alice")
K1 = b"\x11" * 32
K2 = b"\x22" * 32


def ring(active: str = "k1", **keys: bytes) -> Keyring:
    return Keyring(keys or {"k1": K1}, active)


@given(st.text(min_size=1, max_size=200))
def test_round_trip(plaintext: str) -> None:
    keyring = ring()
    sealed = crypto.seal(plaintext, keyring, AD)
    assert crypto.open_sealed(sealed, keyring, AD) == plaintext


def test_each_record_gets_a_fresh_data_key_and_nonce() -> None:
    keyring = ring()
    a = crypto.seal(TOKEN, keyring, AD)
    b = crypto.seal(TOKEN, keyring, AD)
    assert a.ciphertext != b.ciphertext
    assert a.wrapped_key != b.wrapped_key
    assert a.nonce != b.nonce
    assert TOKEN.encode() not in a.ciphertext


def test_ciphertext_moved_to_another_row_does_not_decrypt() -> None:
    keyring = ring()
    sealed = crypto.seal(TOKEN, keyring, AD)
    for other in (("w1", "bob"), ("w2", "alice"), ("w1:alice", "")):
        with pytest.raises(DecryptionError):
            crypto.open_sealed(sealed, keyring, crypto.associated_data(*other))


@pytest.mark.parametrize("part", ["wrapped_key", "key_nonce", "nonce", "ciphertext"])
def test_tampering_with_any_part_is_detected(part: str) -> None:
    keyring = ring()
    sealed = crypto.seal(TOKEN, keyring, AD)
    value = bytearray(getattr(sealed, part))
    value[0] ^= 0x01
    fields = dataclasses.asdict(sealed)
    fields[part] = bytes(value)
    tampered = SealedSecret(**fields)
    with pytest.raises(DecryptionError):
        crypto.open_sealed(tampered, keyring, AD)


def test_relabelling_the_key_id_is_detected() -> None:
    keyring = Keyring({"k1": K1, "k2": K1}, "k1")  # same bytes, different id
    sealed = crypto.seal(TOKEN, keyring, AD)
    relabelled = dataclasses.replace(sealed, key_id="k2")
    with pytest.raises(DecryptionError):
        crypto.open_sealed(relabelled, keyring, AD)


def test_rotation_rewraps_under_the_new_key_and_old_records_still_open() -> None:
    old = ring("k1", k1=K1)
    sealed = crypto.seal(TOKEN, old, AD)
    rotated_ring = ring("k2", k1=K1, k2=K2)
    # Before re-wrapping, the old key (still in the ring) opens it.
    assert crypto.open_sealed(sealed, rotated_ring, AD) == TOKEN
    fresh = crypto.rewrap(sealed, rotated_ring, AD)
    assert fresh.key_id == "k2"
    assert fresh.ciphertext == sealed.ciphertext
    # Once re-wrapped, the old key can leave the ring.
    assert crypto.open_sealed(fresh, ring("k2", k2=K2), AD) == TOKEN
    with pytest.raises(DecryptionError):
        crypto.open_sealed(sealed, ring("k2", k2=K2), AD)


def test_rewrap_keeps_records_already_under_the_active_key() -> None:
    keyring = ring()
    sealed = crypto.seal(TOKEN, keyring, AD)
    assert crypto.rewrap(sealed, keyring, AD) is sealed


def test_parse_keyring() -> None:
    spec = f"k1:{base64.b64encode(K1).decode()}, k2:{base64.b64encode(K2).decode()}"
    keyring = crypto.parse_keyring(spec, "k2")
    assert keyring.key_ids == {"k1", "k2"}
    assert keyring.active_key_id == "k2"
    assert not keyring.uses_dev_key
    single = crypto.parse_keyring(f"only:{base64.b64encode(K1).decode()}")
    assert single.active_key_id == "only"


@pytest.mark.parametrize(
    ("spec", "active"),
    [
        ("k1:" + base64.b64encode(b"short").decode(), ""),
        ("k1:not base64!!", ""),
        ("nokey", ""),
        ("k1:" + base64.b64encode(K1).decode() + ",k2:" + base64.b64encode(K2).decode(), ""),
        ("k1:" + base64.b64encode(K1).decode(), "k9"),
        ("k1:" + base64.b64encode(K1).decode() + ",k1:" + base64.b64encode(K2).decode(), "k1"),
        ("bad id!:" + base64.b64encode(K1).decode(), ""),
    ],
)
def test_malformed_keyrings_are_refused_without_echoing_keys(spec: str, active: str) -> None:
    with pytest.raises(KeyringError) as info:
        crypto.parse_keyring(spec, active)
    assert base64.b64encode(K1).decode() not in str(info.value)
    assert base64.b64encode(K2).decode() not in str(info.value)


def test_empty_spec_is_the_dev_keyring() -> None:
    keyring = crypto.parse_keyring("", "")
    assert keyring.uses_dev_key
    sealed = crypto.seal(TOKEN, keyring, AD)
    # Deterministic: a restart (a new dev keyring) still opens it.
    assert crypto.open_sealed(sealed, crypto.dev_keyring(), AD) == TOKEN


def test_unknown_key_id_fails_to_decrypt() -> None:
    sealed = crypto.seal(TOKEN, ring(), AD)
    with pytest.raises(DecryptionError):
        crypto.open_sealed(sealed, ring("k2", k2=K2), AD)


def test_no_secret_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    keyring = ring()
    sealed = crypto.seal(TOKEN, keyring, AD)
    texts = [repr(keyring), str(keyring), repr(sealed)]
    try:
        crypto.open_sealed(dataclasses.replace(sealed, ciphertext=b"x" * 40), keyring, AD)
    except DecryptionError as exc:
        texts.append(str(exc))
    logger = logging.getLogger("test.crypto")
    with caplog.at_level(logging.INFO):
        logger.info("sealed %r with %r", sealed, keyring)
    texts.append(caplog.text)
    for text in texts:
        assert TOKEN not in text
        assert K1.hex() not in text
        assert repr(K1) not in text
    assert isinstance(sealed, SealedSecret)


def test_token_hint() -> None:
    assert crypto.token_hint("sandbox-token-alice") == "lice"
    assert crypto.token_hint("short") == ""
