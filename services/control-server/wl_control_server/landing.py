"""Landing a change: the open upstream pull request that carries a rig's branch.

`wl` opens the pull request itself, but only on a best-effort basis: when DoltHub fails
at that step it prints a warning and still exits 0 (protocol spec §5.3 step 8), leaving
a branch nobody will ever merge. An action is a success only when its change is in an
open pull request against the upstream whose branch holds it, so the control server
finds that pull request (or opens it, with the same title and body `wl` would have used)
and re-reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from wasteland_common import dolthub
from wasteland_common.dolthub import DoltHubClient, bind, diffs
from wasteland_common.dolthub.pulls import PullDetails, pull_id_in, pull_url, pulls_from

from .lifecycle import Refusal
from .rigs import Commons, Rig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Landed:
    """The open pull request that carries the change."""

    pull_id: str
    url: str
    opened_here: bool = False


@dataclass(frozen=True)
class PullText:
    """Title and description of a pull request."""

    title: str
    body: str


async def item_text(client: DoltHubClient, commons: Commons, rig: Rig, wanted_id: str) -> PullText:
    """What `wl` titles an item branch's pull request (``[wl] <title>``) and its body
    (the branch's diff against the fork's main)."""
    branch = rig.branch(wanted_id)
    title = f"[wl] {wanted_id}"
    try:
        result = await client.read(
            rig.org,
            commons.db,
            bind("SELECT title FROM wanted WHERE id = ?", wanted_id),
            ref=branch,
        )
        if result.rows and (found := result.rows[0].get("title")):
            title = f"[wl] {found}"
    except (dolthub.NotFound, dolthub.QueryError):
        pass
    try:
        body = diffs.render(
            await diffs.read_diff(
                client, rig.org, commons.db, from_ref="main", to_ref=branch, at_ref=branch
            )
        )
    except (dolthub.NotFound, dolthub.QueryError):
        body = ""
    return PullText(title=title, body=body)


# A pull request's text, or how to read it: only needed when `wl` left the branch without
# a pull request, so an action that landed normally never pays its reads.
TextSource = PullText | Callable[[], Awaitable[PullText]] | None


def registration_text(handle: str, display_name: str) -> PullText:
    """`wl join`'s registration pull request."""
    return PullText(
        title=f"Register rig: {handle}",
        body=f"Register rig **{handle}** ({display_name or handle}) in the commons.",
    )


async def land(
    client: DoltHubClient,
    commons: Commons,
    rig: Rig,
    branch: str,
    *,
    text: TextSource,
    printed_url: str | None,
    details: PullDetails,
) -> Landed | Refusal:
    """The open pull request from the rig's ``branch`` into the upstream ``main``.

    Uses the one `wl` printed when there is one, else finds an open one, else opens it
    with ``text`` (read only then when it is a callable; None: do not open one, report
    the missing pull request). The pull request is re-read before it is reported.
    """
    pull_id = pull_id_in(printed_url) if printed_url else None
    if pull_id is not None and await _carries(client, commons, rig, branch, pull_id, details):
        return Landed(pull_id, pull_url(commons.owner, commons.db, pull_id))
    found = await pulls_from(
        client, commons.owner, commons.db, from_owner=rig.org, from_branch=branch,
        states=("open",), details=details,
    )  # fmt: skip
    opened = False
    if found:
        pull_id = found[0].pull_id
    elif text is None:
        return Refusal("INTERNAL", "the change has no pull request against the upstream")
    else:
        if not isinstance(text, PullText):
            text = await text()
        try:
            pull_id = await client.create_pull(
                commons.owner,
                commons.db,
                title=text.title,
                description=text.body,
                from_owner=rig.org,
                from_db=commons.db,
                from_branch=branch,
            )
        except dolthub.AlreadyExists:
            found = await pulls_from(
                client, commons.owner, commons.db, from_owner=rig.org, from_branch=branch,
                states=("open",), details=details,
            )  # fmt: skip
            if not found:
                raise
            pull_id = found[0].pull_id
        else:
            opened = True
            log.warning(
                "wl left %s of %s without a pull request; opened #%s",
                branch, rig.org, pull_id, extra={"event": "pull_opened"},
            )  # fmt: skip
    if not await _carries(client, commons, rig, branch, pull_id, details):
        return Refusal("UNAVAILABLE", "the pull request for the change is not open; try again")
    return Landed(pull_id, pull_url(commons.owner, commons.db, pull_id), opened_here=opened)


async def _carries(
    client: DoltHubClient,
    commons: Commons,
    rig: Rig,
    branch: str,
    pull_id: str,
    details: PullDetails,
) -> bool:
    """Whether ``pull_id`` (read fresh) is open and comes from the rig's ``branch``; its
    detail is kept in ``details`` (where a pull request comes from never changes)."""
    try:
        pull = await client.get_pull(commons.owner, commons.db, pull_id)
    except dolthub.NotFound:
        return False
    details.put((commons.owner, commons.db, pull_id), pull)
    source = (pull.from_owner or commons.owner, pull.from_branch)
    return pull.state in ("open", "") and source == (rig.org, branch)


async def no_open_pull(
    client: DoltHubClient,
    commons: Commons,
    rig: Rig,
    branch: str,
    *,
    details: PullDetails,
    last_open: str | None = None,
) -> bool:
    """Whether no open pull request comes from the rig's ``branch`` any more.

    ``last_open`` names the pull request last seen open from it: DoltHub keeps at most
    one open pull request per source branch and target, so that one read decides."""
    if last_open is not None:
        try:
            pull = await client.get_pull(commons.owner, commons.db, last_open)
        except dolthub.NotFound:
            pull = None
        if pull is not None and (pull.from_owner or commons.owner, pull.from_branch) == (
            rig.org,
            branch,
        ):
            return pull.state != "open"
    found = await pulls_from(
        client, commons.owner, commons.db, from_owner=rig.org, from_branch=branch,
        states=("open",), details=details,
    )  # fmt: skip
    return not found
