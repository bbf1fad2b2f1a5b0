"""Waiting for the cluster to reach a state: poll a probe until it holds, with a deadline
that only bounds a broken run (never a measured duration)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

POLL_SECONDS = 0.1


async def eventually(
    what: str, probe: Callable[[], Any | Awaitable[Any]], timeout: float = 60.0
) -> Any:
    """Return the first truthy value of ``probe`` (sync or async); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(POLL_SECONDS)
    pytest.fail(f"timed out waiting for {what}; last value: {last!r}")
