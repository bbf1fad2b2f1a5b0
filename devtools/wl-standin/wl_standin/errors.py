"""Errors of the stand-in, shaped like the real ``wl``'s error chain.

Go's ``wl`` builds messages by wrapping (``fmt.Errorf("prefix: %w", err)``) and tests a
few sentinels with ``errors.Is``; :class:`WlError` carries the same text plus the sentinel
kind so the top level can choose the recovery hint exactly as the real CLI does.
"""

from __future__ import annotations

from enum import Enum


class Sentinel(Enum):
    """The sentinel errors the real CLI inspects with ``errors.Is``."""

    NOT_JOINED = "rig has not joined a wasteland"
    AMBIGUOUS = "multiple wastelands joined; use --wasteland to select one"


class WlError(Exception):
    """A failure to report as ``wl: <message>`` (plus ``Hint:`` when ``hint`` is set)."""

    def __init__(self, message: str, *, kind: Sentinel | None = None, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def wrap(self, prefix: str) -> WlError:
        """``fmt.Errorf("<prefix>: %w", err)``: same sentinel, longer message."""
        return WlError(f"{prefix}: {self.message}", kind=self.kind, hint=self.hint)


class SilentExit(Exception):
    """Exit 1 without printing anything more (the command already wrote its output)."""
