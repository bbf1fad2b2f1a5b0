"""Rigs on this workload: their config directories and the lazy `wl join`.

Each rig gets its own directory under WORK_DIR (HOME and XDG dirs of its `wl` runs). The
pod's disk is ephemeral, so a rig whose `wl` config is missing is joined again before its
first action ("an action by a user whose rig is not registered yet registers it first").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wasteland_common.errors import invalid

from .wl import RigEnv, WlRun, WlRunner

# The handle/org/db shape hosted `wl` accepts (internal/hosted/validate.go); it also keeps
# names safe as path components and branch segments.
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,63}$")
_DB_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class Commons:
    """The upstream commons database, ``owner/db``."""

    owner: str
    db: str

    @property
    def path(self) -> str:
        """``owner/db``."""
        return f"{self.owner}/{self.db}"


@dataclass(frozen=True)
class Rig:
    """A rig acting for one call: handle, DoltHub org (its fork's owner) and token."""

    handle: str
    org: str
    token: str

    def __repr__(self) -> str:
        return f"Rig(handle={self.handle!r}, org={self.org!r})"

    def branch(self, wanted_id: str) -> str:
        """The fork branch `wl` writes this rig's change to ``wanted_id`` on."""
        return f"wl/{self.handle}/{wanted_id}"

    @property
    def registration_branch(self) -> str:
        """The fork branch `wl join` registers the rig on."""
        return f"wl/register/{self.handle}"


def parse_commons(value: str, field_name: str = "upstream") -> Commons:
    """Validate ``owner/db``."""
    owner, sep, db = value.partition("/")
    if not sep or not NAME_RE.match(owner) or not _DB_RE.match(db) or ".." in db:
        raise invalid(field_name, "must be a DoltHub database path 'owner/db'")
    return Commons(owner=owner, db=db)


def check_name(value: str, field_name: str) -> str:
    """``value`` if it is a valid rig handle or DoltHub org name."""
    if not NAME_RE.match(value) or value == "register":
        raise invalid(field_name, "must match [a-zA-Z0-9][a-zA-Z0-9_-]{0,63} (not 'register')")
    return value


def rig_dir(work_dir: Path, handle: str) -> Path:
    """The directory that holds ``handle``'s `wl` configuration and data."""
    return work_dir / "rigs" / check_name(handle, "rig_handle")


def rig_env(work_dir: Path, rig: Rig) -> RigEnv:
    """The environment a `wl` run as ``rig`` uses."""
    return RigEnv(
        rig_dir=rig_dir(work_dir, rig.handle), dolthub_token=rig.token, dolthub_org=rig.org
    )


def config_path(work_dir: Path, handle: str, commons: Commons) -> Path:
    """Where `wl join` saves the rig's config for ``commons``."""
    return (
        rig_dir(work_dir, handle)
        / ".config"
        / "wasteland"
        / "wastelands"
        / commons.owner
        / f"{commons.db}.json"
    )


def is_joined(work_dir: Path, handle: str, commons: Commons) -> bool:
    """Whether ``handle`` has a `wl` config for ``commons`` on this workload."""
    return config_path(work_dir, handle, commons).is_file()


def joined_rigs(work_dir: Path) -> list[str]:
    """Handles with at least one joined wasteland on this workload, sorted."""
    root = work_dir / "rigs"
    if not root.is_dir():
        return []
    return sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and any((entry / ".config" / "wasteland" / "wastelands").glob("*/*.json"))
    )


def join_args(commons: Commons, rig: Rig, *, display_name: str = "", email: str = "") -> list[str]:
    """The argv tail of `wl join` for ``rig``."""
    # --flag=value, so a value starting with "-" cannot be read as a flag.
    args = [
        "join",
        commons.path,
        f"--handle={rig.handle}",
        f"--fork-org={rig.org}",
        f"--display-name={display_name or rig.handle}",
    ]
    if email:
        args.append(f"--email={email}")
    return args


async def ensure_joined(
    runner: WlRunner, work_dir: Path, commons: Commons, rig: Rig, *, limit_seconds: float
) -> WlRun | None:
    """Run `wl join` for ``rig`` unless its config for ``commons`` already exists here.

    Returns the join run, or None when the rig was already joined on this workload.
    """
    if is_joined(work_dir, rig.handle, commons):
        return None
    return await runner.run(
        join_args(commons, rig), rig_env(work_dir, rig), limit_seconds=limit_seconds
    )
