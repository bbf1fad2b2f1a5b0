"""Fault injection and request statistics."""

from __future__ import annotations

from typing import Any

from tests.sandbox.helpers import ALICE, BOB, HOP, Api


def set_faults(api: Api, **settings: Any) -> None:
    with api.admin() as admin:
        resp = admin.post("/_sandbox/faults", json={"owner": "hop", "db": "wl-commons", **settings})
        assert resp.status_code == 200, resp.text


def test_outage_answers_503_everywhere_including_polls(api: Api) -> None:
    operation = api.write(
        "hop", "wl-commons", "main", "main", "DELETE FROM wanted WHERE id='w-demo-003'", HOP
    ).json()["operation_name"]
    set_faults(api, outage=True)
    assert api.poll("hop", "wl-commons", operation, HOP).status_code == 503
    assert api.read("hop", "wl-commons", "main", "SELECT 1").status_code == 503
    assert api.http.get("/hop/wl-commons/pulls").status_code == 503
    assert api.fork("alice", "hop", "wl-commons", ALICE).status_code == 503
    # Other databases are unaffected.
    assert (
        api.http.post(
            "/database",
            headers=BOB,
            json={"ownerName": "bob", "repoName": "ok", "visibility": "public"},
        ).status_code
        == 200
    )
    assert api.read("bob", "ok", "main", None).status_code == 200
    set_faults(api)  # all defaults: faults cleared
    assert api.poll("hop", "wl-commons", operation, HOP).json()["done"] is True


def test_error_rates_are_reproducible_with_a_seed(api: Api) -> None:
    def statuses() -> list[int]:
        return [api.read("hop", "wl-commons", "main", "SELECT 1").status_code for _ in range(30)]

    set_faults(api, error_rate_429=0.3, error_rate_503=0.3, seed=7)
    first = statuses()
    set_faults(api, error_rate_429=0.3, error_rate_503=0.3, seed=7)
    assert statuses() == first
    assert set(first) == {200, 429, 503}
    set_faults(api, error_rate_429=1.0)
    limited = api.read("hop", "wl-commons", "main", "SELECT 1")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"


def test_latency_still_serves(api: Api) -> None:
    set_faults(api, latency_ms=20)
    assert api.rows("hop", "wl-commons", "main", "SELECT 1 AS one") == [{"one": "1"}]


def test_sql_error_as_http_200_quirk(api: Api) -> None:
    assert api.read("hop", "wl-commons", "main", "SELECT nope").status_code == 400
    set_faults(api, sql_errors_as_200=True)
    resp = api.read("hop", "wl-commons", "main", "SELECT nope")
    assert resp.status_code == 200
    assert resp.json()["query_execution_status"] == "Error"


def test_token_reads_not_found_quirk_needs_anonymous_retry(api: Api) -> None:
    set_faults(api, token_reads_not_found=True)
    with_token = api.read("hop", "wl-commons", "main", "SELECT 1 AS one", ALICE)
    assert with_token.status_code == 404
    assert "no such repository" in with_token.text
    assert api.read("hop", "wl-commons", "main", "SELECT 1 AS one").status_code == 200
    assert api.read("hop", "wl-commons", "main", "SELECT 1 AS one", HOP).status_code == 200


def test_fault_settings_are_validated_and_readable(api: Api) -> None:
    with api.admin() as admin:
        bad = admin.post(
            "/_sandbox/faults", json={"owner": "hop", "db": "wl-commons", "error_rate_503": 2}
        )
        assert bad.status_code == 400
        assert admin.post("/_sandbox/faults", json={"db": "x"}).status_code == 400
        set_faults(api, latency_ms=5)
        current = admin.get("/_sandbox/faults", params={"owner": "hop", "db": "wl-commons"})
        assert current.json()["settings"]["latency_ms"] == 5


def test_stats_count_requests_per_route(api: Api) -> None:
    with api.admin() as admin:
        admin.post("/_sandbox/stats/reset")
        api.read("hop", "wl-commons", "main", "SELECT 1")
        api.read("hop", "wl-commons", "main", "SELECT 2")
        api.read("hop", "wl-commons", "main", None)
        api.write_done("hop", "wl-commons", "main", "main", "DELETE FROM badges", HOP)
        api.http.get("/hop/wl-commons/pulls")
        api.fork_done("bob", "hop", "wl-commons", BOB)
        stats = admin.get("/_sandbox/stats", params={"owner": "hop", "db": "wl-commons"}).json()
        assert stats["counts"] == {
            "GET exists": 1,
            "GET fork_poll": 1,
            "GET pulls_list": 1,
            "GET read": 2,
            "GET write_poll": 1,
            "POST fork": 1,
            "POST write": 1,
        }
        assert stats["total"] == 8
        bob = admin.get("/_sandbox/stats", params={"owner": "bob", "db": "wl-commons"}).json()
        assert bob["counts"] == {"GET fork_poll": 1, "POST fork": 1}
        admin.post("/_sandbox/stats/reset")
        assert admin.get("/_sandbox/stats").json()["total"] == 0
