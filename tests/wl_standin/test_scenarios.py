"""``wl`` scenarios as real subprocesses against a real DoltHub sandbox on loopback.

Parametrised over both binaries: the stand-in (``.venv/bin/wl``) and the real Go binary
v0.4.0, built for each sandbox's API URL (``tests/support/wl.py``; required in CI).

``test_join`` needs a pristine sandbox of its own. Every other scenario runs in one shared
:class:`scenarios.World` per binary (one sandbox, rigs joined once, distinct items per
scenario), so binaries never share state and the module stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sandbox import ALICE_TOKEN, HOP_TOKEN, api_url, start_sandbox
from tests.support.wl import binary_for, flavours

from . import scenarios as sc

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[sc.Hub]:
    """A fresh seeded sandbox for one scenario."""
    with start_sandbox(tmp_path / "sandbox") as proc:
        yield sc.Hub(api_url(proc))


@pytest.fixture(params=flavours())
def alice(request: pytest.FixtureRequest, hub: sc.Hub, tmp_path: Path) -> sc.Rig:
    """alice, not joined yet, on a fresh sandbox."""
    home = tmp_path / "alice"
    home.mkdir()
    binary = binary_for(request.param, hub.api)
    return sc.Rig(binary=str(binary), api=hub.api, home=home, handle="alice", token=ALICE_TOKEN)


@pytest.fixture(scope="module", params=flavours())
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sc.World]:
    """One seeded sandbox per binary, shared by the scenarios of this module."""
    root = tmp_path_factory.mktemp("world")
    with start_sandbox(root / "sandbox") as proc:
        binary = binary_for(request.param, api_url(proc))
        yield sc.build_world(
            sc.Hub(api_url(proc)),
            str(binary),
            root,
            alice_token=ALICE_TOKEN,
            maintainer_token=HOP_TOKEN,
        )


def test_join(alice: sc.Rig, hub: sc.Hub) -> None:
    sc.scenario_join(alice, hub)


def test_browse_json(world: sc.World) -> None:
    sc.scenario_browse_json(world)


def test_browse_filters(world: sc.World) -> None:
    sc.scenario_browse_filters(world)


def test_browse_overlay(world: sc.World) -> None:
    sc.scenario_browse_overlay(world)


def test_claim(world: sc.World) -> None:
    item = world.items["claim"]
    sc.scenario_claim(world.alice, world.hub, item.id, item.title)


def test_claim_not_open_is_silent(world: sc.World) -> None:
    sc.scenario_claim_not_open_is_silent(world)


def test_claim_stale_fork_is_silent(world: sc.World) -> None:
    sc.scenario_claim_stale_fork_is_silent(world)


def test_status(world: sc.World) -> None:
    sc.scenario_status(world)


def test_unclaim(world: sc.World) -> None:
    sc.scenario_unclaim(world)


def test_done(world: sc.World) -> None:
    sc.scenario_done(world)


def test_post(world: sc.World) -> None:
    sc.scenario_post(world)


def test_post_all_flags(world: sc.World) -> None:
    sc.scenario_post_all_flags(world)


def test_sync(world: sc.World) -> None:
    sc.scenario_sync(world)


def test_accept(world: sc.World) -> None:
    sc.scenario_accept(world)


def test_accept_defaults(world: sc.World) -> None:
    sc.scenario_accept_defaults(world)


def test_accept_refusals(world: sc.World) -> None:
    sc.scenario_accept_refusals(world)


def test_reject(world: sc.World) -> None:
    sc.scenario_reject(world)


def test_close(world: sc.World) -> None:
    sc.scenario_close(world)
