"""Properties of the access decision (ownership.py)."""

from __future__ import annotations

from typing import get_args

from hypothesis import given
from hypothesis import strategies as st
from wasteland_common.auth import OrgRole, Principal
from wl_registry import ownership
from wl_registry.ownership import ROLE_RANK, Membership, WastelandFacts

USERS = st.sampled_from(["u1", "u2", "u3"])
ORGS = st.sampled_from(["o1", "o2"])
ORG_ROLES = st.sampled_from(get_args(OrgRole))


@st.composite
def principals(draw: st.DrawFn) -> Principal:
    return Principal(
        user_id=draw(USERS),
        is_admin=draw(st.booleans()),
        org_roles=draw(st.dictionaries(ORGS, ORG_ROLES, max_size=2)),
    )


@st.composite
def wastelands(draw: st.DrawFn) -> WastelandFacts:
    if draw(st.booleans()):
        return WastelandFacts(
            "user", draw(USERS), None, draw(st.sampled_from(["public", "private"])),
            deleted=draw(st.booleans()),
        )  # fmt: skip
    return WastelandFacts(
        "org", None, draw(ORGS), draw(st.sampled_from(["public", "private"])),
        deleted=draw(st.booleans()),
    )  # fmt: skip


memberships = st.none() | st.builds(
    Membership,
    role=st.sampled_from(["owner", "maintainer", "contributor"]),
    trust_level=st.integers(0, 3),
    source=st.sampled_from(["explicit", "org"]),
)


def with_admin(p: Principal, admin: bool) -> Principal:
    return Principal(user_id=p.user_id, is_admin=admin, org_roles=p.org_roles)


def without_org(p: Principal, org: str | None) -> Principal:
    return Principal(
        user_id=p.user_id,
        is_admin=p.is_admin,
        org_roles={o: r for o, r in p.org_roles.items() if o != org},
    )


@given(principals(), wastelands(), memberships)
def test_deleted_wastelands_are_invisible_to_everyone(
    p: Principal, w: WastelandFacts, m: Membership | None
) -> None:
    deleted = WastelandFacts(w.owner_type, w.owner_user_id, w.owner_org_id, w.visibility, True)
    assert ownership.decide(p, deleted, m) is None


@given(principals(), wastelands(), memberships)
def test_public_wastelands_are_readable_by_every_signed_in_user(
    p: Principal, w: WastelandFacts, m: Membership | None
) -> None:
    if w.visibility == "public" and not w.deleted:
        assert ownership.decide(p, w, m) is not None


@given(principals(), wastelands(), memberships)
def test_private_wasteland_without_any_tie_is_not_found(
    p: Principal, w: WastelandFacts, m: Membership | None
) -> None:
    tied = (
        (w.owner_type == "user" and w.owner_user_id == p.user_id)
        or (m is not None and m.source == "explicit")
        or (w.owner_org_id is not None and p.org_role(w.owner_org_id) in ("owner", "member"))
    )
    access = ownership.decide(p, w, m)
    if w.visibility == "private" and not tied and not p.is_admin:
        assert access is None
    if tied and not w.deleted:
        assert access is not None
        assert access.is_member


@given(principals(), wastelands(), memberships)
def test_the_admin_flag_grants_reading_only(
    p: Principal, w: WastelandFacts, m: Membership | None
) -> None:
    plain = ownership.decide(with_admin(p, False), w, m)
    admin = ownership.decide(with_admin(p, True), w, m)
    if w.deleted:
        assert admin is None
        return
    if plain is not None and plain.is_member:
        # An admin who is also an owner or member keeps that member's rights.
        assert admin == plain
    else:
        # Without a membership an admin only reads, even a public wasteland anyone may
        # join: no connecting, joining, acting, changing.
        assert admin is not None
        assert admin.role == "viewer"
        assert admin.source == "admin"
        assert not ownership.can_connect(admin)
        assert not ownership.can_take_part(admin)
        assert not ownership.can_update_wasteland(admin)
        assert not ownership.can_manage_members(admin)
        assert not ownership.can_remove_member(admin, caller_id=p.user_id, target_id=p.user_id)
        assert not ownership.can_delete_wasteland(with_admin(p, True), w, admin)


@given(principals(), wastelands(), memberships)
def test_billing_managers_get_nothing_from_the_org(
    p: Principal, w: WastelandFacts, m: Membership | None
) -> None:
    org = w.owner_org_id
    if org is None or p.org_role(org) != "billing_manager":
        return
    assert ownership.decide(p, w, m) == ownership.decide(without_org(p, org), w, m)


@given(principals(), wastelands())
def test_org_owners_own_their_orgs_wastelands(p: Principal, w: WastelandFacts) -> None:
    access = ownership.decide(p, w, None)
    if w.owner_org_id is not None and p.org_role(w.owner_org_id) == "owner" and not w.deleted:
        assert access is not None
        assert access.role == "owner"
        assert access.trust_level == 3
        assert ownership.can_delete_wasteland(p, w, access)


@given(principals(), wastelands(), memberships)
def test_an_org_member_is_at_least_a_contributor_but_cannot_delete(
    p: Principal, w: WastelandFacts, m: Membership | None
) -> None:
    if w.owner_org_id is None or p.org_role(w.owner_org_id) != "member" or w.deleted:
        return
    access = ownership.decide(p, w, m)
    assert access is not None
    assert access.at_least("contributor")
    assert not ownership.can_delete_wasteland(p, w, access)


@given(principals(), wastelands(), memberships)
def test_an_org_row_grants_nothing_by_itself(
    p: Principal, w: WastelandFacts, m: Membership | None
) -> None:
    if m is None or m.source != "org":
        return
    assert ownership.decide(p, w, m) == ownership.decide(p, w, None)


@given(principals(), wastelands(), memberships)
def test_an_explicit_membership_never_lowers_the_role(
    p: Principal, w: WastelandFacts, m: Membership | None
) -> None:
    before = ownership.decide(p, w, None)
    after = ownership.decide(p, w, m)
    if before is not None:
        assert after is not None
        assert ROLE_RANK[after.role] >= ROLE_RANK[before.role]


@given(principals(), wastelands(), memberships)
def test_viewers_change_nothing(p: Principal, w: WastelandFacts, m: Membership | None) -> None:
    access = ownership.decide(p, w, m)
    if access is None or access.role != "viewer":
        return
    assert not access.is_member
    assert not ownership.can_update_wasteland(access)
    assert not ownership.can_delete_wasteland(p, w, access)
    assert not ownership.can_manage_members(access)
    assert not ownership.can_remove_member(access, caller_id=p.user_id, target_id=p.user_id)


def test_personal_owner_is_owner_with_trust_three() -> None:
    w = WastelandFacts("user", "u1", None, "private")
    access = ownership.decide(Principal("u1"), w, None)
    assert access == ownership.Access("owner", 3, "explicit")
    assert ownership.can_update_wasteland(access)
    assert ownership.can_delete_wasteland(Principal("u1"), w, access)


def test_explicit_maintainer_of_org_wasteland_beats_org_contributor() -> None:
    w = WastelandFacts("org", None, "o1", "private")
    p = Principal("u2", org_roles={"o1": "member"})
    access = ownership.decide(p, w, Membership("maintainer", 2, "explicit"))
    assert access == ownership.Access("maintainer", 2, "explicit")
    assert ownership.can_manage_members(access)
    assert not ownership.can_update_wasteland(access)


def test_only_org_members_may_create_org_wastelands() -> None:
    assert ownership.can_create(Principal("u"), "user", None)
    assert ownership.can_create(Principal("u", org_roles={"o": "member"}), "org", "o")
    assert ownership.can_create(Principal("u", org_roles={"o": "owner"}), "org", "o")
    assert not ownership.can_create(Principal("u", org_roles={"o": "billing_manager"}), "org", "o")
    assert not ownership.can_create(Principal("u", org_roles={"x": "owner"}), "org", "o")
    assert not ownership.can_create(Principal("u", is_admin=True), "org", "o")
