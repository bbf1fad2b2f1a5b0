"""Errors raised by the DoltHub client.

Every message is built by the client from the request path and the server's answer with
the caller's token masked out, so ``str(exc)`` is safe to log or return to a user.
"""

from __future__ import annotations


class DoltHubError(Exception):
    """Base class of every DoltHub client failure.

    ``status`` is the HTTP status of the answer that caused it, when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


class NotFound(DoltHubError):
    """The database, branch, pull request or operation does not exist (or is hidden)."""


class Unauthorized(DoltHubError):
    """DoltHub rejected the token (HTTP 401, or 400 "invalid authorization")."""


class Forbidden(DoltHubError):
    """The token is valid but may not do this (HTTP 403, "not allowed to operate")."""


class RateLimited(DoltHubError):
    """DoltHub kept answering 429; ``retry_after`` is its last ``Retry-After`` in seconds."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = 429
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class Unavailable(DoltHubError):
    """DoltHub could not be reached or kept failing (5xx, transport errors, an outage,
    or an asynchronous operation that did not finish in time)."""


class QueryError(DoltHubError):
    """DoltHub ran the SQL and reported an error (HTTP 400, or 200 with status Error)."""


class AlreadyExists(DoltHubError):
    """The database, branch or pull request being created already exists."""
