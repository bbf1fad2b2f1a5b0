"""The activity log and the event stream through the whole system, with two board-sync
replicas and two gateways sharing one PostgreSQL database, all real processes:

    gateway 1 ──▶ board-sync A ◀── executor   (action outcomes, board refreshes)
    gateway 2 ──▶ board-sync B ◀── registry   (created, member and credential records)

A journey (create, connect, claim, done, a merge upstream, accept) is recorded with the
actor and the X-Request-Id of each step; an /events subscriber on either gateway sees
every board change and every activity, whichever replica wrote it, and a stream that
reconnects with Last-Event-ID gets everything it missed.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from devstack.procs import Proc
from devstack.stack import Stack, board_replica, gateway_replica, running_stack

from tests.support.ports import free_port
from tests.support.postgres import Cluster
from tests.support.sandbox import ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN

from .conftest import auth, stack_config, wait_for
from .test_writes_land import merge_upstream

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@dataclass
class Replicated:
    stack: Stack
    board_b: Proc
    gateway_b: Proc

    @property
    def procs(self) -> list[Proc]:
        return [*self.stack.procs, self.board_b, self.gateway_b]


@pytest.fixture(scope="module")
def replicated(
    postgres_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicated]:
    board_b_port, gateway_b_port = free_port(), free_port()
    cfg = replace(
        stack_config(tmp_path_factory.mktemp("replicas")),
        board_database_url=postgres_cluster.create_database(),
        # The registry records through (and tracks with) the second board-sync.
        registry_env={"BOARD_ADDR": f"127.0.0.1:{board_b_port}"},
    )
    with running_stack(cfg) as stack, contextlib.ExitStack() as more:
        board_b = more.enter_context(board_replica(cfg, "board-sync-b", board_b_port))
        gateway_b = more.enter_context(
            gateway_replica(cfg, "gateway-b", gateway_b_port, board_b_port)
        )
        yield Replicated(stack, board_b, gateway_b)


class Subscriber:
    """Reads one /events stream in a thread; ``events`` grows as they arrive."""

    def __init__(self, base_url: str, path: str, headers: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.status = 0
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(30, read=None))
        self._thread = threading.Thread(target=self._read, args=(path, headers), daemon=True)
        self._thread.start()
        # The gateway answers once board-sync has subscribed: from here on nothing is missed.
        assert self.subscribed.wait(30), "the stream did not start"
        assert self.status == 200

    def _read(self, path: str, headers: dict[str, str]) -> None:
        with (
            contextlib.suppress(httpx.HTTPError, RuntimeError),
            self._client.stream("GET", path, headers=headers) as resp,
        ):
            self.status = resp.status_code
            self.subscribed.set()
            fields: dict[str, str] = {}
            for line in resp.iter_lines():
                if line:
                    if not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        fields[name] = value
                    continue
                if fields:
                    event = {**fields, "data": json.loads(fields["data"])}
                    with self._lock:
                        self.events.append(event)
                    fields = {}
        self.subscribed.set()

    def seen(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def activities(self) -> list[tuple[str, str]]:
        seen = self.seen()
        return [(e["data"]["kind"], e["data"]["actor"]) for e in seen if e["event"] == "activity"]

    def close(self) -> None:
        self._client.close()
        self._thread.join(10)


def activity_log(api: httpx.Client, wid: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The whole activity log, oldest first, read in small pages."""
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        page = api.get(
            f"/v1/wastelands/{wid}/activity",
            headers=headers,
            params={"page_size": 4, "page_token": token},
        )
        assert page.status_code == 200, page.text
        found.extend(page.json()["events"])
        token = page.json()["next_page_token"]
        if not token:
            return found[::-1]


def test_a_journey_in_the_log_and_on_every_replicas_stream(replicated: Replicated) -> None:
    g1 = httpx.Client(base_url=replicated.stack.gateway.url, timeout=120)
    g2 = httpx.Client(base_url=replicated.gateway_b.url, timeout=120)
    alice, bob = auth("alice"), auth("bob")

    def as_(who: dict[str, str], request_id: str) -> dict[str, str]:
        return {**who, "X-Request-Id": request_id}

    created = g2.post(
        "/v1/wastelands",
        headers=as_(alice, "j-create"),
        json={"name": "Activity", "owner": {"type": "user"}, "visibility": "public",
              "upstream": "hop/wl-commons"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    wid = created.json()["wasteland_id"]
    base = f"/v1/wastelands/{wid}"

    def open_items() -> list[dict[str, Any]]:
        body = g1.get(f"{base}/wanted", headers=alice, params={"status": "open"}).json()
        return body["items"] if body["synced_at"] else []

    target = wait_for("the first board sync", open_items)[0]["wanted_id"]
    # alice watches through gateway 1 (board-sync A), bob through gateway 2 (B).
    on_a = Subscriber(g1.base_url.__str__(), f"{base}/events", alice)
    on_b = Subscriber(g2.base_url.__str__(), f"{base}/events", bob)
    try:
        for who, token, org, rid in (
            (alice, ALICE_TOKEN, "alice", "j-connect-alice"),
            (bob, BOB_TOKEN, "bob", "j-connect-bob"),
        ):
            connected = g2.put(
                f"{base}/credential",
                headers=as_(who, rid),
                json={"dolthub_token": token, "dolthub_org": org},
            )
            assert connected.status_code == 200, connected.text
        upstream = g1.put(
            f"{base}/upstream-credential",
            headers=as_(alice, "j-upstream"),
            json={"dolthub_token": HOP_TOKEN},
        )
        assert upstream.status_code == 200, upstream.text
        claimed = g1.post(f"{base}/wanted/{target}/claim", headers=as_(bob, "j-claim"))
        assert claimed.status_code == 200, claimed.text
        done = g2.post(
            f"{base}/wanted/{target}/done",
            headers=as_(bob, "j-done"),
            json={"evidence": "https://example.com/pull/9"},
        )
        assert done.status_code == 200, done.text
        # The upstream's maintainer merges bob's claim and completion on DoltHub.
        merge_upstream(replicated.stack, done.json()["pull_request_url"])
        accepted = g1.post(
            f"{base}/wanted/{target}/accept",
            headers=as_(alice, "j-accept"),
            json={"quality": 5, "reliability": 4},
        )
        assert accepted.status_code == 200, accepted.text

        expected = [
            ("created", "alice", "j-create"),
            ("credential_connected", "alice", "j-connect-alice"),
            ("member_added", "bob", "j-connect-bob"),
            ("credential_connected", "bob", "j-connect-bob"),
            ("credential_connected", "alice", "j-upstream"),
            ("woke", "bob", "j-claim"),
            ("rig_registered", "bob", "j-claim"),
            ("claimed", "bob", "j-claim"),
            ("done", "bob", "j-done"),
            ("rig_registered", "alice", "j-accept"),
            ("fork_synced", "alice", "j-accept"),
            ("accepted", "alice", "j-accept"),
        ]
        # Every step is in the log with its actor and request id, read through either
        # gateway (bob reads alice's public wasteland).
        log = activity_log(g1, wid, alice)
        assert [(e["kind"], e["actor"], e["request_id"]) for e in log] == expected
        assert activity_log(g2, wid, bob) == log
        by_kind = {e["kind"]: e for e in log}
        assert by_kind["claimed"]["wanted_id"] == target
        assert by_kind["claimed"]["pull_id"] == claimed.json()["pull_request_url"].rsplit("/")[-1]
        assert by_kind["accepted"]["wanted_id"] == target
        assert "https://example.com/pull/9" in by_kind["done"]["detail"]
        text = json.dumps(log)
        assert not any(t in text for t in (ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN))

        # Both streams saw every activity since they subscribed and the item's board
        # changes, in the same order, with the same ids, whichever replica wrote them.
        after_subscribing = [(k, a) for k, a, _ in expected[1:]]
        wait_for("both streams to see the accept", lambda: all(
            s.activities() == after_subscribing for s in (on_a, on_b)
        ), timeout=60)  # fmt: skip

        def board_of_target() -> list[str]:
            return [
                e["data"]["status"]
                for e in on_a.seen()
                if e["event"] == "board" and e["data"]["wanted_id"] == target
            ]

        wait_for(
            "the board changes of the item",
            lambda: board_of_target() == ["claimed", "in_review", "completed"],
        )
        wait_for("both streams to agree", lambda: on_a.seen() == on_b.seen())
        ids = [int(e["id"]) for e in on_a.seen()]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
        activity_events = [e["data"] for e in on_a.seen() if e["event"] == "activity"]
        assert activity_events == log[1:]
    finally:
        on_a.close()
        on_b.close()

    # A stream that reconnects after bob's done gets everything after it, at once.
    seen = on_a.seen()
    done_at = next(
        i for i, e in enumerate(seen) if e["event"] == "activity" and e["data"]["kind"] == "done"
    )
    resumed = Subscriber(
        g2.base_url.__str__(), f"{base}/events", {**bob, "Last-Event-ID": seen[done_at]["id"]}
    )
    try:
        wait_for("the resumed stream to catch up", lambda: resumed.seen() == seen[done_at + 1 :])
    finally:
        resumed.close()

    # Someone who may not see a private wasteland sees neither its log nor its stream.
    private = g1.post(
        "/v1/wastelands",
        headers=alice,
        json={"name": "Hidden", "owner": {"type": "user"}, "visibility": "private",
              "upstream": "hop/wl-commons"},
    )  # fmt: skip
    hidden = f"/v1/wastelands/{private.json()['wasteland_id']}"
    assert g2.get(f"{hidden}/activity", headers=bob).status_code == 404
    assert g2.get(f"{hidden}/events", headers=bob).status_code == 404

    for proc in replicated.procs:
        for token in (ALICE_TOKEN, BOB_TOKEN, HOP_TOKEN):
            assert token not in proc.text(), proc.name
