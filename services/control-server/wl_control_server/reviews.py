"""Deciding upstream pull requests from the review inbox: merge or close one on DoltHub,
with the maintainer's own token when it can write the upstream, else with the wasteland's
upstream credential.

`wl` never merges (protocol spec §4.6), so this uses the DoltHub REST API directly. What
the pull request does is read again here, right before deciding (its branch may have moved
since the inbox was listed), with the same rules the inbox shows
(``wasteland_common.review``):

* nobody merges a pull request that stamps their own work (the commons' ``author <>
  subject`` rule): a stamp whose subject is the maintainer's rig, one of their towns, or
  any rig registered with their DoltHub org is PERMISSION_DENIED, decided before any
  precondition;
* a pull request whose changes cannot be read is not merged blind (FAILED_PRECONDITION);
* one that carries warnings (a ``done`` that is not the claimer's) is merged only when the
  maintainer confirms (``confirm``), else FAILED_PRECONDITION naming them;
* one that conflicts with the upstream as it is now is ABORTED, naming the rows.

A merge is verified on DoltHub before it is reported: the pull request reads ``merged``
and its branch head is in the history of the upstream's ``main``. A close: it reads
``closed``. Merging or closing what is already so succeeds (a retry is safe).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from wasteland.v1 import common_pb2
from wasteland_common import dolthub, review
from wasteland_common.dolthub import DoltHubClient, PullRequest
from wasteland_common.dolthub.diffs import RowChange, range_changes
from wasteland_common.dolthub.pulls import pull_ranges, pull_url, source_of

from .lifecycle import Refusal
from .rigs import Commons

log = logging.getLogger(__name__)

K = common_pb2
# What makes one identity unable to do it, so the next one may try.
_NOT_ALLOWED = (dolthub.Forbidden, dolthub.Unauthorized, dolthub.NotFound)
_UNREADABLE = (dolthub.NotFound, dolthub.QueryError, dolthub.Forbidden, dolthub.Unauthorized)
OWN_WORK = (
    "you may not merge a pull request that stamps your own work (the commons' rule: a"
    " stamp's author is never its subject); another maintainer must merge it"
)


def deciders(own: DoltHubClient | None, upstream: DoltHubClient | None) -> list[DoltHubClient]:
    """Who tries, in order: the maintainer's own token, then the upstream credential."""
    return [c for c in (own, upstream) if c is not None]


def _no_writer(commons: Commons, upstream: DoltHubClient | None) -> Refusal:
    if upstream is None:
        return Refusal(
            "FAILED_PRECONDITION",
            f"your DoltHub token cannot write the upstream {commons.path}: an owner or"
            " maintainer must connect the wasteland's upstream credential"
            " (PUT /v1/wastelands/{id}/upstream-credential)",
        )
    return Refusal(
        "FAILED_PRECONDITION",
        f"neither your DoltHub token nor the wasteland's upstream credential may write"
        f" {commons.path}; connect an upstream credential that can",
    )


async def _read_pull(reader: DoltHubClient, commons: Commons, pull_id: str) -> PullRequest | None:
    try:
        return await reader.get_pull(commons.owner, commons.db, pull_id)
    except dolthub.NotFound:
        return None


async def read_changes(
    reader: DoltHubClient, commons: Commons, pull: PullRequest
) -> tuple[str | None, list[RowChange] | None]:
    """The pull request's branch head and row changes as they are now (None, None when
    its branch or changes cannot be read)."""
    ranges = await pull_ranges(reader, commons.owner, commons.db, [pull])
    found = ranges.get(pull.pull_id)
    if found is None:
        return None, None
    owner, db = source_of(pull, commons.owner, commons.db)
    try:
        return found.head, await range_changes(reader, owner, db, found)
    except _UNREADABLE as exc:
        log.info("the diff of pull %s is unreadable: %s", pull.pull_id, exc)
        return found.head, None


def classify(
    commons: Commons, pull: PullRequest, changes: Sequence[RowChange] | None
) -> review.Classification:
    """The pull request's kind, item and author rig."""
    owner, db = source_of(pull, commons.owner, commons.db)
    source = review.PullSource(
        owner, db, pull.from_branch, commons.owner, commons.db, pull.to_branch or "main"
    )
    return review.classify(source, changes, upstream_owner=commons.owner, upstream_db=commons.db)


async def stamps_own_work(
    reader: DoltHubClient,
    commons: Commons,
    changes: Sequence[RowChange],
    *,
    rig: str,
    org: str,
) -> bool:
    """Whether ``changes`` stamp the work of the maintainer with this rig and DoltHub org
    (their rig, their towns, any rig of their org)."""
    subjects = review.stamp_subjects(changes)
    if not subjects or not (rig or org):
        return False
    known = await review.read_subjects(reader, commons.owner, commons.db, subjects)
    return review.stamps_own_work(subjects, rig or None, known, org=org or None)


async def merge(
    commons: Commons,
    pull_id: str,
    *,
    rig: str,
    org: str,
    own: DoltHubClient | None,
    upstream: DoltHubClient | None,
    confirm: bool,
) -> review.Classification | Refusal:
    """Merge ``pull_id`` into the upstream's ``main`` for the maintainer whose rig is
    ``rig`` and whose DoltHub org is ``org`` (empty when unknown); returns what it was, or
    why not."""
    tries = deciders(own, upstream)
    if not tries:
        return _no_writer(commons, upstream)
    reader = tries[0]
    pull = await _read_pull(reader, commons, pull_id)
    if pull is None:
        return Refusal("NOT_FOUND", f"pull request {pull_id} not found")
    branch_head, changes = await read_changes(reader, commons, pull)
    found = classify(commons, pull, changes)
    if changes is not None and await stamps_own_work(reader, commons, changes, rig=rig, org=org):
        return Refusal("PERMISSION_DENIED", OWN_WORK)
    if pull.state == "merged":
        return found
    if pull.state not in ("open", "merging", ""):
        return Refusal("FAILED_PRECONDITION", f"pull request {pull_id} is {pull.state}")
    if changes is None or branch_head is None:
        return Refusal(
            "FAILED_PRECONDITION",
            f"what pull request {pull_id} changes cannot be read (its branch is gone, or its"
            " source is a whole database's main), so it is not merged from here",
        )
    head = await reader.head_commit(commons.owner, commons.db)
    rows = await review.read_upstream(reader, commons.owner, commons.db, changes, ref=head)
    if not confirm and (warnings := review.warnings(found, changes, rows)):
        said = "; ".join(w.message for w in warnings)
        return Refusal(
            "FAILED_PRECONDITION",
            f"pull request {pull_id} needs a second look: {said}. Merge it with"
            ' {"confirm": true} to go ahead',
        )
    if clashes := review.conflicts(changes, rows):
        named = ", ".join(f"{table} {key}" for table, key in clashes[:5])
        return Refusal(
            "ABORTED",
            f"pull request {pull_id} conflicts with the upstream: {named} changed there"
            " since its branch was cut",
        )
    merged_by: DoltHubClient | None = None
    for client in tries:
        try:
            await client.merge_pull(commons.owner, commons.db, pull_id)
        except _NOT_ALLOWED as exc:
            log.info("merging pull %s with one identity was refused: %s", pull_id, exc)
            continue
        except (dolthub.QueryError, dolthub.AlreadyExists) as exc:
            return Refusal("ABORTED", f"DoltHub could not merge pull request {pull_id}: {exc}")
        merged_by = client
        break
    if merged_by is None:
        return _no_writer(commons, upstream)
    after = await _read_pull(merged_by, commons, pull_id)
    landed = await merged_by.contains_commit(commons.owner, commons.db, branch_head)
    if after is None or after.state != "merged" or not landed:
        return Refusal(
            "UNAVAILABLE",
            f"DoltHub reports pull request {pull_id} merged, but its change is not on the"
            " upstream's main yet; check it before trying again",
        )
    log.info(
        "pull %s (%s) merged into %s", pull_id, found.kind, commons.path,
        extra={"event": "pull_merged"},
    )  # fmt: skip
    return found


async def close(
    commons: Commons,
    pull_id: str,
    *,
    own: DoltHubClient | None,
    upstream: DoltHubClient | None,
) -> review.Classification | Refusal:
    """Close ``pull_id`` without merging it; returns what it was (from its branch name),
    or why not."""
    tries = deciders(own, upstream)
    if not tries:
        return _no_writer(commons, upstream)
    pull = await _read_pull(tries[0], commons, pull_id)
    if pull is None:
        return Refusal("NOT_FOUND", f"pull request {pull_id} not found")
    found = classify(commons, pull, None)
    if pull.state == "closed":
        return found
    if pull.state == "merged":
        return Refusal("FAILED_PRECONDITION", f"pull request {pull_id} is already merged")
    closed_by: DoltHubClient | None = None
    for client in tries:
        try:
            await client.close_pull(commons.owner, commons.db, pull_id)
        except _NOT_ALLOWED as exc:
            log.info("closing pull %s with one identity was refused: %s", pull_id, exc)
            continue
        except dolthub.QueryError as exc:
            return Refusal("FAILED_PRECONDITION", f"DoltHub could not close it: {exc}")
        closed_by = client
        break
    if closed_by is None:
        return _no_writer(commons, upstream)
    after = await _read_pull(closed_by, commons, pull_id)
    if after is None or after.state != "closed":
        return Refusal("UNAVAILABLE", f"pull request {pull_id} does not read closed yet")
    log.info("pull %s closed on %s", pull_id, commons.path, extra={"event": "pull_closed"})
    return found


def url(commons: Commons, pull_id: str) -> str:
    """The pull request's web address."""
    return pull_url(commons.owner, commons.db, pull_id)
