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
# Redaction replaces secret *values* and never the words of a message: "dolthub_token:
# DoltHub rejected the token" stays as it is, while a token in it would not.
# What a credential is made of (base64, base64url, hex, DoltHub's dotted tokens).
_CREDENTIAL_CHARS = r"[A-Za-z0-9+/_.~=-]"
# JSON Web Tokens (three base64url parts, the header starts with eyJ).
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
# DoltHub token shapes seen in the wild and in the sandbox.
_KNOWN_TOKENS = re.compile(
    r"\b(?:dhat\.v[A-Za-z0-9._-]+|dh\+sat[A-Za-z0-9._-]+|sandbox-token-[A-Za-z0-9_-]+)"
)
# Names whose value is a secret: dolthub_token, authorization, x-api-key, client_secret...
_SECRET_NAME = r"[A-Za-z0-9_-]*(?:token|authorization|api[_-]?key|secret|password)"  # noqa: S105
# A secret-named field with a value in structured form: "name": "value" (JSON, escaped
# JSON inside a JSON log line, a Python repr with single quotes) or name=value.
_QUOTED_FIELD = re.compile(
    rf"(?i)((?:\\?[\"'])(?:{_SECRET_NAME})\\?[\"']\s*[:=]\s*)(\\?[\"'])(.*?)(\2)"
)
_ASSIGNED_FIELD = re.compile(rf"(?i)(?<![A-Za-z0-9_-])((?:{_SECRET_NAME})=)([^\s&,;\"'}}\]]+)")
# A credential after a scheme or a secret name in prose ("Bearer xyz", "token xyz",
# "authorization: token xyz"): replaced only when the value looks like a credential.
_INTRODUCED = re.compile(
    rf"(?i)(?<![A-Za-z0-9_-])((?:(?:bearer|basic|{_SECRET_NAME})(?:\s*:\s*|\s+))+)"
    rf"({_CREDENTIAL_CHARS}+)"
)
_extra_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Redact this exact value from every later log line (e.g. a configured key)."""
    if len(value) >= 6:
        _extra_secrets.add(value)


def credential_shaped(value: str) -> bool:
    """Whether ``value`` looks like a credential rather than a word or a number: long
    and mixing letters with digits, or very long."""
    if len(value) >= 24:
        return True
    return len(value) >= 12 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _introduced(match: re.Match[str]) -> str:
    value = match.group(2)
    if not credential_shaped(value):
        return match.group(0)
    return f"{match.group(1)}{REDACTED}"


def redact(text: str) -> str:
    """``text`` with every secret value replaced by ``[REDACTED]``: registered secrets,
    JWTs, DoltHub token shapes, the value of a secret-named field in structured form, and
    credential-shaped values after ``Bearer``/``token``/a secret name. The words of a
    message are never rewritten."""
    for secret in _extra_secrets:
        text = text.replace(secret, REDACTED)
    text = _JWT.sub(REDACTED, text)
    text = _KNOWN_TOKENS.sub(REDACTED, text)
    text = _QUOTED_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(4)}", text)
    text = _ASSIGNED_FIELD.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _INTRODUCED.sub(_introduced, text)


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
