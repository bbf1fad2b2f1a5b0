"""A tiny fake `wl` for runner and serialisation tests: a shell script written to a file."""

from __future__ import annotations

import stat
from pathlib import Path


def write_fake_wl(directory: Path, body: str) -> Path:
    """Write an executable ``wl`` shell script with ``body`` into ``directory``."""
    path = directory / "wl"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path
