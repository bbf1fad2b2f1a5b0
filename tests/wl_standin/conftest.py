"""Fixtures for in-process tests of the ``wl`` stand-in (virtual time, in-memory DoltHub)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from wl_standin.cli import run
from wl_standin.env import Clock
from wl_standin.wire import Transport

from .fakehub import BASE, FakeHub

FIXED_NS = 1_772_971_200_123_456_789  # 2026-03-08T12:00:00.123456789Z


@dataclass
class VirtualTime:
    """Monotonic time that only advances when the code under test sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now

    def clock(self, random_byte: int = 7) -> Clock:
        return Clock(
            time_ns=lambda: FIXED_NS,
            monotonic=self.monotonic,
            sleep=self.sleep,
            random_bytes=lambda n: bytes([random_byte]) * n,
            utc_offset_seconds=lambda: 0,
        )


@dataclass
class Result:
    code: int
    out: str
    err: str


WlRunner = Callable[..., Result]


@pytest.fixture
def hub() -> FakeHub:
    """Upstream hop/wl-commons with an open, a claimed and an in-review item."""
    fake = FakeHub()
    fake.add_db("hop", "wl-commons")
    fake.add_item(
        "hop",
        "wl-commons",
        "w-open000001",
        "Fix the flux capacitor",
        project="gt",
        type="bug",
        priority="1",
    )
    fake.add_item(
        "hop", "wl-commons", "w-taken00001", "Already taken", status="claimed", claimed_by="bob"
    )
    fake.add_item(
        "hop",
        "wl-commons",
        "w-review0001",
        "Waiting for review",
        status="in_review",
        claimed_by="bob",
    )
    return fake


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def wl_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private config home and DoltHub credentials for alice; returns XDG_CONFIG_HOME."""
    config_home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DOLTHUB_TOKEN", "test-token-alice")
    monkeypatch.setenv("DOLTHUB_ORG", "alice")
    monkeypatch.setenv("DOLTHUB_API_URL", BASE)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("DOLTHUB_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("CLICOLOR_FORCE", raising=False)
    return config_home


@pytest.fixture
def wl(hub: FakeHub, vtime: VirtualTime, wl_env: Path) -> Iterator[WlRunner]:
    """Run the stand-in in-process against ``hub``: ``wl("claim", "w-1") -> Result``."""
    transport = Transport(httpx.Client(transport=httpx.MockTransport(hub.handler)))

    def invoke(*argv: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        code = run(list(argv), out, err, clock=vtime.clock(), transport=transport)
        return Result(code, out.getvalue(), err.getvalue())

    yield invoke
    transport.close()


def write_config(
    config_home: Path, upstream: str = "hop/wl-commons", handle: str = "alice", **extra: str
) -> Path:
    """A joined-wasteland config file, as ``wl join`` (remote) writes it."""
    org, db = upstream.split("/", 1)
    path = config_home / "wasteland" / "wastelands" / org / f"{db}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = {
        "upstream": upstream,
        "provider_type": "dolthub",
        "upstream_url": f"https://doltremoteapi.dolthub.com/{upstream}",
        "fork_org": extra.pop("fork_org", handle),
        "fork_db": db,
        "local_dir": "",
        "rig_handle": handle,
        "hop_uri": f"hop://{handle}@example.com/{handle}/",
        "joined_at": "2026-03-08T12:00:00Z",
        "mode": "pr",
        "backend": "remote",
        **extra,
    }
    import json

    path.write_text(json.dumps(fields, indent=2) + "\n")
    return path


@pytest.fixture
def joined(hub: FakeHub, wl_env: Path) -> Path:
    """alice has joined hop/wl-commons: config written and her fork exists in the hub."""
    fork = hub.dbs[("hop", "wl-commons")]["main"]
    import copy

    hub.dbs[("alice", "wl-commons")] = {"main": copy.deepcopy(fork)}
    return write_config(wl_env)
