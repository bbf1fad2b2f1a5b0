"""The kubelet stand-in stops cleanly: stopping a pod's process never swallows the
cancellation of whoever asked for it (the pod watch, when the stand-in itself stops)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest
from devstack.kubelet import KubeletStandIn, _Running
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod


async def test_a_watch_cancelled_while_it_stops_a_pod_is_cancelled(tmp_path: Path) -> None:
    standin = KubeletStandIn(
        cast(AsyncClient, None),
        ["ns"],
        path="/usr/bin",
        state_dir=tmp_path,
        routes_file=tmp_path / "routes.json",
    )
    saw_cancel, release = asyncio.Event(), asyncio.Event()

    async def keep_running() -> None:  # a pod's supervisor that takes a moment to wind down
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            saw_cancel.set()
            await release.wait()
            raise

    entry = _Running(
        pod=Pod(metadata=ObjectMeta(name="p", namespace="ns", uid="u")),
        ip="127.77.0.1",
        dir=tmp_path / "p",
    )
    entry.task = asyncio.create_task(keep_running())
    standin._running["u"] = entry
    watch = asyncio.create_task(standin._stop("u"))  # what _sync does for a pod gone away
    await saw_cancel.wait()
    watch.cancel()  # the stand-in stops while that pod is still being stopped
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await watch
    assert watch.cancelled()
