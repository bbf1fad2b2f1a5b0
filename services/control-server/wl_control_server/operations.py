"""One function per operation kind: validate, pre-check, bring the fork up to date, run
`wl`, verify, land (the open pull request that carries the change), report.

:class:`Operations` runs them one at a time (a FIFO lock: `wl` shares per-rig config
directories and DoltHub branches, and two concurrent mutations of one item would race) and
remembers recent results by operation id so a retried call does not mutate twice.
Expected failures come back as ``OperationResult(status=FAILED, error_code=<gRPC code>)``;
only a malformed request or a refused role raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from wasteland.v1 import common_pb2, control_pb2
from wasteland_common import dolthub, review
from wasteland_common.dolthub.pulls import PullDetails
from wasteland_common.errors import FailedPrecondition, PermissionDenied, invalid

from . import forks, landing, lifecycle, reviews, rigs, towns
from .forks import SyncOutcome
from .landing import Landed, PullText
from .lifecycle import Refusal, Verified
from .rigs import Commons, Rig
from .wl import WlRun, WlRunner

log = logging.getLogger(__name__)

K = common_pb2  # enum constants
POST_TYPES = ("feature", "bug", "design", "rfc", "docs", "inference")
EFFORTS = ("trivial", "small", "medium", "large", "epic")
SEVERITIES = ("leaf", "branch", "root")
_ITEM_KINDS = frozenset(
    {
        K.OPERATION_KIND_CLAIM,
        K.OPERATION_KIND_UNCLAIM,
        K.OPERATION_KIND_DONE,
        K.OPERATION_KIND_ACCEPT,
        K.OPERATION_KIND_REJECT,
        K.OPERATION_KIND_CLOSE,
    }
)
# Decisions on upstream pull requests (the review inbox): no `wl`, no fork, no item.
_PULL_KINDS = frozenset({K.OPERATION_KIND_MERGE_PULL, K.OPERATION_KIND_CLOSE_PULL})
_PULL_ID_RE = re.compile(r"^[0-9]{1,20}$")
_MAX_TEXT = 10_000
_MAX_TOKEN = 4096
_RESULT_CACHE_SIZE = 1000
_EMAIL_RE = re.compile(r"^[^@\s/'\\]+@[^@\s/'\\]+\.[^@\s/'\\]+$")
UNAVAILABLE = "UNAVAILABLE"
DOLTHUB_UNAVAILABLE = "DoltHub is not answering reliably right now; try again in a minute"


@dataclass(frozen=True)
class Deps:
    """What operations need: the `wl` runner, a DoltHub client (token-less; each call acts
    with the caller's token), where rig directories live, and the time limits.

    ``retry_budget`` bounds how long an action keeps retrying `wl` after transient
    DoltHub failures (429, 5xx, timeouts); ``sleep`` and ``jitter`` are injectable.
    """

    runner: WlRunner
    dolthub: dolthub.DoltHubClient
    work_dir: Path
    wl_timeout: float
    join_timeout: float
    retry_budget: float = 60.0
    pulls: PullDetails = field(default_factory=PullDetails)
    current_forks: forks.CurrentForks = field(default_factory=forks.CurrentForks)
    known_branches: forks.KnownBranches = field(default_factory=forks.KnownBranches)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    jitter: Callable[[], float] = random.random


@dataclass(frozen=True)
class Operation:
    """A validated RunOperation request."""

    operation_id: str
    kind: common_pb2.OperationKind
    commons: Commons
    rig: Rig
    role: common_pb2.MemberRole
    wanted_id: str
    args: common_pb2.OperationArgs
    # The wasteland's upstream credential for this call ("" when none is connected).
    upstream_token: str = ""

    def __repr__(self) -> str:
        return (
            f"Operation(id={self.operation_id!r}, kind={K.OperationKind.Name(self.kind)}, "
            f"upstream={self.commons.path!r}, rig={self.rig.handle!r}, "
            f"wanted_id={self.wanted_id!r})"
        )


# --------------------------------------------------------------------------- validation


def _text(value: str, field_name: str, *, required: bool = False, limit: int = _MAX_TEXT) -> str:
    if required and not value.strip():
        raise invalid(field_name, "is required")
    if len(value) > limit:
        raise invalid(field_name, f"must be at most {limit} characters")
    if "\x00" in value:
        raise invalid(field_name, "must not contain NUL characters")
    return value


def _list(values: list[str], field_name: str) -> list[str]:
    cleaned = [v.strip() for v in values if v.strip()]
    for value in cleaned:
        _text(value, field_name, limit=200)
        if "," in value:
            raise invalid(field_name, "entries must not contain commas")
    return cleaned


def is_http_url(value: str) -> bool:
    """Whether ``value`` is an absolute http(s) URL with a host and no whitespace."""
    if not value or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def parse_request(request: control_pb2.RunOperationRequest, *, served_upstream: str) -> Operation:
    """Validate a RunOperation request; raises INVALID_ARGUMENT (naming the field),
    FAILED_PRECONDITION without a credential, PERMISSION_DENIED for a refused role."""
    kind = request.kind
    if kind not in K.OperationKind.values() or kind == K.OPERATION_KIND_UNSPECIFIED:
        raise invalid("kind", "must name an operation")
    upstream = request.upstream or served_upstream
    if not upstream:
        raise invalid("upstream", "is required")
    commons = rigs.parse_commons(upstream)
    if served_upstream and commons.path != served_upstream:
        raise invalid("upstream", f"this workload serves {served_upstream}")

    cred = request.credential
    token = cred.dolthub_token
    upstream_token = request.upstream_credential.dolthub_token
    if kind in _PULL_KINDS:
        return _parse_decision(request, commons, upstream_token)
    if not token:
        raise FailedPrecondition("connect DoltHub first")
    _check_token(token, "credential.dolthub_token")
    org = rigs.check_name(cred.dolthub_org, "credential.dolthub_org")
    _check_token(upstream_token, "upstream_credential.dolthub_token")
    args = request.args
    handle = cred.rig_handle
    if kind == K.OPERATION_KIND_JOIN and args.rig_handle:
        if handle and handle != args.rig_handle:
            raise invalid("args.rig_handle", "differs from the credential's rig handle")
        handle = args.rig_handle
    handle = rigs.check_name(handle or org, "credential.rig_handle")

    wanted_id = request.wanted_id
    if kind in _ITEM_KINDS:
        if not lifecycle.WANTED_ID_RE.match(wanted_id):
            raise invalid("wanted_id", "must be a wanted item id such as w-0123456789")
    elif wanted_id:
        raise invalid("wanted_id", "must be empty for this operation")

    role = request.role
    if kind in (K.OPERATION_KIND_ACCEPT, K.OPERATION_KIND_REJECT) and not lifecycle.is_maintainer(
        role
    ):
        raise PermissionDenied("only a maintainer may accept or reject a completion")
    _validate_args(kind, args)
    return Operation(
        operation_id=_text(request.operation_id, "operation_id", limit=200),
        kind=kind,
        commons=commons,
        rig=Rig(handle=handle, org=org, token=token),
        role=role,
        wanted_id=wanted_id,
        args=args,
        upstream_token=upstream_token,
    )


def _check_token(token: str, field_name: str) -> None:
    if len(token) > _MAX_TOKEN or any(not (0x21 <= ord(ch) < 0x7F) for ch in token):
        # Never echo the value.
        raise invalid(field_name, "must be printable ASCII without spaces")


def _parse_decision(
    request: control_pb2.RunOperationRequest, commons: Commons, upstream_token: str
) -> Operation:
    """A merge or close of an upstream pull request: maintainers only (decided first), with
    their own token, the upstream credential, or both."""
    if not lifecycle.is_maintainer(request.role):
        raise PermissionDenied("only maintainers and owners may merge or close pull requests")
    cred = request.credential
    if not cred.dolthub_token and not upstream_token:
        raise FailedPrecondition("connect DoltHub first")
    _check_token(cred.dolthub_token, "credential.dolthub_token")
    _check_token(upstream_token, "upstream_credential.dolthub_token")
    org = rigs.check_name(cred.dolthub_org, "credential.dolthub_org") if cred.dolthub_org else ""
    handle = rigs.check_name(cred.rig_handle, "credential.rig_handle") if cred.rig_handle else ""
    if request.wanted_id:
        raise invalid("wanted_id", "must be empty for this operation")
    if not _PULL_ID_RE.match(request.args.pull_id):
        raise invalid("args.pull_id", "must be a pull request number")
    return Operation(
        operation_id=_text(request.operation_id, "operation_id", limit=200),
        kind=request.kind,
        commons=commons,
        rig=Rig(handle=handle, org=org, token=cred.dolthub_token),
        role=request.role,
        wanted_id="",
        args=request.args,
        upstream_token=upstream_token,
    )


def _validate_args(kind: int, args: common_pb2.OperationArgs) -> None:
    if kind == K.OPERATION_KIND_POST:
        _text(args.title, "args.title", required=True, limit=500)
        _text(args.description, "args.description")
        _text(args.project, "args.project", limit=64)
        if args.type and args.type not in POST_TYPES:
            raise invalid("args.type", f"must be one of {', '.join(POST_TYPES)}")
        if args.HasField("priority") and not 0 <= args.priority <= 4:
            raise invalid("args.priority", "must be 0-4")
        if args.effort_level and args.effort_level not in EFFORTS:
            raise invalid("args.effort_level", f"must be one of {', '.join(EFFORTS)}")
        _list(list(args.tags), "args.tags")
    elif kind == K.OPERATION_KIND_DONE:
        if not is_http_url(args.evidence) or len(args.evidence) > 2000:
            raise invalid("evidence", "must be an http(s) URL")
    elif kind == K.OPERATION_KIND_ACCEPT:
        if not 1 <= args.quality <= 5:
            raise invalid("args.quality", "must be 1-5")
        if args.reliability and not 1 <= args.reliability <= 5:
            raise invalid("args.reliability", "must be 1-5")
        if args.severity and args.severity not in SEVERITIES:
            raise invalid("args.severity", f"must be one of {', '.join(SEVERITIES)}")
        _list(list(args.skill_tags), "args.skill_tags")
        _text(args.message, "args.message")
    elif kind == K.OPERATION_KIND_REJECT:
        _text(args.reason, "args.reason")
    elif kind == K.OPERATION_KIND_JOIN:
        _text(args.display_name, "args.display_name", limit=255)
        _text(args.owner_email, "args.owner_email", limit=255)
    elif kind == K.OPERATION_KIND_REGISTER_TOWN:
        rigs.check_name(args.rig_handle, "args.rig_handle")
        _text(args.town_id, "args.town_id", required=True, limit=200)
        if not _EMAIL_RE.match(args.owner_email) or len(args.owner_email) > 254:
            raise invalid("args.owner_email", "must be an email address")


# --------------------------------------------------------------------------- results


def _result(op: Operation, **fields: object) -> common_pb2.OperationResult:
    return common_pb2.OperationResult(
        operation_id=op.operation_id,
        kind=op.kind,
        wanted_id=op.wanted_id,
        rig_handle=op.rig.handle,
        **fields,  # type: ignore[arg-type]
    )


def failed(op: Operation, code: str, message: str) -> common_pb2.OperationResult:
    """A FAILED result with ``code`` (a gRPC status code name)."""
    return _result(op, status=K.OPERATION_STATUS_FAILED, error=message, error_code=code)


def _refused(op: Operation, refusal: Refusal) -> common_pb2.OperationResult:
    return failed(op, refusal.code, refusal.message)


def _run_failed(op: Operation, run: WlRun) -> common_pb2.OperationResult:
    return failed(op, run.error_code(), run.user_message())


def _succeeded(
    op: Operation,
    verified: Verified,
    *,
    branch: str = "",
    landed: Landed | None = None,
    wanted_id: str | None = None,
    sync: SyncOutcome | None = None,
) -> common_pb2.OperationResult:
    result = _result(op, status=K.OPERATION_STATUS_SUCCEEDED)
    if wanted_id is not None:
        result.wanted_id = wanted_id
    if verified.item is not None:
        result.item.CopyFrom(verified.item.to_proto())
    if landed is not None:
        result.branch = branch
        result.pull_request_url = landed.url
    if sync is not None:
        result.fork_sync.CopyFrom(sync.to_proto())
    return result


# --------------------------------------------------------------------------- the flow

Precheck = Callable[[], Awaitable[Refusal | None]]
Verify = Callable[[WlRun | None], Awaitable[Verified | Refusal]]


def _upstream_client(deps: Deps, op: Operation) -> dolthub.DoltHubClient | None:
    return deps.dolthub.with_token(op.upstream_token) if op.upstream_token else None


async def _join_if_needed(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult | None:
    """Join the rig first when this workload has no `wl` config for it; a FAILED result if
    that did not work."""
    run = await rigs.ensure_joined(
        deps.runner, deps.work_dir, op.commons, op.rig, limit_seconds=deps.join_timeout
    )
    if run is None:
        return None
    if not run.ok:
        result = _run_failed(op, run)
        result.error = f"registering rig {op.rig.handle} failed: {run.user_message()}"
        return result
    outcome = await lifecycle.verify_join(client, op.commons, op.rig)
    if isinstance(outcome, Refusal):
        return _refused(op, outcome)
    log.info("rig %s joined %s", op.rig.handle, op.commons.path, extra={"event": "rig_joined"})
    return None


async def _prepare_fork(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient, *, upstream_head: str = ""
) -> SyncOutcome | Refusal | None:
    """Before a write: a lagging fork is brought up to date when an upstream credential
    exists; without one the action goes ahead only when the item it touches looks the
    same on the fork as upstream (else FAILED_PRECONDITION naming the fix). The rig's
    finished branch for the item is removed, so `wl` cuts a fresh one from ``main``.

    Returns the sync that happened (None when the fork was current)."""
    outcome = await forks.bring_up_to_date(
        client,
        _upstream_client(deps, op),
        op.commons,
        op.rig,
        details=deps.pulls,
        known=deps.current_forks,
        upstream_head=upstream_head,
    )
    synced: SyncOutcome | None = None
    if isinstance(outcome, Refusal):
        if outcome.message != forks.NEEDS_UPSTREAM_CREDENTIAL:
            return outcome
        if op.wanted_id and not await lifecycle.fork_agrees(
            client, op.commons, op.rig, op.wanted_id
        ):
            return outcome
    elif outcome.synced:
        synced = outcome
    if op.wanted_id:
        await forks.remove_finished_item_branch(
            client,
            op.commons,
            op.rig,
            op.wanted_id,
            details=deps.pulls,
            known=deps.known_branches,
        )
    return synced


async def _run_wl(
    deps: Deps, op: Operation, args: list[str], *, landed_already: Callable[[], Awaitable[bool]]
) -> WlRun:
    """Run `wl`, retrying after transient DoltHub failures within the retry budget.

    Before each retry the state is read again: when the change is already on the rig's
    branch (`wl` failed after writing it) nothing is run twice.
    """
    deadline = time.monotonic() + deps.retry_budget
    delay = 0.5
    while True:
        run = await deps.runner.run(
            args, rigs.rig_env(deps.work_dir, op.rig), limit_seconds=deps.wl_timeout
        )
        if run.ok or run.error_code() != UNAVAILABLE:
            return run
        try:
            if await landed_already():
                return run
        except (dolthub.Unavailable, dolthub.RateLimited):
            pass
        wait = delay / 2 + deps.jitter() * delay / 2
        if time.monotonic() + wait > deadline:
            return run
        log.info(
            "wl %s hit a transient DoltHub failure; retrying in %.1fs",
            run.verb, wait, extra={"event": "wl_retry", "operation": run.verb},
        )  # fmt: skip
        await deps.sleep(wait)
        delay = min(delay * 2, 8.0)


async def _mutation(
    deps: Deps,
    op: Operation,
    client: dolthub.DoltHubClient,
    args: list[str],
    *,
    precheck: Precheck | None,
    verify: Verify,
    branch_of: Callable[[WlRun | None], str | None],
    text: Callable[[str], Awaitable[PullText]],
    wanted_id: Callable[[WlRun | None], str | None] | None = None,
    branch_may_vanish: bool = False,
    before_wl: Callable[[], Awaitable[None]] | None = None,
    seen: lifecycle.UpstreamHead | None = None,
) -> common_pb2.OperationResult:
    """pre-check → lazy join → fork currency → `wl` (retried) → verification → landing.

    ``branch_of`` names the fork branch that carries the change; ``text`` gives the
    title and body of its pull request should `wl` have left it without one. With
    ``branch_may_vanish`` a verified change whose branch `wl` deleted (an unclaim of a
    claim still in review: `wl` closes that pull request) lands as "no open pull request
    proposes the old state any more". ``seen`` holds the upstream head the pre-check
    read, if it read one.
    """
    if precheck is not None and (refusal := await precheck()) is not None:
        return _refused(op, refusal)
    if (join_failure := await _join_if_needed(deps, op, client)) is not None:
        return join_failure
    prepared = await _prepare_fork(
        deps, op, client, upstream_head=seen.head if seen is not None else ""
    )
    if isinstance(prepared, Refusal):
        return _refused(op, prepared)

    async def on_branch() -> bool:
        return isinstance(await verify(None), Verified)

    if before_wl is not None:
        await before_wl()
    known = deps.known_branches
    if (planned := branch_of(None)) is not None:
        known.may_exist(op.rig.org, op.commons.db, planned)
    run = await _run_wl(deps, op, args, landed_already=on_branch)
    outcome = await verify(run if run.ok else None)
    if run.ok and isinstance(outcome, Refusal) and outcome.code == "FAILED_PRECONDITION":
        # The pre-checks said the change applies, yet `wl` left nothing: it may have taken
        # a failed read for "nothing changed" and cleaned its own branch up (spec 5.3
        # step 7). One more run (state re-read first) tells a glitch from a real no-op.
        log.info("wl %s changed nothing; running it once more", run.verb)
        run = await _run_wl(deps, op, args, landed_already=on_branch)
        outcome = await verify(run if run.ok else None)
    if isinstance(outcome, Refusal):
        if not run.ok:
            return _run_failed(op, run)
        log.warning(
            "wl %s exited 0 but verification failed: %s",
            run.verb,
            outcome.message,
            extra={"event": "verification_failed", "operation": run.verb},
        )
        return _refused(op, outcome)
    branch = branch_of(run if run.ok else None)
    if branch is None:
        return failed(op, "INTERNAL", "the change's branch is unknown")
    new_id = wanted_id(run if run.ok else None) if wanted_id else None
    if branch_may_vanish and outcome.branch_missing:
        # The verification read found the branch gone.
        if not await landing.no_open_pull(
            client,
            op.commons,
            op.rig,
            branch,
            details=deps.pulls,
            last_open=known.pull_of(op.rig.org, op.commons.db, branch),
        ):
            return failed(op, UNAVAILABLE, "the withdrawn pull request is still open; try again")
        known.removed(op.rig.org, op.commons.db, branch)
        return _succeeded(op, outcome, wanted_id=new_id, sync=prepared)
    landed = await landing.land(
        client,
        op.commons,
        op.rig,
        branch,
        text=lambda: text(branch),
        printed_url=run.parsed.pull_request_url if run.ok else None,
        details=deps.pulls,
    )
    if isinstance(landed, Refusal):
        return _refused(op, landed)
    known.landed(op.rig.org, op.commons.db, branch, landed.pull_id)
    return _succeeded(op, outcome, branch=branch, landed=landed, wanted_id=new_id, sync=prepared)


def _item_branch(op: Operation) -> Callable[[WlRun | None], str]:
    return lambda _run: op.rig.branch(op.wanted_id)


def _item_text(
    op: Operation, client: dolthub.DoltHubClient
) -> Callable[[str], Awaitable[PullText]]:
    async def text(_branch: str) -> PullText:
        return await landing.item_text(client, op.commons, op.rig, op.wanted_id)

    return text


async def claim(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Claim an open item; ABORTED "already claimed" when it is not open upstream, another
    rig's pending pull request claims it, or `wl`'s guarded UPDATE silently matched nothing."""

    async def verify(run: WlRun | None) -> Verified | Refusal:
        return await lifecycle.verify_claim(
            client, op.commons, op.rig, op.wanted_id, run.parsed.status if run else None
        )

    seen = lifecycle.UpstreamHead()
    return await _mutation(
        deps,
        op,
        client,
        ["claim", op.wanted_id],
        precheck=lambda: lifecycle.precheck_claim(
            client, op.commons, op.rig, op.wanted_id, details=deps.pulls, seen=seen
        ),
        verify=verify,
        branch_of=_item_branch(op),
        text=_item_text(op, client),
        seen=seen,
    )


async def unclaim(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Put a claimed item back on the board (its claimer, or a maintainer)."""

    async def verify(run: WlRun | None) -> Verified | Refusal:
        return await lifecycle.verify_status(
            client,
            op.commons,
            op.rig,
            op.wanted_id,
            expected="open",
            printed_status=run.parsed.status if run else None,
        )

    return await _mutation(
        deps,
        op,
        client,
        ["unclaim", op.wanted_id],
        precheck=lambda: lifecycle.precheck_unclaim(
            client, op.commons, op.rig, op.wanted_id, op.role
        ),
        verify=verify,
        branch_of=_item_branch(op),
        text=_item_text(op, client),
        branch_may_vanish=True,
    )


async def done(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Submit the claimer's completion with an evidence URL; FAILED_PRECONDITION "not claimed
    by you" for anyone else."""

    async def verify(run: WlRun | None) -> Verified | Refusal:
        # Upstream may have given the item to another rig while wl ran.
        if refusal := await lifecycle.precheck_done(client, op.commons, op.rig, op.wanted_id):
            return refusal
        return await lifecycle.verify_status(
            client,
            op.commons,
            op.rig,
            op.wanted_id,
            expected="in_review",
            printed_status=run.parsed.status if run else None,
            claimed_by=op.rig.handle,
            require_branch=True,
        )

    return await _mutation(
        deps,
        op,
        client,
        ["done", op.wanted_id, f"--evidence={op.args.evidence}"],
        precheck=lambda: lifecycle.precheck_done(client, op.commons, op.rig, op.wanted_id),
        verify=verify,
        branch_of=_item_branch(op),
        text=_item_text(op, client),
    )


async def post(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Post a new wanted item; the result names the id `wl` generated."""
    a = op.args
    args = ["post", f"--title={a.title}"]
    if a.description:
        args.append(f"--description={a.description}")
    if a.project:
        args.append(f"--project={a.project}")
    if a.type:
        args.append(f"--type={a.type}")
    if a.HasField("priority"):
        args.append(f"--priority={a.priority}")
    if a.effort_level:
        args.append(f"--effort={a.effort_level}")
    if tags := _list(list(a.tags), "args.tags"):
        args.append(f"--tags={','.join(tags)}")

    # `wl` prints the new id only when its read-back worked; a post whose run failed late
    # (or printed no id) is found again as the one new branch of the rig that holds an
    # item with this title, so a retry never posts twice.
    found: dict[str, str] = {}
    before: set[str] = set()

    async def remember_branches() -> None:
        with contextlib.suppress(dolthub.NotFound):  # no fork yet: no branches
            before.update(await client.list_branches(op.rig.org, op.commons.db))

    async def find_posted(run: WlRun | None) -> str | None:
        posted = run.parsed.posted_id if run else None
        if posted and lifecycle.WANTED_ID_RE.match(posted):
            found["id"] = posted
        if "id" not in found:
            prefix = f"wl/{op.rig.handle}/"
            fresh = set(await client.list_branches(op.rig.org, op.commons.db)) - before
            for branch in sorted(b for b in fresh if b.startswith(prefix)):
                candidate = branch.removeprefix(prefix)
                row = await lifecycle.rig_item(client, op.commons, op.rig, candidate)
                if row is not None and row.title == a.title and row.posted_by == op.rig.handle:
                    found["id"] = candidate
                    break
        return found.get("id")

    async def verify(run: WlRun | None) -> Verified | Refusal:
        wanted_id = await find_posted(run)
        if wanted_id is None:
            return Refusal(UNAVAILABLE, "DoltHub did not confirm the new item; try again")
        return await lifecycle.verify_posted(client, op.commons, op.rig, wanted_id, a.title)

    async def text(branch: str) -> PullText:
        return await landing.item_text(client, op.commons, op.rig, branch.rsplit("/", 1)[-1])

    return await _mutation(
        deps,
        op,
        client,
        args,
        precheck=None,
        before_wl=remember_branches,
        verify=verify,
        branch_of=lambda _run: op.rig.branch(found["id"]) if "id" in found else None,
        text=text,
        wanted_id=lambda _run: found.get("id"),
    )


async def accept(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Accept a completion in review (a maintainer who is not the claimer) with a stamp."""
    a = op.args
    args = ["accept", op.wanted_id, f"--quality={a.quality}"]
    if a.reliability:
        args.append(f"--reliability={a.reliability}")
    if a.severity:
        args.append(f"--severity={a.severity}")
    if skills := _list(list(a.skill_tags), "args.skill_tags"):
        args.append(f"--skills={','.join(skills)}")
    if a.message:
        args.append(f"--message={a.message}")
    return await _review(deps, op, client, args, action="accept", expected="completed")


async def reject(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Send a completion in review back to its claimer."""
    args = ["reject", op.wanted_id]
    if op.args.reason:
        args.append(f"--reason={op.args.reason}")
    return await _review(deps, op, client, args, action="reject", expected="claimed")


async def close(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Complete an item in review without a stamp (its poster, or a maintainer)."""
    return await _review(
        deps, op, client, ["close", op.wanted_id], action="close", expected="completed"
    )


async def _review(
    deps: Deps,
    op: Operation,
    client: dolthub.DoltHubClient,
    args: list[str],
    *,
    action: str,
    expected: str,
) -> common_pb2.OperationResult:
    async def verify(run: WlRun | None) -> Verified | Refusal:
        outcome = await lifecycle.verify_status(
            client,
            op.commons,
            op.rig,
            op.wanted_id,
            expected=expected,
            printed_status=run.parsed.status if run else None,
            require_branch=True,
        )
        if isinstance(outcome, Verified) and action == "accept":
            return await lifecycle.verify_stamp(client, op.commons, op.rig, op.wanted_id) or outcome
        return outcome

    return await _mutation(
        deps,
        op,
        client,
        args,
        precheck=lambda: lifecycle.precheck_review(
            client,
            op.commons,
            op.rig,
            op.wanted_id,
            action=action,
            role=op.role,
            poster_may=action == "close",
        ),
        verify=verify,
        branch_of=_item_branch(op),
        text=_item_text(op, client),
    )


async def join(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Fork the commons and register the rig (`wl join`); idempotent. The registration is
    a success when the rig is on the upstream, or in an open pull request from its
    registration branch."""
    args = rigs.join_args(
        op.commons, op.rig, display_name=op.args.display_name, email=op.args.owner_email
    )
    run = await deps.runner.run(
        args, rigs.rig_env(deps.work_dir, op.rig), limit_seconds=deps.join_timeout
    )
    if not run.ok:
        return _run_failed(op, run)
    outcome = await lifecycle.verify_join(client, op.commons, op.rig)
    if isinstance(outcome, Refusal):
        return _refused(op, outcome)
    if await lifecycle.rig_on_upstream(client, op.commons, op.rig):
        return _succeeded(op, outcome)
    branch = op.rig.registration_branch
    landed = await landing.land(
        client,
        op.commons,
        op.rig,
        branch,
        text=landing.registration_text(op.rig.handle, op.args.display_name),
        printed_url=run.parsed.pull_request_url,
        details=deps.pulls,
    )
    if isinstance(landed, Refusal):
        return _refused(op, landed)
    return _succeeded(op, outcome, branch=branch, landed=landed)


async def sync(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Bring the rig's fork up to date through the upstream credential and remove its
    branches whose pull requests were merged or closed. FAILED_PRECONDITION without an
    upstream credential, even when the fork is current: a sync that could not have synced
    is not reported as done."""
    if not op.upstream_token:
        return failed(
            op,
            "FAILED_PRECONDITION",
            "the wasteland has no upstream credential: an owner or maintainer must connect"
            " one (PUT /v1/wastelands/{id}/upstream-credential) before forks can be synced",
        )
    outcome = await forks.bring_up_to_date(
        client, _upstream_client(deps, op), op.commons, op.rig, details=deps.pulls
    )
    if isinstance(outcome, Refusal):
        return _refused(op, outcome)
    removed = await forks.remove_finished_branches(client, op.commons, op.rig, details=deps.pulls)
    done_sync = SyncOutcome(
        behind_before=outcome.behind_before,
        behind_after=outcome.behind_after,
        pull_request_url=outcome.pull_request_url,
        branches_removed=removed,
    )
    return _succeeded(op, Verified(), sync=done_sync)


async def register_town(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Register a Gastown town as an agent rig under the caller's rig, by pull request."""
    town = towns.TownRig(
        town_id=op.args.town_id, handle=op.args.rig_handle, owner_email=op.args.owner_email
    )
    if town.handle == op.rig.handle:
        return failed(op, "INVALID_ARGUMENT", "a town needs a rig handle of its own")
    if (refusal := await towns.precheck(client, op.commons, op.rig, town)) is not None:
        return _refused(op, refusal)
    if (join_failure := await _join_if_needed(deps, op, client)) is not None:
        return join_failure
    prepared = await _prepare_fork(deps, op, client)
    if isinstance(prepared, Refusal):
        return _refused(op, prepared)
    await towns.write(client, op.commons, op.rig, town)
    if (refusal := await towns.verify(client, op.commons, op.rig, town)) is not None:
        return _refused(op, refusal)
    landed = await landing.land(
        client,
        op.commons,
        op.rig,
        town.branch,
        text=landing.registration_text(town.handle, f"town {town.town_id}"),
        printed_url=None,
        details=deps.pulls,
    )
    if isinstance(landed, Refusal):
        return _refused(op, landed)
    return _succeeded(op, Verified(), branch=town.branch, landed=landed, sync=prepared)


async def merge_pull(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Merge an upstream pull request (the review inbox), verified on DoltHub."""
    outcome = await reviews.merge(
        op.commons,
        op.args.pull_id,
        rig=op.rig.handle,
        org=op.rig.org,
        own=client if op.rig.token else None,
        upstream=_upstream_client(deps, op),
        confirm=op.args.confirm,
    )
    return _decided(op, outcome)


async def close_pull(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Close an upstream pull request without merging it, verified on DoltHub."""
    outcome = await reviews.close(
        op.commons,
        op.args.pull_id,
        own=client if op.rig.token else None,
        upstream=_upstream_client(deps, op),
    )
    return _decided(op, outcome)


def _decided(op: Operation, outcome: review.Classification | Refusal) -> common_pb2.OperationResult:
    if isinstance(outcome, Refusal):
        result = _refused(op, outcome)
    else:
        result = _result(op, status=K.OPERATION_STATUS_SUCCEEDED)
        result.wanted_id = outcome.wanted_id or ""
        result.pull_request_url = reviews.url(op.commons, op.args.pull_id)
    result.pull_id = op.args.pull_id
    return result


Handler = Callable[[Deps, Operation, dolthub.DoltHubClient], Awaitable[common_pb2.OperationResult]]
HANDLERS: dict[int, Handler] = {
    K.OPERATION_KIND_JOIN: join,
    K.OPERATION_KIND_POST: post,
    K.OPERATION_KIND_CLAIM: claim,
    K.OPERATION_KIND_UNCLAIM: unclaim,
    K.OPERATION_KIND_DONE: done,
    K.OPERATION_KIND_ACCEPT: accept,
    K.OPERATION_KIND_REJECT: reject,
    K.OPERATION_KIND_CLOSE: close,
    K.OPERATION_KIND_SYNC: sync,
    K.OPERATION_KIND_REGISTER_TOWN: register_town,
    K.OPERATION_KIND_MERGE_PULL: merge_pull,
    K.OPERATION_KIND_CLOSE_PULL: close_pull,
}


class Operations:
    """Runs operations one at a time, first come first served, and answers a repeated
    operation id with the result it already produced."""

    def __init__(
        self,
        deps: Deps,
        *,
        cache_size: int = _RESULT_CACHE_SIZE,
        handlers: Mapping[int, Handler] = HANDLERS,
    ) -> None:
        self.deps = deps
        self._handlers = handlers
        # asyncio.Lock wakes waiters in arrival order.
        self._lock = asyncio.Lock()
        self._in_flight = 0
        self._results: OrderedDict[tuple[str, str, int], common_pb2.OperationResult] = OrderedDict()
        self._cache_size = cache_size

    @property
    def in_flight(self) -> int:
        """Operations accepted and not finished (running or waiting for the lock)."""
        return self._in_flight

    async def run(self, op: Operation) -> common_pb2.OperationResult:
        """Run ``op`` after every operation that arrived before it."""
        key = (op.operation_id, op.rig.handle, op.kind)
        self._in_flight += 1
        try:
            async with self._lock:
                if op.operation_id and (cached := self._results.get(key)) is not None:
                    log.info("operation %s already ran; returning its result", op.operation_id)
                    return cached
                result = await self._run_locked(op)
                if op.operation_id:
                    self._remember(key, result)
                return result
        finally:
            self._in_flight -= 1

    async def _run_locked(self, op: Operation) -> common_pb2.OperationResult:
        handler = self._handlers[op.kind]
        client = self.deps.dolthub.with_token(op.rig.token)
        try:
            result = await handler(self.deps, op, client)
        except (dolthub.Unavailable, dolthub.RateLimited) as exc:
            # DoltHub kept failing past the client's own retries: a clean 503, never the
            # request line or status DoltHub answered with.
            log.warning(
                "%s by %s: DoltHub unavailable: %s",
                K.OperationKind.Name(op.kind),
                op.rig.handle,
                exc,
            )
            result = failed(op, UNAVAILABLE, DOLTHUB_UNAVAILABLE)
        log.info(
            "%s %s by %s: %s%s",
            K.OperationKind.Name(op.kind),
            op.wanted_id or op.commons.path,
            op.rig.handle,
            K.OperationStatus.Name(result.status),
            f" {result.error_code}: {result.error}" if result.error_code else "",
            extra={"event": "operation", "operation": K.OperationKind.Name(op.kind)},
        )
        return result

    def _remember(self, key: tuple[str, str, int], result: common_pb2.OperationResult) -> None:
        self._results[key] = result
        self._results.move_to_end(key)
        while len(self._results) > self._cache_size:
            self._results.popitem(last=False)
