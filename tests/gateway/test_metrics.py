"""The gateway's /metrics: HTTP requests by route template and status, and the switch."""

from __future__ import annotations

import httpx

from tests.support.scrape import Scrape, parse

from .conftest import AppFactory

WASTELAND_ROUTE = "/v1/wastelands/{wasteland_id}"


async def metrics_of(http: httpx.AsyncClient) -> Scrape:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_requests_are_counted_by_route_template_and_status(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    before = await metrics_of(api)

    assert (await api.get("/healthz")).status_code == 200
    assert (await api.get("/v1/wastelands/w-404", headers=alice)).status_code == 404
    assert (await api.get("/v1/wastelands/w-404")).status_code == 401
    assert (await api.get("/no/such/route")).status_code == 404

    after = await metrics_of(api)
    name = "wasteland_http_requests_total"

    def moved(**labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved(method="GET", route="/healthz", status="200") == 1
    # Ids never become label values: the template is the label.
    assert moved(method="GET", route=WASTELAND_ROUTE, status="404") == 1
    assert moved(method="GET", route=WASTELAND_ROUTE, status="401") == 1
    assert moved(method="GET", route="unmatched", status="404") == 1
    assert not any("w-404" in str(labels) for _, labels, _ in after.samples)
    count = "wasteland_http_request_duration_seconds_count"
    assert (
        after.value(count, route=WASTELAND_ROUTE) - before.value(count, route=WASTELAND_ROUTE) == 2
    )
    # The shared series of every service are there too.
    assert after.has("process_cpu_seconds_total")


async def test_metrics_can_be_switched_off(make_app: AppFactory) -> None:
    _, http = await make_app(METRICS_ENABLED=False)
    assert (await http.get("/metrics")).status_code == 404


async def test_metrics_are_not_in_the_public_api_document(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    assert "/metrics" not in document["paths"]
