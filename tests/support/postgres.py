"""A throwaway PostgreSQL cluster started from the installed server binaries."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .ports import free_port


def find_bindir() -> Path | None:
    """The directory holding initdb/pg_ctl, or None when PostgreSQL is not installed."""
    if env := os.environ.get("PG_BINDIR"):
        return Path(env)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for cand in candidates:
        if (cand / "initdb").exists():
            return cand
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


@dataclass
class Cluster:
    """A running cluster; ``url(db)`` gives a SQLAlchemy psycopg URL."""

    host: str
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """Create a fresh empty database and return its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres_user() -> list[str]:
    # initdb refuses to run as root; CI and dev machines run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"]
    return []


@contextlib.contextmanager
def running_cluster(bindir: Path) -> Iterator[Cluster]:
    """Initialise a cluster in a temporary directory, start it, stop and delete it after."""
    base = Path(tempfile.mkdtemp(prefix="wl-pg-"))
    data = base / "data"
    prefix = _as_postgres_user()
    if prefix:
        shutil.chown(base, user="postgres")
    port = free_port()
    user = "postgres" if prefix else os.environ.get("USER", "postgres")
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            user,
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(base / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield Cluster(host="127.0.0.1", port=port, user=user)
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
