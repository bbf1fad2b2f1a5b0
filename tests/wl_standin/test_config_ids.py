"""Config files (location, key order, format, atomic write) and ID generation."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from wl_standin.config import Config, ConfigStore, resolve_config
from wl_standin.dml import generate_prefixed_id, generate_wanted_id
from wl_standin.env import Clock, load_env
from wl_standin.errors import Sentinel, WlError

from .conftest import FIXED_NS


def _clock(ns: int = FIXED_NS, rnd: bytes = b"\x01" * 8) -> Clock:
    return Clock(time_ns=lambda: ns, random_bytes=lambda n: rnd[:n], utc_offset_seconds=lambda: 0)


def test_saved_config_matches_go_marshal_indent(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "wasteland")
    cfg = Config(
        upstream="hop/wl-commons",
        provider_type="dolthub",
        upstream_url="https://doltremoteapi.dolthub.com/hop/wl-commons",
        fork_org="alice",
        fork_db="wl-commons",
        rig_handle="alice",
        hop_uri="hop://a@example.com/alice/",
        joined_at="2026-03-08T12:00:00.123456789Z",
        mode="pr",
        backend="remote",
    )
    store.save(cfg)
    path = tmp_path / "wasteland" / "wastelands" / "hop" / "wl-commons.json"
    assert path.read_text() == (
        "{\n"
        '  "upstream": "hop/wl-commons",\n'
        '  "provider_type": "dolthub",\n'
        '  "upstream_url": "https://doltremoteapi.dolthub.com/hop/wl-commons",\n'
        '  "fork_org": "alice",\n'
        '  "fork_db": "wl-commons",\n'
        '  "local_dir": "",\n'
        '  "rig_handle": "alice",\n'
        '  "hop_uri": "hop://a@example.com/alice/",\n'
        '  "joined_at": "2026-03-08T12:00:00.123456789Z",\n'
        '  "mode": "pr",\n'
        '  "backend": "remote"\n'
        "}\n"
    )
    # Atomic write leaves no temporary files behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["wl-commons.json"]
    assert store.load("hop/wl-commons") == cfg


def test_minimal_config_omits_empty_optional_keys(tmp_path: Path) -> None:
    text = Config(upstream="a/b", fork_org="o", fork_db="b", rig_handle="h").to_json()
    keys = re.findall(r'^  "([a-z_]+)":', text, flags=re.M)
    assert keys == ["upstream", "fork_org", "fork_db", "local_dir", "rig_handle", "joined_at"]


def test_load_accepts_go_style_case_insensitive_keys(tmp_path: Path) -> None:
    path = tmp_path / "wasteland" / "wastelands" / "hop" / "wl-commons.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"Upstream": "hop/wl-commons", "RIG_HANDLE": "zed", "extra": 1}')
    cfg = ConfigStore(tmp_path / "wasteland").load("hop/wl-commons")
    assert (cfg.upstream, cfg.rig_handle) == ("hop/wl-commons", "zed")
    assert cfg.resolve_mode() == "pr"
    assert cfg.resolve_backend() == "remote"


def test_load_reports_type_errors(tmp_path: Path) -> None:
    path = tmp_path / "wasteland" / "wastelands" / "hop" / "wl-commons.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"upstream": "hop/wl-commons", "signing": "yes"}')
    with pytest.raises(
        WlError, match=r"cannot unmarshal string into Go struct field Config\.signing of type bool"
    ):
        ConfigStore(tmp_path / "wasteland").load("hop/wl-commons")


def test_resolve_config_selection(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "wasteland")
    with pytest.raises(WlError) as none:
        resolve_config(store, "")
    assert none.value.kind is Sentinel.NOT_JOINED
    store.save(Config(upstream="hop/wl-commons", rig_handle="a"))
    assert resolve_config(store, "").rig_handle == "a"
    store.save(Config(upstream="acme/x", rig_handle="b"))
    with pytest.raises(WlError) as many:
        resolve_config(store, "")
    assert many.value.kind is Sentinel.AMBIGUOUS
    assert resolve_config(store, "acme/x").rig_handle == "b"
    assert store.list() == ["acme/x", "hop/wl-commons"]
    store.delete("acme/x")
    assert not (tmp_path / "wasteland" / "wastelands" / "acme").exists()


def test_env_paths_and_api_url(tmp_path: Path) -> None:
    env = load_env({"XDG_CONFIG_HOME": str(tmp_path / "c"), "HOME": str(tmp_path)})
    assert env.config_dir == tmp_path / "c" / "wasteland"
    assert env.data_home == tmp_path / ".local" / "share"
    assert env.api_url == "https://www.dolthub.com/api/v1alpha1"
    assert env.graphql_url == "https://www.dolthub.com/graphql"
    local = load_env({"HOME": str(tmp_path), "DOLTHUB_API_URL": "http://127.0.0.1:9/api/v1alpha1/"})
    assert local.api_url == "http://127.0.0.1:9/api/v1alpha1"
    assert local.graphql_url == "http://127.0.0.1:9/graphql"
    assert local.config_dir == tmp_path / ".config" / "wasteland"
    with pytest.raises(ValueError):
        load_env({"HOME": str(tmp_path), "DOLTHUB_API_URL": "ftp://x"})


def test_wanted_id_format_and_inputs() -> None:
    wid = generate_wanted_id("Fix it", _clock())
    expected = hashlib.sha256(f"Fix it:{FIXED_NS}:{'01' * 8}".encode()).hexdigest()[:10]
    assert wid == f"w-{expected}"
    assert re.fullmatch(r"w-[0-9a-f]{10}", wid)
    assert generate_wanted_id("Fix it", _clock(rnd=b"\x02" * 8)) != wid


def test_prefixed_ids_are_deterministic_within_a_second() -> None:
    cid = generate_prefixed_id("c", ["w-1", "alice"], _clock())
    digest = hashlib.sha256(b"w-1|alice|2026-03-08T12:00:00Z").digest()[:8].hex()
    assert cid == f"c-{digest}"
    assert re.fullmatch(r"c-[0-9a-f]{16}", cid)
    same_second = generate_prefixed_id("c", ["w-1", "alice"], _clock(FIXED_NS + 500_000_000))
    next_second = generate_prefixed_id("c", ["w-1", "alice"], _clock(FIXED_NS + 1_000_000_000))
    assert same_second == cid != next_second
    assert generate_prefixed_id("s", ["w-1", "bob"], _clock()).startswith("s-")
