"""Idempotency keys: a repeat with the same key and request returns the first result.

The key is scoped to the user. The request hash covers what the operation does
(wasteland, kind, wanted item, arguments), not how long the caller is willing to wait.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy.orm import Session
from wasteland.v1 import executor_pb2
from wasteland_common import errors

from . import store

KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
REUSED = "reused with a different request"


def parse_key(value: str) -> str | None:
    """The key (None when absent), or INVALID_ARGUMENT when malformed."""
    if not value:
        return None
    if not KEY.fullmatch(value):
        raise errors.invalid(
            "idempotency_key", "must be 1-255 printable ASCII characters without spaces"
        )
    return value


def request_hash(request: Any) -> str:
    """A stable digest of what ``request`` (an ExecuteRequest) asks to do."""
    canonical = executor_pb2.ExecuteRequest()
    canonical.CopyFrom(request)
    canonical.ClearField("idempotency_key")
    canonical.ClearField("wait_seconds")
    return hashlib.sha256(canonical.SerializeToString(deterministic=True)).hexdigest()


def ensure_same(existing: store.OperationRecord, digest: str) -> store.OperationRecord:
    """``existing`` when it was started by the same request; else INVALID_ARGUMENT."""
    if existing.request_hash != digest:
        raise errors.invalid("idempotency_key", REUSED)
    return existing


def lookup(session: Session, user_id: str, key: str, digest: str) -> store.OperationRecord | None:
    """The operation ``user_id`` already started with ``key`` (same request), or None."""
    existing = store.find_operation_by_key(session, user_id, key)
    return ensure_same(existing, digest) if existing is not None else None
