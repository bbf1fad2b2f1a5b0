"""Terminal styling with the real CLI's ``--color`` semantics.

The real ``wl`` styles text with lipgloss, which emits no escape codes when stdout is not
a terminal (``auto``), or when ``NO_COLOR`` is set, and forces 16-colour ANSI output with
``--color always``. The stand-in uses the same decision; its ANSI colour numbers are the
nearest 16-colour equivalents of the real palette (lipgloss derives them at run time, so
they may differ in detail — see the README).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from enum import Enum


class Tone(Enum):
    """The named styles of the real CLI (internal/style)."""

    BOLD = "1"
    SUCCESS = "1;93"
    WARNING = "1;93"
    ERROR = "1;91"
    INFO = "96"
    DIM = "90"


_ANSI = re.compile(r"\x1b\[[0-9;]*[a-zA-Z]")

ICON_PASS = "✓"  # noqa: S105 - an icon, not a secret
ICON_WARN = "⚠"


def strip_ansi(text: str) -> str:
    """The text without CSI escape sequences."""
    return _ANSI.sub("", text)


@dataclass
class Styler:
    """Renders styled text, or plain text when colour is off."""

    enabled: bool = False
    colours: bool = True

    def render(self, tone: Tone, text: str) -> str:
        """``style.<Tone>.Render(text)``; multi-line text is styled line by line."""
        if not self.enabled or text == "":
            return text
        code = tone.value if self.colours or tone is Tone.BOLD else ""
        if not code:
            return text
        return "\n".join(f"\x1b[{code}m{line}\x1b[0m" for line in text.split("\n"))

    def bold(self, text: str) -> str:
        return self.render(Tone.BOLD, text)

    def dim(self, text: str) -> str:
        return self.render(Tone.DIM, text)


def styler_for(mode: str, *, isatty: bool | None = None) -> Styler:
    """The styler for ``--color`` = ``always``, ``auto`` or ``never``.

    The real CLI implements ``never``/``always`` by setting ``NO_COLOR``/``CLICOLOR_FORCE``
    in its own environment; the stand-in decides directly and leaves the environment alone.
    """
    if mode == "never":
        return Styler(enabled=False)
    if mode == "always":
        return Styler(enabled=True)
    if os.environ.get("NO_COLOR"):
        return Styler(enabled=False)
    tty = sys.stdout.isatty() if isatty is None else isatty
    forced = os.environ.get("CLICOLOR_FORCE", "") not in ("", "0")
    return Styler(enabled=tty or forced)
