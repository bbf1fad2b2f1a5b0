"""Who is calling: the Kilo user JWT, service identities, and the principal.

The gateway validates the user's Kilo JWT and forwards it unchanged in the
``authorization`` gRPC metadata; each service validates it again (no service trusts a
principal it cannot verify). Services identify themselves with a short-lived service JWT
in ``x-service-authorization``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import jwt
import jwt.warnings
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import PermissionDenied, Unauthenticated

T = TypeVar("T")

# Kilo's shared secret is whatever the platform configured (the local default is shorter
# than 32 bytes); the key length is not ours to choose, so PyJWT's advice is silenced.
warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)

USER_METADATA_KEY = "authorization"
SERVICE_METADATA_KEY = "x-service-authorization"
REQUEST_ID_METADATA_KEY = "x-request-id"
SERVICE_AUDIENCE = "wasteland-internal"
OrgRole = Literal["owner", "member", "billing_manager"]
INVALID_TOKEN = "Invalid token"  # noqa: S105 - a message, never says why in detail


@dataclass(frozen=True)
class Principal:
    """An authenticated Kilo user."""

    user_id: str
    is_admin: bool = False
    org_roles: Mapping[str, OrgRole] = field(default_factory=dict)

    def org_role(self, org_id: str) -> OrgRole | None:
        """The user's role in ``org_id``, or None when not a member."""
        return self.org_roles.get(org_id)


class _OrgMembership(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    org_id: str = Field(alias="orgId", min_length=1)
    role: OrgRole


class KiloClaims(BaseModel):
    """The claims of a Kilo JWT we rely on, type-checked strictly (no coercion).

    ``version`` is the integer 3 (not "3", 3.0 or true), ``kiloUserId`` a non-empty
    string, ``isAdmin`` a boolean when present (not "yes", 1 or null), ``orgMemberships``
    a list of ``{orgId: non-empty string, role: owner|member|billing_manager}``. Unknown
    claims are ignored. The gateway and every service check tokens through this one
    model (via :func:`verify_user_token`).
    """

    model_config = ConfigDict(extra="ignore", strict=True)
    version: int
    kilo_user_id: str = Field(alias="kiloUserId", min_length=1, max_length=200)
    is_admin: bool = Field(default=False, alias="isAdmin")
    org_memberships: list[_OrgMembership] = Field(default_factory=list, alias="orgMemberships")
    # A JSON number (PyJWT checks it is in the future; a string or a boolean is refused).
    exp: int | float

    @field_validator("version")
    @classmethod
    def _v3(cls, value: int) -> int:
        if value != 3:
            raise ValueError("unsupported token version")
        return value

    @field_validator("exp")
    @classmethod
    def _number(cls, value: float) -> float:
        if isinstance(value, bool):
            raise ValueError("not a number")
        return value


def verify_user_token(
    token: str, *, secret: str, audience: str, now: Callable[[], float] = time.time
) -> Principal:
    """Validate a Kilo JWT (HS256, exp enforced, aud checked when present, the claims
    type-checked by :class:`KiloClaims`); anything wrong is UNAUTHENTICATED "Invalid
    token", never saying why."""
    return _verify_user_token(token, secret=secret, audience=audience, now=now)[0]


def _verify_user_token(
    token: str, *, secret: str, audience: str, now: Callable[[], float]
) -> tuple[Principal, float]:
    """:func:`verify_user_token`, and the token's ``exp``."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "HS256":
            raise Unauthenticated(INVALID_TOKEN)
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp"], "verify_aud": False, "verify_iat": False},
            leeway=0,
        )
        parsed = KiloClaims.model_validate(claims)
        if parsed.exp <= now():
            raise Unauthenticated(INVALID_TOKEN)
        aud = claims.get("aud")
        if aud is not None:
            auds = [aud] if isinstance(aud, str) else aud
            if not isinstance(auds, list) or audience not in auds:
                raise Unauthenticated(INVALID_TOKEN)
    except (jwt.PyJWTError, ValidationError, TypeError, KeyError) as exc:
        raise Unauthenticated(INVALID_TOKEN) from exc
    principal = Principal(
        user_id=parsed.kilo_user_id,
        is_admin=parsed.is_admin,
        org_roles={m.org_id: m.role for m in parsed.org_memberships},
    )
    return principal, float(parsed.exp)


class _AcceptedTokens(Generic[T]):
    """A token check with a memory of the tokens it accepted.

    A token is a signed, immutable statement: with a fixed secret (and audience), whether
    it verifies depends only on the token and the clock (``exp``). So what an accepted
    token says is kept, keyed by the exact token string, and served again until its
    ``exp`` passes (checked on every hit against ``now``); then it is refused like any
    expired token. Refusals are never kept. At most ``max_entries`` tokens are held (the
    oldest accepted is forgotten first).
    """

    def __init__(
        self,
        check: Callable[[str], tuple[T, float]],
        *,
        now: Callable[[], float],
        max_entries: int,
    ) -> None:
        self._check = check
        self._now = now
        self._max = max_entries
        self._accepted: dict[str, tuple[T, float]] = {}

    def verify(self, token: str) -> T:
        """What the token says, or UNAUTHENTICATED "Invalid token"."""
        found = self._accepted.get(token)
        if found is not None:
            said, exp = found
            if exp > self._now():
                return said
            del self._accepted[token]
            raise Unauthenticated(INVALID_TOKEN)
        said, exp = self._check(token)
        if self._max > 0:
            if len(self._accepted) >= self._max:
                del self._accepted[next(iter(self._accepted))]
            self._accepted[token] = (said, exp)
        return said

    def __len__(self) -> int:
        return len(self._accepted)


class VerifiedUserTokens(_AcceptedTokens[Principal]):
    """:func:`verify_user_token` with a memory of accepted tokens until their ``exp``."""

    def __init__(
        self,
        *,
        secret: str,
        audience: str,
        now: Callable[[], float] = time.time,
        max_entries: int = 10_000,
    ) -> None:
        super().__init__(
            lambda token: _verify_user_token(token, secret=secret, audience=audience, now=now),
            now=now,
            max_entries=max_entries,
        )


def mint_user_token(
    user_id: str,
    *,
    secret: str,
    orgs: Sequence[tuple[str, OrgRole]] = (),
    is_admin: bool = False,
    ttl_seconds: int = 3600,
    audience: str | None = None,
    now: Callable[[], float] = time.time,
) -> str:
    """Make a Kilo-shaped JWT; for local development and tests only."""
    issued = int(now())
    claims: dict[str, Any] = {
        "version": 3,
        "kiloUserId": user_id,
        "isAdmin": is_admin,
        "orgMemberships": [{"orgId": o, "role": r} for o, r in orgs],
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def mint_service_token(
    service: str, *, secret: str, ttl_seconds: int = 300, now: Callable[[], float] = time.time
) -> str:
    """A short-lived token naming the calling service."""
    issued = int(now())
    claims = {"sub": service, "aud": SERVICE_AUDIENCE, "iat": issued, "exp": issued + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_service_token(token: str, *, secret: str) -> str:
    """Return the service name a valid service token names."""
    return _verify_service_token(token, secret=secret)[0]


def _verify_service_token(token: str, *, secret: str) -> tuple[str, float]:
    """:func:`verify_service_token`, and the token's ``exp``."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=SERVICE_AUDIENCE,
            options={"require": ["exp", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(INVALID_TOKEN) from exc
    sub = claims.get("sub")
    exp = claims.get("exp")
    if not isinstance(sub, str) or not sub or not isinstance(exp, int | float):
        raise Unauthenticated(INVALID_TOKEN)
    return sub, float(exp)


class VerifiedServiceTokens(_AcceptedTokens[str]):
    """:func:`verify_service_token` with a memory of accepted tokens until their ``exp``
    (a caller reuses its service token for a while, see
    ``grpc_client.ServiceCredentials``)."""

    def __init__(
        self, *, secret: str, now: Callable[[], float] = time.time, max_entries: int = 1_000
    ) -> None:
        super().__init__(
            lambda token: _verify_service_token(token, secret=secret),
            now=now,
            max_entries=max_entries,
        )


def bearer(value: str | None) -> str | None:
    """The token of an ``Bearer <token>`` header value, or None."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass(frozen=True)
class CallerIdentity:
    """What a gRPC call proved about its caller."""

    principal: Principal | None
    service: str | None
    user_token: str | None

    def require_user(self) -> Principal:
        """The user, or UNAUTHENTICATED."""
        if self.principal is None:
            raise Unauthenticated("Authentication required")
        return self.principal

    def require_service(self, *allowed: str) -> str:
        """The calling service if it is one of ``allowed``, else PERMISSION_DENIED."""
        if self.service is None or self.service not in allowed:
            raise PermissionDenied("this call is reserved to internal services")
        return self.service


class Authenticator:
    """Reads caller identity from gRPC invocation metadata.

    Accepted tokens (users' and services') are remembered until their ``exp``
    (:class:`VerifiedUserTokens`, :class:`VerifiedServiceTokens`): the same tokens come
    with call after call, and checking them again is a large part of a cheap call's cost.
    """

    def __init__(self, *, user_secret: str, audience: str, service_secret: str) -> None:
        self._users = VerifiedUserTokens(secret=user_secret, audience=audience)
        self._services = VerifiedServiceTokens(secret=service_secret)

    def identify(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> CallerIdentity:
        """Validate whatever credentials the metadata carries; invalid ones are refused."""
        values = {k.lower(): v for k, v in (metadata or ()) if isinstance(v, str)}
        user_token = bearer(values.get(USER_METADATA_KEY))
        service_token = bearer(values.get(SERVICE_METADATA_KEY))
        principal = None
        service = None
        if values.get(USER_METADATA_KEY) is not None and user_token is None:
            raise Unauthenticated(INVALID_TOKEN)
        if user_token:
            principal = self._users.verify(user_token)
        if service_token:
            service = self._services.verify(service_token)
        return CallerIdentity(principal=principal, service=service, user_token=user_token)
