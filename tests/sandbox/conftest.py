"""Fixtures: the DoltHub sandbox served in-process by uvicorn on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.helpers import Api, seed_template, serving


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo-seeded data directory, copied by each test that needs one."""
    return seed_template(tmp_path_factory.mktemp("seeded") / "data")


@pytest.fixture
def api(tmp_path: Path, seeded: Path) -> Iterator[Api]:
    """A freshly seeded sandbox for one test."""
    with serving(tmp_path / "data", template=seeded) as served:
        yield served


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory, seeded: Path) -> Iterator[Api]:
    """A seeded sandbox shared by a module's read-only tests (row limit 5)."""
    data = tmp_path_factory.mktemp("shared") / "data"
    with serving(data, template=seeded, row_limit=5) as served:
        yield served
