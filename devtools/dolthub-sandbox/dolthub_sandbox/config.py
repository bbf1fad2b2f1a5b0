"""Settings of one sandbox instance, plus the injectable clock and id source."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

# Dolt prints commit hashes in this base32 alphabet (32 characters = 160 bits).
COMMIT_ALPHABET = "0123456789abcdefghijklmnopqrstuv"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def encode_commit_id(raw: bytes) -> str:
    """20 bytes as a 32-character Dolt-style commit hash."""
    if len(raw) != 20:
        raise ValueError("a commit id is made from exactly 20 bytes")
    number = int.from_bytes(raw, "big")
    chars = [COMMIT_ALPHABET[(number >> (5 * i)) & 31] for i in range(32)]
    return "".join(reversed(chars))


class IdSource:
    """Fresh identifiers: operation UUIDs and commit hashes (random by default)."""

    def uuid(self) -> str:
        return str(uuid.uuid4())

    def commit_id(self) -> str:
        return encode_commit_id(secrets.token_bytes(20))


SeedMode = Literal["demo", "none"]


@dataclass(frozen=True)
class SandboxConfig:
    """Everything one sandbox needs; ``data_dir`` holds all durable state."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 7355
    seed: SeedMode = "demo"
    row_limit: int = 1000
    op_delay: float = 0.0
    pulls_page_size: int = 10
    clock: Callable[[], datetime] = utc_now
    ids: IdSource = field(default_factory=IdSource)

    def __post_init__(self) -> None:
        if self.row_limit < 1:
            raise ValueError("row_limit must be at least 1")
        if self.op_delay < 0:
            raise ValueError("op_delay must not be negative")
        if self.pulls_page_size < 1:
            raise ValueError("pulls_page_size must be at least 1")
        if self.seed not in ("demo", "none"):
            raise ValueError("seed must be 'demo' or 'none'")
