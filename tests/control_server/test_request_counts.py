"""The DoltHub requests the control server adds to a warm claim and unclaim (issue 10):
the checks issue 6 requires, and no listing, clean-up or second look that what it already
knows makes needless.

Counted at the HTTP client the operations use, so `wl`'s own requests (a subprocess) are
not in the counts. The sandbox is this module's own: no other rig's pull request is open,
so the counts are deterministic.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from wasteland.v1 import common_pb2, control_pb2
from wasteland_common.dolthub import DoltHubClient, PollPolicy, bind
from wl_control_server import operations
from wl_control_server.wl import WlRunner

from tests.support.http import RecordingTransport
from tests.support.sandbox import api_url, start_sandbox
from tests.support.wl import best_wl

pytestmark = [pytest.mark.integration]

K = common_pb2
ALICE = "sandbox-token-alice"
BOB = "sandbox-token-bob"
HOP = "sandbox-token-hop"
UPSTREAM = "hop/wl-commons"
FAST_POLL = PollPolicy(initial=0.02, maximum=0.2, timeout=30.0)


@dataclass(frozen=True)
class World:
    api: str
    wl: Path
    item: str
    contested: str


async def _seed(api: str) -> tuple[str, str]:
    run = uuid.uuid4().hex[:6]
    ids = (f"w-count-{run}", f"w-count-contested-{run}")
    async with DoltHubClient(api, token=HOP, poll=FAST_POLL) as hop:
        for wanted_id in ids:
            sql = bind(
                "INSERT INTO wanted (id, title, description, type, priority, posted_by,"
                " status, effort_level, created_at, updated_at)"
                " VALUES (?, 'Counted', 'seeded by tests', 'feature', 2, 'hop', 'open',"
                " 'small', NOW(), NOW())",
                wanted_id,
            )
            await hop.write("hop", "wl-commons", "main", "main", sql)
    return ids


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as proc:
        item, contested = asyncio.run(_seed(api_url(proc)))
        yield World(api_url(proc), best_wl(api_url(proc)), item, contested)


class Counting:
    """Operations whose DoltHub requests are counted by ``"METHOD kind"``."""

    def __init__(self, world: World, work_dir: Path) -> None:
        self.counts: Counter[str] = Counter()
        self.pool = RecordingTransport(self._count)
        self.ops = operations.Operations(
            operations.Deps(
                runner=WlRunner(str(world.wl), dolthub_api_url=world.api),
                dolthub=DoltHubClient(world.api, transport=self.pool, poll=FAST_POLL),
                work_dir=work_dir,
                wl_timeout=120,
                join_timeout=120,
            )
        )

    def _count(self, request: httpx.Request) -> None:
        rest = request.url.path.split("/api/v1alpha1/", 1)[1].split("/")
        # owner/db[/ref] is a read; owner/db/pulls[/id] and owner/db/branches name a route.
        if len(rest) >= 3 and rest[2] == "pulls":
            kind = "pulls_get" if len(rest) == 4 else "pulls_list"
        elif len(rest) >= 3 and rest[2] in ("branches", "write"):
            kind = rest[2]
        else:
            kind = "read"
        self.counts[f"{request.method} {kind}"] += 1

    async def run(
        self, kind: common_pb2.OperationKind, wanted_id: str = "", token: str = ALICE
    ) -> common_pb2.OperationResult:
        org = "alice" if token == ALICE else "bob"
        request = control_pb2.RunOperationRequest(
            upstream=UPSTREAM,
            kind=kind,
            wanted_id=wanted_id,
            credential=control_pb2.RigCredential(dolthub_token=token, dolthub_org=org),
            operation_id=uuid.uuid4().hex,
            role=K.MEMBER_ROLE_CONTRIBUTOR,
        )
        op = operations.parse_request(request, served_upstream=UPSTREAM)
        self.counts.clear()
        return await self.ops.run(op)


@pytest.fixture
async def counting(world: World, tmp_path: Path) -> AsyncIterator[Counting]:
    running = Counting(world, tmp_path / "work")
    try:
        yield running
    finally:
        await running.pool.aclose()


async def test_a_warm_claim_and_unclaim_add_only_the_checks_they_need(
    counting: Counting, world: World
) -> None:
    # Warm: the rig joined (its registration pull request open, its detail read by the
    # first claim), its fork seen current, one claim landed and withdrawn.
    joined = await counting.run(K.OPERATION_KIND_JOIN)
    assert joined.status == K.OPERATION_STATUS_SUCCEEDED, joined.error
    for kind in (K.OPERATION_KIND_CLAIM, K.OPERATION_KIND_UNCLAIM):
        warm = await counting.run(kind, world.item)
        assert warm.status == K.OPERATION_STATUS_SUCCEEDED, warm.error

    claimed = await counting.run(K.OPERATION_KIND_CLAIM, world.item)

    assert claimed.status == K.OPERATION_STATUS_SUCCEEDED, claimed.error
    assert claimed.pull_request_url
    assert dict(counting.counts) == {
        # the item and the upstream head in one read (pre-check and fork currency), then
        # the verification: upstream still open, the claim on the rig's branch
        "GET read": 3,
        "GET pulls_list": 1,  # other rigs' pending claims (one page here)
        "GET pulls_get": 1,  # the pull request `wl` printed carries the branch
    }

    unclaimed = await counting.run(K.OPERATION_KIND_UNCLAIM, world.item)

    assert unclaimed.status == K.OPERATION_STATUS_SUCCEEDED, unclaimed.error
    assert unclaimed.item.status == "open"
    assert dict(counting.counts) == {
        # pre-check on the rig's branch, the upstream head (fork currency), then the
        # verification: the branch gone (`wl` reverted it), the item open upstream
        "GET read": 4,
        # the claim's pull request: still open before `wl` (so its branch is not
        # finished), closed after it
        "GET pulls_get": 2,
    }


async def test_another_rigs_pending_claim_is_still_refused(
    counting: Counting, world: World
) -> None:
    by_bob = await counting.run(K.OPERATION_KIND_CLAIM, world.contested, token=BOB)
    assert by_bob.status == K.OPERATION_STATUS_SUCCEEDED, by_bob.error

    by_alice = await counting.run(K.OPERATION_KIND_CLAIM, world.contested)

    assert by_alice.status == K.OPERATION_STATUS_FAILED
    assert by_alice.error_code == "ABORTED"
    assert "already claimed (pending claim by bob)" in by_alice.error
