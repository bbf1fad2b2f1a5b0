"""How a DoltHub failure reaches a caller: one mapping to domain errors for all services."""

from __future__ import annotations

from . import dolthub
from .errors import (
    DomainError,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unavailable,
)


def to_domain(exc: BaseException) -> DomainError | None:
    """The domain error for a DoltHub client error, or None if ``exc`` is not one."""
    if not isinstance(exc, dolthub.DoltHubError):
        return None
    if isinstance(exc, dolthub.RateLimited):
        return Unavailable(
            "DoltHub is rate limiting; try again later", retry_after=exc.retry_after or 30
        )
    if isinstance(exc, dolthub.Unavailable):
        return Unavailable("DoltHub is unreachable; try again later", retry_after=30)
    if isinstance(exc, dolthub.Unauthorized):
        return FailedPrecondition("DoltHub rejected the stored token; connect DoltHub again")
    if isinstance(exc, dolthub.Forbidden):
        return PermissionDenied("the DoltHub token may not do this")
    if isinstance(exc, dolthub.NotFound):
        return NotFound("DoltHub database or branch not found")
    return Unavailable(f"DoltHub request failed: {exc}", retry_after=30)
