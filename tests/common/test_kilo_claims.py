"""The Kilo JWT's claims are type-checked in one place (``wasteland_common.auth``).

Well-typed claims are accepted; any claim of the wrong type or shape (``version`` "3",
3.0 or true, ``isAdmin`` "yes", an unknown org role, ...) makes the token invalid.
The gateway and every service verify tokens through ``verify_user_token``, which these
properties exercise directly; tests/gateway and tests/registry check the same rules at
their edges.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from wasteland_common.auth import KiloClaims, verify_user_token
from wasteland_common.errors import Unauthenticated

from tests.support.kilo_claims import (
    json_values,
    memberships,
    mistyped_claims,
    user_ids,
    valid_claims,
)

SECRET = "common-tests-kilo-jwt-secret-0123456789"
AUDIENCE = "wasteland"


def token_of(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


def verify(claims: dict[str, Any]) -> Any:
    return verify_user_token(token_of(claims), secret=SECRET, audience=AUDIENCE)


@given(claims=mistyped_claims())
def test_a_mistyped_claim_makes_the_token_invalid(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated) as refused:
        verify(claims)
    assert refused.value.message == "Invalid token"


@given(
    user_id=user_ids,
    admin=st.none() | st.booleans(),
    orgs=st.none() | st.lists(memberships, max_size=3),
    extra=st.dictionaries(st.sampled_from(["apiTokenPepper", "gastownAccess", "x"]), json_values),
)
def test_well_typed_claims_are_accepted(
    user_id: str, admin: bool | None, orgs: list[dict[str, str]] | None, extra: dict[str, Any]
) -> None:
    claims = valid_claims(kiloUserId=user_id, **extra)
    if admin is not None:
        claims["isAdmin"] = admin
    if orgs is not None:
        claims["orgMemberships"] = orgs
    principal = verify(claims)
    assert principal.user_id == user_id
    assert principal.is_admin is (admin is True)
    assert dict(principal.org_roles) == {m["orgId"]: m["role"] for m in orgs or []}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("version", "3"),
        ("version", 3.0),
        ("version", True),
        ("isAdmin", "yes"),
        ("isAdmin", 1),
        ("isAdmin", None),
        ("kiloUserId", ""),
        ("kiloUserId", 42),
        ("orgMemberships", [{"orgId": "acme", "role": "admin"}]),
        ("orgMemberships", [{"orgId": "", "role": "owner"}]),
        ("orgMemberships", {"orgId": "acme", "role": "owner"}),
        ("exp", "9999999999"),
        ("exp", True),
    ],
)
def test_the_known_mistakes_are_refused(name: str, value: Any) -> None:
    with pytest.raises(Unauthenticated):
        verify(valid_claims(**{name: value}))


def test_the_model_is_strict_on_its_own() -> None:
    # The rules live in one model; a caller validating claims directly gets them too.
    with pytest.raises(ValueError, match="isAdmin"):
        KiloClaims.model_validate(valid_claims(isAdmin="yes"))
