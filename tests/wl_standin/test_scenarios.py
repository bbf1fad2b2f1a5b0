"""``wl`` scenarios as real subprocesses against a real DoltHub sandbox on loopback.

Parametrised over the binaries found: the stand-in (``.venv/bin/wl``) always, and the real
Go binary when ``WL_REAL_BINARY`` names one built against the sandbox's API URL. Each
scenario gets a fresh sandbox so scenarios and binaries never share state.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import VENV_BIN
from tests.support.sandbox import ALICE_TOKEN, HOP_TOKEN, api_url, start_sandbox

from . import scenarios as sc

pytestmark = pytest.mark.integration

STANDIN = str(VENV_BIN / "wl")


def _binaries() -> list[object]:
    found: list[object] = [pytest.param(STANDIN, id="standin")]
    real = os.environ.get("WL_REAL_BINARY", "")
    if real:
        found.append(pytest.param(real, id="real", marks=pytest.mark.realwl))
    return found


def _sandbox_available() -> bool:
    try:
        return importlib.util.find_spec("dolthub_sandbox.__main__") is not None
    except ImportError:
        return False


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[sc.Hub]:
    """A fresh seeded sandbox for one scenario."""
    if not _sandbox_available():
        pytest.skip("the dolthub-sandbox package has no entry point yet")
    with start_sandbox(tmp_path / "sandbox") as proc:
        yield sc.Hub(api_url(proc))


@pytest.fixture(params=_binaries())
def alice(request: pytest.FixtureRequest, hub: sc.Hub, tmp_path: Path) -> sc.Rig:
    home = tmp_path / "alice"
    home.mkdir()
    return sc.Rig(
        binary=str(request.param), api=hub.api, home=home, handle="alice", token=ALICE_TOKEN
    )


def test_join(alice: sc.Rig, hub: sc.Hub) -> None:
    sc.scenario_join(alice, hub)


def test_browse_json(alice: sc.Rig, hub: sc.Hub) -> None:
    sc.scenario_browse_json(alice, hub)


def test_claim(alice: sc.Rig, hub: sc.Hub) -> None:
    sc.scenario_claim(alice, hub)


def test_claim_not_open_is_silent(alice: sc.Rig, hub: sc.Hub) -> None:
    sc.scenario_claim_not_open_is_silent(alice, hub, HOP_TOKEN)


def test_status(alice: sc.Rig, hub: sc.Hub) -> None:
    sc.scenario_status(alice, hub)


def test_unclaim(alice: sc.Rig, hub: sc.Hub) -> None:
    sc.scenario_unclaim(alice, hub)


def test_done(alice: sc.Rig, hub: sc.Hub) -> None:
    sc.scenario_done(alice, hub)


def test_post(alice: sc.Rig, hub: sc.Hub) -> None:
    sc.scenario_post(alice, hub)


def test_sync(alice: sc.Rig, hub: sc.Hub) -> None:
    sc.scenario_sync(alice, hub)
