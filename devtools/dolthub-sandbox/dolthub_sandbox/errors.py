"""Domain errors of the sandbox; the HTTP layer maps each to a status code and envelope."""

from __future__ import annotations


class ApiError(Exception):
    """A request that cannot be served; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class SqlError(Exception):
    """A SQL statement failed; ``message`` is worded like Dolt's error text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MergeConflict(SqlError):
    """A three-way merge found changes that cannot be combined."""


NO_SUCH_REPOSITORY = "no such repository"
NOT_ALLOWED = "API token is not allowed to operate on this resource"
INVALID_AUTHORIZATION = "invalid authorization"
