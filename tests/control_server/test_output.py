"""Parsers of `wl` output, on the samples the protocol spec documents (section 6)."""

from __future__ import annotations

import pytest
from wl_control_server import output

CLAIM_OK = """\
✓ Claimed w-abc1234567
  Title: Fix the flux capacitor
  Status: claimed
  Claimed by: alice
  Branch: wl/alice/w-abc1234567
  Branch URL: https://www.dolthub.com/repositories/alice/wl-commons/data/wl%2Falice%2Fw-abc1234567
  PR: https://www.dolthub.com/repositories/hop/wl-commons/pulls/7
  Delta: claim

  Next: do the work, then: wl done w-abc1234567 --evidence <url>
"""

# The silent no-op of spec 5.5: exit 0, a check mark, and the real state in Status.
CLAIM_NOOP = """\
✓ Claimed w-abc1234567
  Title: Fix the flux capacitor
  Status: in_review
  Claimed by: alice

  reverted — branch cleaned up

  Next: do the work, then: wl done w-abc1234567 --evidence <url>
"""

DONE_OK = """\
✓ Completion submitted for w-abc1234567
  Title: Fix the flux capacitor
  Status: in_review
  Completed by: alice
  Evidence: https://github.com/x/y/pull/1
  Branch: wl/alice/w-abc1234567
  PR: https://www.dolthub.com/repositories/hop/wl-commons/pulls/8

  Next: wait for review. Check: wl status w-abc1234567
"""

POST_OK = """\
✓ Posted wanted item: w-0123456789
  Title:    Write docs
  Type:     docs
  Priority: 2
  Effort:   medium
  Posted by: alice
  Branch:   wl/alice/w-0123456789
  PR: https://www.dolthub.com/repositories/hop/wl-commons/pulls/9

  Next: others can claim this. Browse: wl browse
"""

POST_EMPTY_ID = (
    "✓ Posted wanted item: \n"
    """\
  Title:    Write docs
  Priority: 2
  Effort:   medium
  Posted by: alice

  Next: others can claim this. Browse: wl browse
"""
)

JOIN_OK = """\
Joining wasteland hop/wl-commons (fork to alice/wl-commons, remote mode)...
  Forking commons...
  Registering rig via API...
  Opening pull request...

✓ Joined wasteland: hop/wl-commons (remote mode)
  Handle: alice
  Fork: alice/wl-commons
  Backend: remote (DoltHub API)
  PR: https://www.dolthub.com/repositories/hop/wl-commons/pulls/3

  Next: wl browse  — browse the wanted board
"""

ALREADY_JOINED = """\
⚠ Already joined wasteland: hop/wl-commons
  Handle: alice
  Fork: alice/wl-commons
  Backend: remote
"""

STATUS = """\
w-abc1234567: Fix the flux capacitor

  Status:      claimed
  Type:        bug           Priority: P1
  Posted by:   hop

  Claimed by:  alice

  Branch:      wl/alice/w-abc1234567
  Branch URL:  https://www.dolthub.com/repositories/alice/wl-commons/data/wl%2Falice%2Fw-abc1234567
  Delta:       claim
  Main status: open
  PR:          https://www.dolthub.com/repositories/hop/wl-commons/pulls/7
"""


def test_claim_success_lines() -> None:
    parsed = output.parse(CLAIM_OK)
    assert parsed.verb == "Claimed"
    assert parsed.subject_id == "w-abc1234567"
    assert parsed.status == "claimed"
    assert parsed.claimed_by == "alice"
    assert parsed.branch == "wl/alice/w-abc1234567"
    assert parsed.branch_url is not None
    assert parsed.branch_url.endswith("wl%2Falice%2Fw-abc1234567")
    assert parsed.pull_request_url == "https://www.dolthub.com/repositories/hop/wl-commons/pulls/7"
    assert parsed.delta == "claim"
    assert parsed.errors == ()


def test_silent_noop_shows_the_real_status() -> None:
    parsed = output.parse(CLAIM_NOOP)
    assert parsed.verb == "Claimed"
    assert parsed.status == "in_review"
    assert parsed.branch is None
    assert parsed.pull_request_url is None


def test_multi_word_verb() -> None:
    parsed = output.parse(DONE_OK)
    assert parsed.verb == "Completion submitted for"
    assert parsed.subject_id == "w-abc1234567"
    assert parsed.status == "in_review"


@pytest.mark.parametrize(
    ("line", "verb"),
    [
        ("✓ Unclaimed w-1", "Unclaimed"),
        ("✓ Accepted w-1", "Accepted"),
        ("✓ Rejected w-1", "Rejected"),
        ("✓ Closed w-1", "Closed"),
        ("✓ Withdrawn w-1", "Withdrawn"),
    ],
)
def test_other_verbs(line: str, verb: str) -> None:
    parsed = output.parse(line + "\n  Status: open\n")
    assert (parsed.verb, parsed.subject_id, parsed.status) == (verb, "w-1", "open")


def test_posted_id() -> None:
    parsed = output.parse(POST_OK)
    assert parsed.posted_id == "w-0123456789"
    assert parsed.branch == "wl/alice/w-0123456789"
    assert parsed.pull_request_url is not None


def test_posted_with_empty_id_is_distinguishable_from_no_line() -> None:
    assert output.parse(POST_EMPTY_ID).posted_id == ""
    assert output.parse(CLAIM_OK).posted_id is None


def test_join_and_already_joined() -> None:
    joined = output.parse(JOIN_OK)
    assert joined.joined_upstream == "hop/wl-commons"
    assert joined.handle == "alice"
    assert joined.fork == "alice/wl-commons"
    assert joined.pull_request_url == "https://www.dolthub.com/repositories/hop/wl-commons/pulls/3"
    assert joined.already_joined is None
    again = output.parse(ALREADY_JOINED)
    assert again.already_joined == "hop/wl-commons"
    assert again.joined_upstream is None
    assert again.handle == "alice"


def test_status_command_layout() -> None:
    parsed = output.parse(STATUS)
    assert parsed.status == "claimed"
    assert parsed.claimed_by == "alice"
    assert parsed.branch == "wl/alice/w-abc1234567"
    assert parsed.pull_request_url == "https://www.dolthub.com/repositories/hop/wl-commons/pulls/7"


def test_error_lines_and_hints() -> None:
    stderr = (
        "wl: loading wasteland config: rig has not joined a wasteland"
        " (run 'wl join <upstream>')\n"
        "  Hint: Run 'wl join <org/db>' to join a wasteland,"
        " or 'wl create <org/db>' to start one.\n"
    )
    errors, hints = output.parse_errors(stderr)
    assert errors == (
        "loading wasteland config: rig has not joined a wasteland (run 'wl join <upstream>')",
    )
    assert hints == (
        "Run 'wl join <org/db>' to join a wasteland, or 'wl create <org/db>' to start one.",
    )
    assert output.parse("", stderr).errors == errors
    assert output.parse_errors("wl join: fork failed\n")[0] == ("fork failed",)


def test_pr_failure_hint() -> None:
    text = CLAIM_OK.replace(
        "  PR: https://www.dolthub.com/repositories/hop/wl-commons/pulls/7\n", ""
    )
    text += "\n  PR creation failed: DoltHub create PR error (HTTP 500): boom\n"
    parsed = output.parse(text)
    assert parsed.pull_request_url is None
    assert parsed.pr_failure == "DoltHub create PR error (HTTP 500): boom"


def test_version() -> None:
    assert output.parse_version("wl dev (commit: unknown, built: unknown)\n") == "dev"
    assert output.parse_version("wl v0.3.0 (commit: bdd9758, built: 2026-02-27)\n") == "v0.3.0"
    assert output.parse_version("") is None


def test_garbage_is_ignored() -> None:
    parsed = output.parse("✓ Claimed\nStatus:\nrandom ✓ text\n\x00\n", "not an error\n")
    assert parsed == output.WlOutput()


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('querying wanted item: no wanted item matching "w-zz"', "NOT_FOUND"),
        ('ambiguous prefix "w-a" matches: w-a1, w-a2', "INVALID_ARGUMENT"),
        ('invalid type "x": must be one of feature, bug, design, rfc, docs', "INVALID_ARGUMENT"),
        ("DOLTHUB_TOKEN environment variable is required", "FAILED_PRECONDITION"),
        ("loading wasteland config: rig has not joined a wasteland", "FAILED_PRECONDITION"),
        ("query failed: HTTP 401: invalid authorization", "FAILED_PRECONDITION"),
        ("query failed: HTTP 503: unavailable", "UNAVAILABLE"),
        ("cannot accept your own completion", "PERMISSION_DENIED"),
        ("something odd", "INTERNAL"),
    ],
)
def test_classify_error(message: str, code: str) -> None:
    assert output.classify_error(message) == code
