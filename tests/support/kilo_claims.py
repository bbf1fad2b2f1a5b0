"""Hypothesis strategies of Kilo JWT claims: well-typed ones, and ones with exactly one
claim of the wrong type or shape (used by the common, gateway and registry tests)."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import strategies as st

ORG_ROLES = ("owner", "member", "billing_manager")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
user_ids = st.text(min_size=1, max_size=40)
org_ids = st.text(min_size=1, max_size=20)
memberships = st.fixed_dictionaries({"orgId": org_ids, "role": st.sampled_from(ORG_ROLES)})


def is_int_3(value: Any) -> bool:
    return type(value) is int and value == 3


def is_user_id(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 200


def is_membership(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("orgId"), str)
        and len(value["orgId"]) >= 1
        and value.get("role") in ORG_ROLES
        and isinstance(value.get("role"), str)
    )


bad_versions = json_values.filter(lambda v: not is_int_3(v)) | st.sampled_from(
    ["3", 3.0, True, 2, 4, [3], {"v": 3}]
)
bad_user_ids = json_values.filter(lambda v: not is_user_id(v)) | st.sampled_from(
    ["", 7, None, ["alice"], "x" * 201]
)
bad_admin_flags = json_values.filter(lambda v: not isinstance(v, bool)) | st.sampled_from(
    ["yes", "true", 1, 0, None, "false"]
)
bad_memberships = json_values.filter(lambda v: not is_membership(v)) | st.sampled_from(
    [
        {"orgId": "", "role": "owner"},
        {"orgId": 5, "role": "owner"},
        {"orgId": "acme", "role": "admin"},
        {"orgId": "acme", "role": "OWNER"},
        {"orgId": "acme"},
        {"role": "member"},
        {"orgId": "acme", "role": None},
    ]
)
bad_membership_lists = (
    st.tuples(
        st.lists(memberships, max_size=2), bad_memberships, st.lists(memberships, max_size=2)
    ).map(lambda t: [*t[0], t[1], *t[2]])
) | json_values.filter(lambda v: not isinstance(v, list))


def valid_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"version": 3, "kiloUserId": "alice", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return claims


@st.composite
def mistyped_claims(draw: st.DrawFn) -> dict[str, Any]:
    """Valid claims with exactly one claim of the wrong type or shape."""
    name = draw(st.sampled_from(["version", "kiloUserId", "isAdmin", "orgMemberships"]))
    bad = {
        "version": bad_versions,
        "kiloUserId": bad_user_ids,
        "isAdmin": bad_admin_flags,
        "orgMemberships": bad_membership_lists,
    }[name]
    return valid_claims(**{name: draw(bad)})
