"""Structured JSON logging with request context and secret redaction.

Every log line passes through :class:`RedactingFilter`, so a DoltHub token, a JWT or an
``authorization`` value that reaches a message, an argument or an exception text is
replaced before anything is written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
wasteland_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("wasteland_id", default="")

REDACTED = "[REDACTED]"
_PATTERNS = [
    # JSON Web Tokens (three base64url parts, header starts with eyJ).
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    # "authorization: token xyz", "Bearer xyz", "token=xyz"
    re.compile(r"(?i)\b(bearer|token)(\s+|=|:\s*)([A-Za-z0-9+/_.~=-]{6,})"),
    re.compile(
        r"(?i)(\"?(?:dolthub_token|authorization|api[_-]?key|secret)\"?\s*[:=]\s*\"?)([^\"\s,}]+)"
    ),
    # DoltHub token shapes seen in the wild and in the sandbox.
    re.compile(r"\b(dhat\.v[A-Za-z0-9._-]+|dh\+sat[A-Za-z0-9._-]+|sandbox-token-[A-Za-z0-9_-]+)"),
]
_extra_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Redact this exact value from every later log line (e.g. a configured key)."""
    if len(value) >= 6:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with anything that looks like a credential replaced."""
    for secret in _extra_secrets:
        text = text.replace(secret, REDACTED)
    text = _PATTERNS[0].sub(REDACTED, text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _PATTERNS[2].sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _PATTERNS[3].sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Renders the message and exception text once and redacts them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line with time, level, logger, message and request context."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if rid := request_id_var.get():
            entry["request_id"] = rid
        if wid := wasteland_id_var.get():
            entry["wasteland_id"] = wid
        for key in ("event", "operation", "duration_ms", "status"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return redact(json.dumps(entry, default=str))


def configure(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route the root logger to stderr with redaction; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_wasteland", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._wasteland = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs full URLs (with SQL) at INFO; keep them at WARNING.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic narrates every migration step at INFO; a start-up is not news.
    logging.getLogger("alembic").setLevel(logging.WARNING)
