"""The access decision: who may see and change a wasteland, and in which role.

Plain functions over plain values, so the rules are testable without a database.

* Personal wasteland: its owner user is ``owner``; explicit members have their role.
* Org wasteland: org owners are ``owner`` (maintainer powers, trust 3); other org members
  (role ``member``) are ``contributor`` unless an explicit membership says more;
  ``billing_manager`` gets nothing from the org.
* Public wasteland: any signed-in user reads it as ``viewer`` (and may connect a DoltHub
  credential and join, becoming a ``contributor``).
* Kilo site admins read anything as ``viewer`` and change nothing: an admin without a
  membership of their own reads even a public wasteland as an admin (source ``admin``),
  so they may not connect, join, act or wake either. An admin who is also an owner or
  member keeps that member's rights.
* Deleted wastelands are invisible to everyone. Invisible means NOT_FOUND, never
  PERMISSION_DENIED, so nobody learns a private wasteland exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wasteland_common.auth import Principal
from wasteland_common.errors import NotFound, PermissionDenied

Role = Literal["owner", "maintainer", "contributor", "viewer"]
# Roles a membership row may store; "viewer" is never stored, only derived.
StoredRole = Literal["owner", "maintainer", "contributor"]
MemberSource = Literal["explicit", "org"]
# Why the caller has access: a membership (explicit or through the org), or read-only
# access because the wasteland is public or the caller is a site admin.
AccessSource = Literal["explicit", "org", "public", "admin"]
OwnerType = Literal["user", "org"]
Visibility = Literal["public", "private"]

ROLE_RANK: dict[Role, int] = {"viewer": 1, "contributor": 2, "maintainer": 3, "owner": 4}
OWNER_TRUST = 3
ORG_MEMBER_TRUST = 1
CONTRIBUTOR_TRUST = 1


@dataclass(frozen=True)
class WastelandFacts:
    """The parts of a wasteland the access decision looks at."""

    owner_type: OwnerType
    owner_user_id: str | None
    owner_org_id: str | None
    visibility: Visibility
    deleted: bool = False


@dataclass(frozen=True)
class Membership:
    """A stored membership row of the caller (if any).

    Rows with source ``org`` only record an org member's rig and credential link; they
    grant nothing by themselves, so leaving the org ends the access at once.
    """

    role: StoredRole
    trust_level: int
    source: MemberSource


@dataclass(frozen=True)
class Access:
    """The caller's effective standing in one wasteland."""

    role: Role
    trust_level: int
    source: AccessSource

    @property
    def is_member(self) -> bool:
        """Whether the caller is a member (explicit or through the org), not just a reader."""
        return self.source in ("explicit", "org")

    def at_least(self, role: Role) -> bool:
        """Whether the caller's role is ``role`` or higher."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def decide(
    principal: Principal, wasteland: WastelandFacts, membership: Membership | None
) -> Access | None:
    """The caller's access to ``wasteland``, or None when it must stay invisible."""
    if wasteland.deleted:
        return None
    grants: list[Access] = []
    if wasteland.owner_type == "user" and wasteland.owner_user_id == principal.user_id:
        grants.append(Access("owner", OWNER_TRUST, "explicit"))
    if membership is not None and membership.source == "explicit":
        grants.append(Access(membership.role, membership.trust_level, "explicit"))
    if wasteland.owner_type == "org" and wasteland.owner_org_id is not None:
        org_role = principal.org_role(wasteland.owner_org_id)
        if org_role == "owner":
            grants.append(Access("owner", OWNER_TRUST, "org"))
        elif org_role == "member":
            grants.append(Access("contributor", ORG_MEMBER_TRUST, "org"))
    if grants:
        # Highest role wins; on a tie the explicit grant names the source. Trust is the
        # highest any grant gives, so an org owner never drops below 3.
        best = max(grants, key=lambda g: (ROLE_RANK[g.role], g.source == "explicit"))
        return Access(best.role, max(g.trust_level for g in grants), best.source)
    if principal.is_admin:
        return Access("viewer", 0, "admin")
    if wasteland.visibility == "public":
        return Access("viewer", 0, "public")
    return None


def require_visible(access: Access | None, what: str = "wasteland") -> Access:
    """``access`` itself, or NOT_FOUND when the caller may not see the wasteland."""
    if access is None:
        raise NotFound(f"{what} not found")
    return access


def can_create(principal: Principal, owner_type: OwnerType, org_id: str | None) -> bool:
    """Whether the caller may create a wasteland owned by themself or by ``org_id``.

    Anyone may create a personal one; an org one needs org role owner or member.
    """
    if owner_type == "user":
        return True
    return org_id is not None and principal.org_role(org_id) in ("owner", "member")


def can_list_org(principal: Principal, org_id: str) -> bool:
    """Whether the caller may list ``org_id``'s wastelands (members, owners, site admins)."""
    return principal.org_role(org_id) in ("owner", "member") or principal.is_admin


def can_update_wasteland(access: Access) -> bool:
    """Rename or change visibility: the owner (for org wastelands, an org or explicit owner)."""
    return access.is_member and access.role == "owner"


def can_delete_wasteland(principal: Principal, wasteland: WastelandFacts, access: Access) -> bool:
    """Delete: the owner of a personal wasteland; only org owners for an org wasteland."""
    if not access.is_member:
        return False
    if wasteland.owner_type == "org":
        return (
            wasteland.owner_org_id is not None
            and principal.org_role(wasteland.owner_org_id) == "owner"
        )
    return access.role == "owner"


def can_manage_members(access: Access) -> bool:
    """Add and update members: maintainers and owners."""
    return access.is_member and access.at_least("maintainer")


def can_remove_member(access: Access, *, caller_id: str, target_id: str) -> bool:
    """Remove a member: maintainers and owners, or the member themself."""
    return access.is_member and (access.at_least("maintainer") or caller_id == target_id)


def can_connect(access: Access) -> bool:
    """Connect a DoltHub credential (and so become a contributor of a public wasteland).

    Any reader may, except one who reads only because they are a site admin.
    """
    return access.source != "admin"


def can_take_part(access: Access) -> bool:
    """Act in the wasteland once the preconditions hold: members, and readers of a public
    wasteland (connecting a credential makes them contributors). Never a site admin
    without a membership."""
    return access.is_member or access.source == "public"


def require(allowed: bool, message: str) -> None:
    """PERMISSION_DENIED with ``message`` unless ``allowed`` (for callers who can see)."""
    if not allowed:
        raise PermissionDenied(message)
