"""Per-wasteland config files, in the real CLI's location and format.

One file per joined wasteland at ``$XDG_CONFIG_HOME/wasteland/wastelands/<org>/<db>.json``:
JSON with the keys in the Go struct's order, empty optional keys omitted, 2-space indent,
a trailing newline, written atomically (temp file ``.wl-*.tmp`` in the same directory, then
rename).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Sentinel, WlError
from .gofmt import GoDecodeError, json_dumps, json_kind, parse_json, quote_go

MODE_PR = "pr"
MODE_WILD_WEST = "wild-west"
BACKEND_REMOTE = "remote"
BACKEND_LOCAL = "local"

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")

# (json key, kind, omitempty) in the Go struct's field order.
_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("upstream", "string", False),
    ("provider_type", "string", True),
    ("upstream_url", "string", True),
    ("fork_org", "string", False),
    ("fork_db", "string", False),
    ("local_dir", "string", False),
    ("rig_handle", "string", False),
    ("hop_uri", "string", True),
    ("joined_at", "time", False),
    ("mode", "string", True),
    ("backend", "string", True),
    ("signing", "bool", True),
    ("last_sync_at", "time?", True),
    ("github_repo", "string", True),
)

ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass
class Config:
    """One joined wasteland (``federation.Config``)."""

    upstream: str = ""
    provider_type: str = ""
    upstream_url: str = ""
    fork_org: str = ""
    fork_db: str = ""
    local_dir: str = ""
    rig_handle: str = ""
    hop_uri: str = ""
    joined_at: str = ZERO_TIME
    mode: str = ""
    backend: str = ""
    signing: bool = False
    last_sync_at: str | None = None
    github_repo: str = ""

    def resolve_mode(self) -> str:
        """Empty or ``pr`` means PR mode; anything else is returned as written."""
        return MODE_PR if self.mode in ("", MODE_PR) else self.mode

    def resolve_backend(self) -> str:
        """Explicit backend, else local when a clone directory is configured."""
        if self.backend in (BACKEND_LOCAL, BACKEND_REMOTE):
            return self.backend
        return BACKEND_LOCAL if self.local_dir else BACKEND_REMOTE

    def resolve_provider_type(self) -> str:
        """The provider type, ``dolthub`` when unset (old configs)."""
        return self.provider_type or "dolthub"

    def is_github(self) -> bool:
        return self.resolve_provider_type() == "github"

    def to_json(self) -> str:
        """The file contents: Go's ``MarshalIndent(cfg, "", "  ")`` plus a newline."""
        data: dict[str, Any] = {}
        for key, kind, omitempty in _FIELDS:
            value = getattr(self, key)
            if omitempty and (value in ("", False, None)):
                continue
            if kind.startswith("time") and isinstance(value, str):
                value = _normalise_time(value)
            data[key] = value
        return json_dumps(data, indent="  ") + "\n"


def _normalise_time(text: str) -> str:
    # A time.Time re-encoded by Go: RFC 3339 with trailing fractional zeros dropped and
    # a zero offset written as "Z".
    match = _RFC3339.match(text)
    if not match:
        return text
    head = text[:19]
    frac = (match.group(1) or "").rstrip("0")
    zone = match.group(2)
    if zone in ("+00:00", "-00:00"):
        zone = "Z"
    return head + (frac if frac != "." else "") + zone


def parse_upstream(upstream: str) -> tuple[str, str]:
    """``org/db`` split at the first slash; both parts must be non-empty."""
    org, sep, db = upstream.partition("/")
    if not sep or not org or not db:
        raise WlError(f"invalid upstream path {quote_go(upstream)}: expected format 'org/database'")
    return org, db


def _decode_config(data: bytes) -> Config:
    try:
        obj = parse_json(data)
    except GoDecodeError as exc:
        raise WlError(f"parsing wasteland config: {exc}") from exc
    if obj is None:
        return Config()
    if not isinstance(obj, dict):
        raise WlError(
            "parsing wasteland config: json: cannot unmarshal "
            f"{json_kind(obj)} into Go value of type federation.Config"
        )
    cfg = Config()
    kinds = {key: kind for key, kind, _ in _FIELDS}
    first_error = ""
    for raw_key, value in obj.items():
        key = (
            raw_key
            if raw_key in kinds
            else next((k for k in kinds if k.lower() == raw_key.lower()), "")
        )
        if not key or value is None:
            continue
        kind = kinds[key]
        ok = isinstance(value, bool) if kind == "bool" else isinstance(value, str)
        if not ok:
            go_type = {"bool": "bool", "string": "string"}.get(kind, "time.Time")
            first_error = first_error or (
                f"json: cannot unmarshal {json_kind(value)} into Go struct field "
                f"Config.{key} of type {go_type}"
            )
            continue
        if kind.startswith("time") and not _RFC3339.match(value):
            raise WlError(
                f"parsing wasteland config: parsing time {quote_go(json_dumps(value))} as "
                '"\\"2006-01-02T15:04:05Z07:00\\"": cannot parse '
                f'{quote_go(value)} as "2006"'
            )
        setattr(cfg, key, value)
    if first_error:
        raise WlError(f"parsing wasteland config: {first_error}")
    return cfg


class ConfigStore:
    """The file-backed store of joined wastelands under ``<config_dir>/wastelands``."""

    def __init__(self, config_dir: Path) -> None:
        self.root = config_dir / "wastelands"

    def path(self, upstream: str) -> Path:
        org, db = parse_upstream(upstream)
        return self.root / org / f"{db}.json"

    def load(self, upstream: str) -> Config:
        """The config for ``upstream``; NOT_JOINED when the file does not exist."""
        path = self.path(upstream)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise WlError(Sentinel.NOT_JOINED.value, kind=Sentinel.NOT_JOINED) from exc
        except OSError as exc:
            raise WlError(f"reading wasteland config: {exc}") from exc
        return _decode_config(data)

    def save(self, cfg: Config) -> None:
        """Write ``cfg`` atomically (temp file in the same directory, then rename)."""
        path = self.path(cfg.upstream)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        except OSError as exc:
            raise WlError(f"creating config directory: {exc}") from exc
        data = cfg.to_json().encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=".wl-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise WlError(f"writing config: {exc}") from exc

    def delete(self, upstream: str) -> None:
        """Remove the config file, and the org directory once it is empty."""
        path = self.path(upstream)
        try:
            path.unlink()
        except FileNotFoundError as exc:
            raise WlError(
                f"{Sentinel.NOT_JOINED.value}: {upstream}", kind=Sentinel.NOT_JOINED
            ) from exc
        except OSError as exc:
            raise WlError(f"deleting wasteland config: {exc}") from exc
        with contextlib.suppress(OSError):
            if not any(path.parent.iterdir()):
                path.parent.rmdir()

    def list(self) -> list[str]:
        """Joined upstreams ``org/db``, sorted by org then file name."""
        if not self.root.exists():
            return []
        try:
            orgs = sorted(os.listdir(self.root))
        except OSError as exc:
            raise WlError(f"reading wastelands directory: {exc}") from exc
        found: list[str] = []
        for org in orgs:
            org_dir = self.root / org
            if not org_dir.is_dir():
                continue
            try:
                names = sorted(os.listdir(org_dir))
            except OSError:
                continue
            found.extend(f"{org}/{name[:-5]}" for name in names if name.endswith(".json"))
        return found


def resolve_config(store: ConfigStore, explicit: str) -> Config:
    """``--wasteland`` wins; else the only joined wasteland; else NOT_JOINED / AMBIGUOUS."""
    if explicit:
        try:
            return store.load(explicit)
        except WlError as exc:
            raise exc.wrap(f"loading config for {explicit}") from exc
    try:
        upstreams = store.list()
    except WlError as exc:
        raise exc.wrap("listing wastelands") from exc
    if not upstreams:
        raise WlError(
            f"{Sentinel.NOT_JOINED.value} (run 'wl join <upstream>')", kind=Sentinel.NOT_JOINED
        )
    if len(upstreams) == 1:
        try:
            return store.load(upstreams[0])
        except WlError as exc:
            raise exc.wrap(f"loading config for {upstreams[0]}") from exc
    listing = "".join(f"  - {u}\n" for u in upstreams)
    raise WlError(f"{Sentinel.AMBIGUOUS.value}:\n{listing}", kind=Sentinel.AMBIGUOUS)
