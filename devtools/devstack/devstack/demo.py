"""Demo data for ``make run``: alice's wasteland on the sandbox's demo commons.

Created through the public API, exactly as the web app would, so a fresh ``make run``
has a board to look at: ``curl …/v1/wastelands/<id>/wanted``.
"""

from __future__ import annotations

import time

import httpx
from wasteland_common.auth import mint_user_token

DEMO_NAME = "Demo"
DEMO_UPSTREAM = "hop/wl-commons"
DEMO_USER = "alice"
DEMO_DOLTHUB_TOKEN = "sandbox-token-alice"  # noqa: S105 - the sandbox's seeded token


def ensure_demo_wasteland(gateway_url: str, jwt_secret: str, timeout: float = 60.0) -> str:
    """Return the id of alice's demo wasteland, creating and connecting it if missing,
    once its board has been synced."""
    token = mint_user_token(DEMO_USER, secret=jwt_secret)
    with httpx.Client(
        base_url=gateway_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        listed = api.get("/v1/wastelands")
        listed.raise_for_status()
        existing = [w for w in listed.json()["wastelands"] if w["name"] == DEMO_NAME]
        if existing:
            wasteland_id = str(existing[0]["wasteland_id"])
        else:
            created = api.post(
                "/v1/wastelands",
                json={
                    "name": DEMO_NAME,
                    "owner": {"type": "user"},
                    "visibility": "public",
                    "upstream": DEMO_UPSTREAM,
                },
            )
            created.raise_for_status()
            wasteland_id = str(created.json()["wasteland_id"])
            api.put(
                f"/v1/wastelands/{wasteland_id}/credential",
                json={"dolthub_token": DEMO_DOLTHUB_TOKEN, "dolthub_org": DEMO_USER},
            ).raise_for_status()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            board = api.get(f"/v1/wastelands/{wasteland_id}/wanted", params={"page_size": 1})
            if board.status_code == 200 and board.json().get("synced_at"):
                return wasteland_id
            time.sleep(0.2)
    raise RuntimeError("the demo board was not synced in time")
