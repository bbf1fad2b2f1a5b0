"""Who is calling, and what they may read or write.

A database is readable by anyone when public, else only by members of its owner; it is
writable only by members of its owner (a user is a member of its own namespace). Like
DoltHub, a database the caller cannot see answers "no such repository", exactly as if it
did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import (
    INVALID_AUTHORIZATION,
    NO_SUCH_REPOSITORY,
    NOT_ALLOWED,
    BadRequest,
    Forbidden,
    NotFound,
    Unauthorized,
)
from .storage import DatabaseRecord, Store


@dataclass(frozen=True)
class Caller:
    """The authenticated user, or None for an anonymous request."""

    user: str | None


def token_from_header(header: str | None) -> str | None:
    """The API token in an ``authorization`` header (``token <t>`` or a bare token).

    None when the header is absent or carries an empty token (``wl`` sends ``token `` with
    an empty value when it has no token); a malformed header raises "invalid authorization".
    """
    if header is None:
        return None
    value = header.strip()
    if not value:
        return None
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "token":
        return rest.strip() or None
    if rest:
        raise BadRequest(INVALID_AUTHORIZATION)
    return value


def authenticate(store: Store, header: str | None) -> Caller:
    """The caller a request's ``authorization`` header names; unknown tokens are refused."""
    token = token_from_header(header)
    if token is None:
        return Caller(None)
    user = store.user_for_token(token)
    if user is None:
        raise BadRequest(INVALID_AUTHORIZATION)
    return Caller(user)


def require_user(caller: Caller) -> str:
    if caller.user is None:
        raise Unauthorized("authorization required: send 'authorization: token <API token>'")
    return caller.user


def can_read(store: Store, caller: Caller, database: DatabaseRecord) -> bool:
    if database.visibility == "public":
        return True
    return caller.user is not None and store.is_member(database.owner, caller.user)


def can_write(store: Store, caller: Caller, owner: str) -> bool:
    return caller.user is not None and store.is_member(owner, caller.user)


def readable(store: Store, caller: Caller, owner: str, name: str) -> DatabaseRecord:
    """The database if the caller may read it; otherwise "no such repository" (404)."""
    database = store.get_database(owner, name)
    if database is None or not can_read(store, caller, database):
        raise NotFound(f"{NO_SUCH_REPOSITORY}: {owner}/{name}")
    return database


def writable(store: Store, caller: Caller, owner: str, name: str) -> DatabaseRecord:
    """The database if the caller may write it (401 anonymous, 404 unseen, 403 read-only)."""
    require_user(caller)
    database = readable(store, caller, owner, name)
    if not can_write(store, caller, owner):
        raise Forbidden(NOT_ALLOWED)
    return database
