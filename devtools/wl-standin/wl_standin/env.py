"""Process inputs read once at start-up: environment variables, clock, randomness, sleep.

The real ``wl`` reads ``DOLTHUB_TOKEN``, ``DOLTHUB_ORG``, ``DOLTHUB_SESSION_TOKEN``,
``XDG_CONFIG_HOME`` and ``XDG_DATA_HOME``. ``DOLTHUB_API_URL`` is the stand-in's one
deliberate addition: the real binary has the base URL compiled in.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_API_URL = "https://www.dolthub.com/api/v1alpha1"
DEFAULT_GRAPHQL_URL = "https://www.dolthub.com/graphql"
REPO_WEB_BASE = "https://www.dolthub.com/repositories"
REMOTE_API_BASE = "https://doltremoteapi.dolthub.com"


@dataclass(frozen=True)
class Clock:
    """Wall clock, monotonic clock, randomness and sleeping, injectable for tests."""

    time_ns: Callable[[], int] = time.time_ns
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    random_bytes: Callable[[int], bytes] = secrets.token_bytes
    utc_offset_seconds: Callable[[], int] = field(default=lambda: time.localtime().tm_gmtoff or 0)


@dataclass(frozen=True)
class Env:
    """The environment variables the CLI depends on, validated once."""

    token: str
    org: str
    session_token: str
    config_home: Path
    data_home: Path
    api_url: str

    @property
    def graphql_url(self) -> str:
        """The GraphQL endpoint next to the REST base (compiled in for the real binary)."""
        suffix = "/api/v1alpha1"
        if self.api_url != DEFAULT_API_URL and self.api_url.endswith(suffix):
            return self.api_url[: -len(suffix)] + "/graphql"
        return DEFAULT_GRAPHQL_URL

    @property
    def config_dir(self) -> Path:
        """``$XDG_CONFIG_HOME/wasteland``."""
        return self.config_home / "wasteland"


def _home_fallback(src: Mapping[str, str], sub: tuple[str, ...], fallback_name: str) -> Path:
    home = src.get("HOME", "")
    if not home:
        fallback = Path(tempfile.gettempdir()) / fallback_name
        sys.stderr.write(
            f"warning: could not determine home directory: $HOME is not defined; using {fallback}\n"
        )
        return fallback
    return Path(home, *sub)


def load_env(environ: Mapping[str, str] | None = None) -> Env:
    """Read the environment the way the real CLI does (empty means unset)."""
    src = os.environ if environ is None else environ
    config_home = src.get("XDG_CONFIG_HOME", "")
    data_home = src.get("XDG_DATA_HOME", "")
    api_url = src.get("DOLTHUB_API_URL", "").strip() or DEFAULT_API_URL
    if not api_url.startswith(("http://", "https://")):
        raise ValueError("DOLTHUB_API_URL must be an http:// or https:// URL")
    return Env(
        token=src.get("DOLTHUB_TOKEN", ""),
        org=src.get("DOLTHUB_ORG", ""),
        session_token=src.get("DOLTHUB_SESSION_TOKEN", ""),
        config_home=Path(config_home)
        if config_home
        else _home_fallback(src, (".config",), "wasteland"),
        data_home=Path(data_home)
        if data_home
        else _home_fallback(src, (".local", "share"), "wasteland-data"),
        api_url=api_url.rstrip("/"),
    )
