"""Fork currency: whether a rig's fork ``main`` lacks commits of the upstream ``main``.

`wl` v0.4.0 never brings a fork up to date (protocol spec §5.4): every branch it writes is
cut from the fork's ``main``, so a fork that lags the upstream silently fails to act on
newer items. The registry reports currency on a member's credential status; the control
server checks it before an action.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import dolthub


@dataclass(frozen=True)
class ForkCurrency:
    """``behind`` is None when the fork does not exist."""

    behind: bool | None
    upstream_head: str
    fork_head: str


async def fork_currency(
    client: dolthub.DoltHubClient,
    upstream_owner: str,
    db: str,
    fork_owner: str,
    *,
    upstream_head: str = "",
) -> ForkCurrency:
    """Compare ``fork_owner/db@main`` with ``upstream_owner/db@main`` (whose head the
    caller may have just read: ``upstream_head``).

    The fork is current when its head is the upstream head or has it in its history (a
    fork may be ahead with its own commits). Raises the client's error when DoltHub fails.
    """
    upstream_head = upstream_head or await client.head_commit(upstream_owner, db)
    try:
        fork_head = await client.head_commit(fork_owner, db)
    except dolthub.NotFound:
        return ForkCurrency(behind=None, upstream_head=upstream_head, fork_head="")
    if fork_head == upstream_head:
        return ForkCurrency(behind=False, upstream_head=upstream_head, fork_head=fork_head)
    current = await client.contains_commit(fork_owner, db, upstream_head)
    return ForkCurrency(behind=not current, upstream_head=upstream_head, fork_head=fork_head)
