"""Parsers for what `wl` prints (HEAD/v0.4.0 formats, protocol spec section 6).

`wl` has no machine-readable output for mutations, so these parsers read its human lines.
Every function accepts any text (the output is untrusted) and returns typed values; a line
that does not match is ignored rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# `✓ <Verb> <id>` for mutations; multi-word verbs first so "Completion submitted for"
# is not read as verb "Completion".
_MUTATION_VERBS = (
    "Completion submitted for",
    "Unclaimed",
    "Claimed",
    "Accepted",
    "Rejected",
    "Closed",
    "Updated",
    "Withdrawn",
)
_CHECK = "✓"
_WARN = "⚠"
_VERB_RE = re.compile(
    r"^\s*" + _CHECK + r"\s+(?P<verb>" + "|".join(re.escape(v) for v in _MUTATION_VERBS) + r")"
    r"\s+(?P<id>\S+)\s*$"
)
_POSTED_RE = re.compile(r"^\s*" + _CHECK + r"\s+Posted wanted item:[ \t]*(\S*)")
_JOINED_RE = re.compile(r"^\s*" + _CHECK + r"\s+Joined wasteland:\s*(?P<upstream>\S+)")
_ALREADY_JOINED_RE = re.compile(r"^\s*" + _WARN + r"\s+Already joined wasteland:\s*(\S+)")
_FIELD_RE = {
    "status": re.compile(r"^\s*Status:\s*(\S+)\s*$"),
    # "Branch:" only; "Branch URL:" has its own key.
    "branch": re.compile(r"^\s*Branch:\s*(\S+)\s*$"),
    "branch_url": re.compile(r"^\s*Branch URL:\s*(\S+)\s*$"),
    "pr": re.compile(r"^\s*PR:\s*(\S+)\s*$"),
    "delta": re.compile(r"^\s*Delta:\s*(\S+)\s*$"),
    "claimed_by": re.compile(r"^\s*Claimed by:\s*(\S+)\s*$"),
    "handle": re.compile(r"^\s*Handle:\s*(\S+)\s*$"),
    "fork": re.compile(r"^\s*Fork:\s*(\S+)\s*$"),
}
# `wl: <error>`, and `wl join: <error>` / `wl create: <error>` from the local paths.
_ERROR_RE = re.compile(r"^wl(?: [a-z-]+)?: (?P<message>.+?)\s*$")
_HINT_RE = re.compile(r"^\s+Hint:\s*(?P<hint>.+?)\s*$")
_VERSION_RE = re.compile(r"^\s*wl\s+(?P<version>\S+)")
_PR_FAILED_RE = re.compile(r"^\s*(?:PR creation failed|warning: could not create PR):\s*(.+?)\s*$")


@dataclass(frozen=True)
class WlOutput:
    """What one `wl` run reported; None where the line was absent.

    ``posted_id`` is None when no `Posted wanted item:` line was printed and "" when the
    line was printed with an empty id (which `wl` does when its read-back failed).
    """

    verb: str | None = None
    subject_id: str | None = None
    posted_id: str | None = None
    joined_upstream: str | None = None
    already_joined: str | None = None
    status: str | None = None
    branch: str | None = None
    branch_url: str | None = None
    pull_request_url: str | None = None
    delta: str | None = None
    claimed_by: str | None = None
    handle: str | None = None
    fork: str | None = None
    pr_failure: str | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)
    hints: tuple[str, ...] = field(default_factory=tuple)


def parse(stdout: str, stderr: str = "") -> WlOutput:
    """Parse the stdout and stderr of one `wl` run; the first match of each line wins."""
    found: dict[str, str] = {}
    verb = subject = posted = joined = already = pr_failure = None
    for line in stdout.splitlines():
        if verb is None and (m := _VERB_RE.match(line)):
            verb, subject = m.group("verb"), m.group("id")
            continue
        if posted is None and (m := _POSTED_RE.match(line)):
            posted = m.group(1)
            continue
        if joined is None and (m := _JOINED_RE.match(line)):
            joined = m.group("upstream")
            continue
        if already is None and (m := _ALREADY_JOINED_RE.match(line)):
            already = m.group(1)
            continue
        if pr_failure is None and (m := _PR_FAILED_RE.match(line)):
            pr_failure = m.group(1)
            continue
        for key, pattern in _FIELD_RE.items():
            if key not in found and (m := pattern.match(line)):
                found[key] = m.group(1)
                break
    errors, hints = parse_errors(stderr)
    return WlOutput(
        verb=verb,
        subject_id=subject,
        posted_id=posted,
        joined_upstream=joined,
        already_joined=already,
        status=found.get("status"),
        branch=found.get("branch"),
        branch_url=found.get("branch_url"),
        pull_request_url=found.get("pr"),
        delta=found.get("delta"),
        claimed_by=found.get("claimed_by"),
        handle=found.get("handle"),
        fork=found.get("fork"),
        pr_failure=pr_failure,
        errors=errors,
        hints=hints,
    )


def parse_errors(stderr: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The `wl: <error>` messages and `Hint:` lines of a run's stderr, in order."""
    errors: list[str] = []
    hints: list[str] = []
    for line in stderr.splitlines():
        if m := _ERROR_RE.match(line):
            errors.append(m.group("message"))
        elif m := _HINT_RE.match(line):
            hints.append(m.group("hint"))
    return tuple(errors), tuple(hints)


def parse_version(stdout: str) -> str | None:
    """The version word of `wl version` (`wl <version> (commit: …, built: …)`)."""
    for line in stdout.splitlines():
        if m := _VERSION_RE.match(line):
            return m.group("version")
    return None


# (substring of a lower-cased `wl` error, gRPC code name). First match wins.
_ERROR_CODES: tuple[tuple[str, str], ...] = (
    ("no wanted item matching", "NOT_FOUND"),
    ("not found", "NOT_FOUND"),
    ("ambiguous prefix", "INVALID_ARGUMENT"),
    ("invalid type", "INVALID_ARGUMENT"),
    ("invalid effort", "INVALID_ARGUMENT"),
    ("invalid priority", "INVALID_ARGUMENT"),
    ("invalid severity", "INVALID_ARGUMENT"),
    ("invalid quality", "INVALID_ARGUMENT"),
    ("invalid reliability", "INVALID_ARGUMENT"),
    ("required flag", "INVALID_ARGUMENT"),
    ("cannot accept your own completion", "PERMISSION_DENIED"),
    ("environment variable is required", "FAILED_PRECONDITION"),
    ("required for remote mode", "FAILED_PRECONDITION"),
    ("has not joined", "FAILED_PRECONDITION"),
    ("http 401", "FAILED_PRECONDITION"),
    ("invalid authorization", "FAILED_PRECONDITION"),
    ("http 403", "PERMISSION_DENIED"),
    ("http 429", "UNAVAILABLE"),
    ("http 5", "UNAVAILABLE"),
    ("timed out", "UNAVAILABLE"),
    ("connection refused", "UNAVAILABLE"),
    ("cannot ", "FAILED_PRECONDITION"),
)


def classify_error(message: str) -> str:
    """The gRPC code name that best describes a `wl` error message (INTERNAL if unknown)."""
    lowered = message.lower()
    for needle, code in _ERROR_CODES:
        if needle in lowered:
            return code
    return "INTERNAL"
