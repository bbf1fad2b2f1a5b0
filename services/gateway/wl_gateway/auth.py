"""Who is calling: the Kilo JWT of the ``Authorization`` header, checked at the edge.

The raw token is kept so backends can re-validate it (no service trusts a principal it
cannot verify); it never reaches a log line or a response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.security import HTTPBearer
from wasteland_common import auth
from wasteland_common.errors import Unauthenticated

from .errors import unauthenticated

AUTH_REQUIRED = "Authentication required"

# Declares the scheme in the OpenAPI document; the check itself is ours (see caller()).
bearer_scheme = HTTPBearer(auto_error=False, description="Kilo JWT (HS256)")


@dataclass(frozen=True)
class Caller:
    """An authenticated user and the token they proved it with."""

    principal: auth.Principal
    token: str

    @property
    def user_id(self) -> str:
        """The Kilo user id."""
        return self.principal.user_id


@dataclass(frozen=True)
class TokenVerifier:
    """Checks Kilo JWTs with the configured secret and audience.

    Accepted tokens are remembered until their ``exp`` (``auth.VerifiedUserTokens``): a
    client sends the same token with every request, and the signature check and claim
    parsing are a large part of a board read's cost.
    """

    secret: str
    audience: str
    now: Callable[[], float]
    max_remembered: int = 10_000
    _tokens: auth.VerifiedUserTokens = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tokens = auth.VerifiedUserTokens(
            secret=self.secret,
            audience=self.audience,
            now=self.now,
            max_entries=self.max_remembered,
        )
        object.__setattr__(self, "_tokens", tokens)

    def verify(self, authorization: str | None) -> Caller:
        """The caller named by an ``Authorization`` header value, or a 401 ApiError.

        Missing → "Authentication required"; anything else wrong (scheme, signature,
        algorithm, expiry, audience, claims) → "Invalid token", never saying why.
        """
        if authorization is None or not authorization.strip():
            raise unauthenticated(AUTH_REQUIRED)
        token = auth.bearer(authorization)
        if token is None:
            raise unauthenticated(auth.INVALID_TOKEN)
        try:
            principal = self._tokens.verify(token)
        except Unauthenticated as exc:
            raise unauthenticated(auth.INVALID_TOKEN) from exc
        return Caller(principal=principal, token=token)


def verifier_of(request: Request) -> TokenVerifier:
    """The verifier the app was built with."""
    verifier = getattr(request.app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):  # pragma: no cover - wiring error
        raise RuntimeError("the app has no token verifier")
    return verifier


async def caller(request: Request) -> Caller:
    """FastAPI dependency: the authenticated caller of a ``/v1`` route."""
    return verifier_of(request).verify(request.headers.get("authorization"))


async def precheck(request: Request) -> None:
    """Raise the 401 a ``/v1`` request would get, if it would get one."""
    if request.url.path.startswith("/v1/"):
        await caller(request)
