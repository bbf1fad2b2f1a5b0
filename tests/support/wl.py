"""Which `wl` the tests run: the real v0.4.0 binary wherever Go can build it, the
stand-in otherwise.

The real binary has the DoltHub URL compiled in, so it is built (or relinked, under a
second with a warm Go cache) for each sandbox URL. In CI (``CI=true`` or
``WASTELAND_REQUIRE_REAL_WL=1``) a missing Go or a failed build fails the test instead
of falling back.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from devstack import wlbuild

from .procs import VENV_BIN

STANDIN = VENV_BIN / "wl"


def real_wl_required() -> bool:
    """Whether the environment demands the real binary (CI)."""
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("WASTELAND_REQUIRE_REAL_WL") == "1"
    )


def real_wl(api_url: str) -> Path:
    """The real `wl` built for ``api_url``; skips (locally) or fails (CI) without Go."""
    try:
        return wlbuild.build(api_url)
    except wlbuild.BuildError as exc:
        if real_wl_required():
            pytest.fail(f"the real wl is required here but cannot be built: {exc}")
        pytest.skip(f"real wl unavailable: {exc}")


def best_wl(api_url: str) -> Path:
    """The real `wl` for ``api_url`` when it can be built, else the stand-in (never in
    CI, where the real one is required)."""
    try:
        return wlbuild.build(api_url)
    except wlbuild.BuildError as exc:
        if real_wl_required():
            pytest.fail(f"the real wl is required here but cannot be built: {exc}")
        return STANDIN


def flavours() -> list[object]:
    """Parameters for suites that run against both binaries: ids ``standin`` and
    ``real`` (the latter resolved per sandbox URL by :func:`binary_for`)."""
    return [
        pytest.param("standin", id="standin"),
        pytest.param("real", id="real", marks=pytest.mark.realwl),
    ]


def binary_for(flavour: str, api_url: str) -> Path:
    """The binary of ``flavour`` ("standin" or "real") for a sandbox at ``api_url``."""
    if flavour == "standin":
        return STANDIN
    if flavour == "real":
        return real_wl(api_url)
    raise ValueError(f"unknown wl flavour {flavour!r}")
