"""Pull requests: opened on the destination database, from a branch of it or of a fork."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from . import access
from .access import Caller
from .errors import NOT_ALLOWED, BadRequest, Forbidden, NotFound
from .storage import DatabaseRecord, PullRecord, PullState, Store


@dataclass(frozen=True)
class NewPull:
    title: str
    description: str
    from_owner: str
    from_database: str
    from_branch: str
    to_owner: str
    to_database: str
    to_branch: str


def create(
    store: Store, caller: Caller, dest: DatabaseRecord, new: NewPull, now: datetime
) -> PullRecord:
    """Open a pull request. The caller needs read access to the destination and write
    access to the source; both must belong to the same fork network."""
    user = access.require_user(caller)
    if (new.to_owner, new.to_database) != (dest.owner, dest.name):
        raise BadRequest(
            "Error creating a pull request: toBranchOwnerName/toBranchRepoName must name "
            f"{dest.owner}/{dest.name}"
        )
    source = access.readable(store, caller, new.from_owner, new.from_database)
    if not access.can_write(store, caller, source.owner):
        raise Forbidden(f"{NOT_ALLOWED}: must have write permissions on from repository")
    if store.root_of(source.owner, source.name) != store.root_of(dest.owner, dest.name):
        raise BadRequest(
            f"Error creating a pull request: {source.owner}/{source.name} is not a fork of "
            f"{dest.owner}/{dest.name}"
        )
    if store.branch_head(source.owner, source.name, new.from_branch) is None:
        raise BadRequest(f"Error creating a pull request: branch not found: {new.from_branch}")
    if store.branch_head(dest.owner, dest.name, new.to_branch) is None:
        raise BadRequest(f"Error creating a pull request: branch not found: {new.to_branch}")
    from_ref = (source.owner, source.name, new.from_branch)
    existing = store.open_pull_from(dest.owner, dest.name, from_ref, new.to_branch)
    if existing is not None:
        raise BadRequest(
            f"Error creating a pull request: an open pull request already exists for "
            f"{source.owner}/{source.name}:{new.from_branch} (#{existing.pull_id})"
        )
    return store.add_pull(
        dest.owner,
        dest.name,
        title=new.title,
        description=new.description,
        from_ref=from_ref,
        to_branch=new.to_branch,
        author=user,
        now=now,
    )


def encode_page_token(before_id: int) -> str:
    return base64.urlsafe_b64encode(f"before:{before_id}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "before":
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as err:
        raise BadRequest("invalid pageToken") from err


def page(
    store: Store, dest: DatabaseRecord, token: str | None, size: int
) -> tuple[list[PullRecord], str]:
    """One page of pulls, newest first, and the token of the next page ("" when last)."""
    before = decode_page_token(token) if token else None
    pulls = store.list_pulls(dest.owner, dest.name, before_id=before, limit=size + 1)
    next_token = encode_page_token(pulls[size - 1].pull_id) if len(pulls) > size else ""
    return pulls[:size], next_token


def get(store: Store, dest: DatabaseRecord, pull_id: str) -> PullRecord:
    """The pull request with this id (a decimal string) or NotFound."""
    if not pull_id.isdigit():
        raise NotFound(f"pull request {pull_id} not found")
    pull = store.get_pull(dest.owner, dest.name, int(pull_id))
    if pull is None:
        raise NotFound(f"pull request {pull_id} not found")
    return pull


def update(
    store: Store,
    caller: Caller,
    dest: DatabaseRecord,
    pull: PullRecord,
    *,
    title: str | None,
    description: str | None,
    state: str | None,
    now: datetime,
) -> PullRecord:
    """Change title/description or close the pull (its author or a destination writer)."""
    user = access.require_user(caller)
    if user != pull.author and not access.can_write(store, caller, dest.owner):
        raise Forbidden(NOT_ALLOWED)
    new_state: PullState | None = None
    if state is not None:
        if state.lower() != "closed":
            raise BadRequest("Error updating a pull request: state can only be set to closed")
        if pull.state == "Merged":
            raise BadRequest("Error updating a pull request: a merged pull cannot be closed")
        new_state = "Closed"
    store.update_pull(
        dest.owner,
        dest.name,
        pull.pull_id,
        now=now,
        title=title,
        description=description,
        state=new_state,
    )
    updated = store.get_pull(dest.owner, dest.name, pull.pull_id)
    assert updated is not None
    return updated
