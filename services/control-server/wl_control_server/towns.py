"""Registering a Gastown town as an agent rig of the commons.

`wl` never writes ``rig_type``, ``parent_rig`` or ``rig_links`` (protocol spec §1), so
this is done through the DoltHub write API directly, by the same protocol `wl` uses for a
rig registration: two statements on the branch ``wl/register/<town rig>`` of the caller's
fork, then a pull request against the upstream, verified like every other write.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from wasteland_common import dolthub
from wasteland_common.dolthub import DoltHubClient, bind

from .lifecycle import Refusal
from .rigs import Commons, Rig

log = logging.getLogger(__name__)

AGENT = "agent"
TRUST_LEVEL = 1
GT_VERSION = "hosted"
LINK_TYPE = "same_owner"  # the commons' default; a town is run by its parent rig's owner
LINK_STATUS = "pending"  # the commons' default until both sides confirm


@dataclass(frozen=True)
class TownRig:
    """The agent rig a town registers as."""

    town_id: str
    handle: str
    owner_email: str

    @property
    def branch(self) -> str:
        """The caller's fork branch the registration is written to."""
        return f"wl/register/{self.handle}"

    @property
    def hop_uri(self) -> str:
        """``hop://<owner_email>/<handle>/``, as the commons writes it for every rig."""
        return f"hop://{self.owner_email}/{self.handle}/"

    def link_id(self, parent: str) -> str:
        """The ``rig_links`` id of (parent, town): stable, so a retry writes the same row."""
        digest = hashlib.sha256(f"{parent}\n{self.handle}".encode()).hexdigest()
        return f"rl-{digest[:16]}"


def statements(town: TownRig, parent: Rig) -> list[str]:
    """The two writes: the agent rig (re-registering updates it) and its link to the parent."""
    display = f"town {town.town_id}"
    # Literal values on both sides, as `wl`'s own registration statement writes them.
    rig_row = bind(
        "INSERT INTO rigs (handle, display_name, dolthub_org, hop_uri, owner_email, gt_version,"
        " trust_level, registered_at, last_seen, rig_type, parent_rig)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, NOW(), NOW(), ?, ?)"
        " ON DUPLICATE KEY UPDATE display_name = ?, dolthub_org = ?, hop_uri = ?,"
        " owner_email = ?, gt_version = ?, rig_type = ?, parent_rig = ?, last_seen = NOW()",
        town.handle,
        display,
        parent.org,
        town.hop_uri,
        town.owner_email,
        GT_VERSION,
        TRUST_LEVEL,
        AGENT,
        parent.handle,
        display,
        parent.org,
        town.hop_uri,
        town.owner_email,
        GT_VERSION,
        AGENT,
        parent.handle,
    )
    link_row = bind(
        "INSERT IGNORE INTO rig_links (id, rig_a, rig_b, link_type, assertion_a, status,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, NOW())",
        town.link_id(parent.handle),
        parent.handle,
        town.handle,
        LINK_TYPE,
        f"{parent.handle} runs Gastown town {town.town_id} as agent rig {town.handle}",
        LINK_STATUS,
    )
    return [rig_row, link_row]


async def precheck(
    client: DoltHubClient, commons: Commons, parent: Rig, town: TownRig
) -> Refusal | None:
    """The town's handle must be free on the upstream, or already this parent's agent."""
    result = await client.read(
        commons.owner,
        commons.db,
        bind("SELECT handle, rig_type, parent_rig FROM rigs WHERE handle = ?", town.handle),
    )
    for row in result.rows:
        if row.get("rig_type") != AGENT or row.get("parent_rig") != parent.handle:
            return Refusal(
                "ALREADY_EXISTS", f"the rig handle {town.handle} is taken on the commons"
            )
    return None


async def write(client: DoltHubClient, commons: Commons, parent: Rig, town: TownRig) -> None:
    """Write both rows to the registration branch of the caller's fork (created from the
    fork's main when missing)."""
    branches = await client.list_branches(parent.org, commons.db)
    source = town.branch if town.branch in branches else "main"
    for sql in statements(town, parent):
        await client.write(parent.org, commons.db, source, town.branch, sql)
        source = town.branch


async def verify(
    client: DoltHubClient, commons: Commons, parent: Rig, town: TownRig
) -> Refusal | None:
    """Both rows are on the registration branch as the commons defines them."""
    try:
        rigs = await client.read(
            parent.org,
            commons.db,
            bind(
                "SELECT handle, rig_type, parent_rig, trust_level, owner_email, hop_uri"
                " FROM rigs WHERE handle = ?",
                town.handle,
            ),
            ref=town.branch,
        )
        links = await client.read(
            parent.org,
            commons.db,
            bind(
                "SELECT id FROM rig_links WHERE rig_a = ? AND rig_b = ?", parent.handle, town.handle
            ),
            ref=town.branch,
        )
    except (dolthub.NotFound, dolthub.QueryError):
        return Refusal("INTERNAL", "the town's registration is not on your fork")
    expected = {
        "handle": town.handle,
        "rig_type": AGENT,
        "parent_rig": parent.handle,
        "trust_level": str(TRUST_LEVEL),
        "owner_email": town.owner_email,
        "hop_uri": town.hop_uri,
    }
    rig_ok = any(all(row.get(k) == v for k, v in expected.items()) for row in rigs.rows)
    if not rig_ok or not links.rows:
        return Refusal("INTERNAL", "the town's registration did not land on your fork")
    return None
