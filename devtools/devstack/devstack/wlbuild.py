"""Build the real `wl` CLI (v0.4.0) from its pinned source for one DoltHub base URL.

`wl` has its DoltHub URLs compiled in (``internal/backend.DoltHubAPIBase``,
``internal/remote.dolthubAPIBase``, ``internal/remote.dolthubGraphQLURL``); nothing reads
them from the environment. So each sandbox URL gets its own binary, kept in an ignored
tool folder keyed by the URL: ``.tools/wl/<key>/wl``. The source is the release tarball
in ``../shared/third_party`` (or ``WL_SOURCE_TARBALL``), checked against its sha256
before anything is extracted. Once the Go build cache is warm a build for another URL is
only a relink (under a second).

Used by ``make wl``, ``make run`` and the test suites (``tests/support/wl.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

VERSION = "0.4.0"
COMMIT = "5535bcdc3a36"
MODULE = "github.com/gastownhall/wasteland"
SOURCE_SHA256 = "9c7c1cc9409541fbaa1d12244bd93207e41851fb9e15d326da50c943719a0d09"
SOURCE_TOP = f"wasteland-{VERSION}"
# The release's go.mod asks for this toolchain; older ones would try to download it.
MIN_GO = (1, 26, 1)
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TARBALL = REPO_ROOT.parent / "shared" / "third_party" / f"wasteland-{VERSION}.tar.gz"
DEFAULT_TOOLS = REPO_ROOT / ".tools"
REAL_DOLTHUB_API = "https://www.dolthub.com/api/v1alpha1"
REAL_DOLTHUB_GRAPHQL = "https://www.dolthub.com/graphql"
_GO_VERSION = re.compile(r"go(\d+)\.(\d+)(?:\.(\d+))?")
BUILD_TIMEOUT = 900.0


class BuildError(RuntimeError):
    """The real `wl` cannot be built here (no Go, a bad tarball, a failed build)."""


@dataclass(frozen=True)
class Source:
    """Where the pinned source tarball is and which folder the binaries go to."""

    tarball: Path = DEFAULT_TARBALL
    tools_dir: Path = DEFAULT_TOOLS

    @classmethod
    def from_env(cls) -> Source:
        """``WL_SOURCE_TARBALL`` (another copy of the same release) and
        ``WASTELAND_TOOLS_DIR`` override the defaults."""
        tarball = os.environ.get("WL_SOURCE_TARBALL")
        tools = os.environ.get("WASTELAND_TOOLS_DIR")
        return cls(
            tarball=Path(tarball) if tarball else DEFAULT_TARBALL,
            tools_dir=Path(tools) if tools else DEFAULT_TOOLS,
        )


def go_version(go: str = "go") -> tuple[int, int, int] | None:
    """The local Go toolchain's version, or None when there is no `go` on PATH."""
    binary = shutil.which(go)
    if binary is None:
        return None
    try:
        out = subprocess.run(
            [binary, "env", "GOVERSION"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env=_go_env(),
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _GO_VERSION.match(out.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def go_usable() -> bool:
    """Whether a Go toolchain new enough for the release is installed."""
    found = go_version()
    return found is not None and found >= MIN_GO


def graphql_url(api_url: str) -> str:
    """The GraphQL URL to compile in beside ``api_url``: DoltHub's own for the real
    API, else the same host's ``/graphql`` (so a test build can never reach out)."""
    if api_url.rstrip("/") == REAL_DOLTHUB_API:
        return REAL_DOLTHUB_GRAPHQL
    scheme, _, rest = api_url.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/graphql"


def ldflags(api_url: str) -> str:
    """The release's ldflags plus the three compiled-in URLs."""
    api = api_url.rstrip("/")
    return " ".join(
        [
            "-X main.inferEnabled=false",
            f"-X main.version={VERSION}",
            f"-X main.commit={COMMIT}",
            f"-X {MODULE}/internal/backend.DoltHubAPIBase={api}",
            f"-X {MODULE}/internal/remote.dolthubAPIBase={api}",
            f"-X {MODULE}/internal/remote.dolthubGraphQLURL={graphql_url(api)}",
        ]
    )


def binary_path(api_url: str, source: Source) -> Path:
    """Where the binary for ``api_url`` lives (whether or not it is built yet)."""
    key = hashlib.sha256(f"{SOURCE_SHA256}\n{api_url.rstrip('/')}".encode()).hexdigest()[:16]
    return source.tools_dir / "wl" / key / "wl"


def build(api_url: str, source: Source | None = None) -> Path:
    """The real `wl` for ``api_url``, built now unless it already exists.

    Raises BuildError when Go is missing or too old, the tarball is missing or its
    checksum differs, or the build fails.
    """
    if not api_url.startswith(("http://", "https://")):
        raise BuildError(f"not an http(s) URL: {api_url!r}")
    source = source or Source.from_env()
    target = binary_path(api_url, source)
    if target.is_file():
        return target
    found = go_version()
    if found is None:
        raise BuildError("Go is not installed (the stand-in must be used)")
    if found < MIN_GO:
        wanted = ".".join(map(str, MIN_GO))
        raise BuildError(f"Go {'.'.join(map(str, found))} is older than {wanted}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / ".lock"):
        if target.is_file():
            return target
        tree = _extracted(source)
        partial = target.with_name(f".wl.{os.getpid()}.tmp")
        try:
            completed = subprocess.run(
                ["go", "build", "-trimpath", "-ldflags", ldflags(api_url), "-o", str(partial),
                 "./cmd/wl"],
                cwd=tree,
                env=_go_env(),
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"go build of wl took longer than {BUILD_TIMEOUT:.0f}s") from exc
        if completed.returncode != 0:
            partial.unlink(missing_ok=True)
            tail = (completed.stderr or completed.stdout).strip()[-2000:]
            raise BuildError(f"go build of wl failed:\n{tail}")
        partial.replace(target)
    return target


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"})
    return env


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive file lock (several test processes may build at once)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _extracted(source: Source) -> Path:
    """The release source tree, extracted once (after its checksum matched)."""
    root = source.tools_dir / "wl" / "src" / SOURCE_SHA256[:16]
    tree = root / SOURCE_TOP
    if (tree / "go.mod").is_file():
        return tree
    if not source.tarball.is_file():
        raise BuildError(f"the wl source tarball is missing: {source.tarball}")
    actual = sha256_of(source.tarball)
    if actual != SOURCE_SHA256:
        raise BuildError(f"{source.tarball} has sha256 {actual}, not the pinned {SOURCE_SHA256}")
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=root.parent))
    try:
        with tarfile.open(source.tarball, "r:gz") as archive:
            archive.extractall(scratch, filter="data")
        if not (scratch / SOURCE_TOP / "go.mod").is_file():
            raise BuildError(f"{source.tarball} has no {SOURCE_TOP}/go.mod")
        if root.exists():
            shutil.rmtree(root)
        scratch.replace(root)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return tree


def main(argv: list[str] | None = None) -> int:
    """``python -m devstack.wlbuild --api-url URL`` prints the binary's path."""
    parser = argparse.ArgumentParser(prog="wlbuild", description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True, help="the DoltHub API base to compile in")
    args = parser.parse_args(argv)
    try:
        path = build(args.api_url)
    except BuildError as exc:
        print(f"wlbuild: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(path)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
