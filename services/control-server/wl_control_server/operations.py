"""One function per operation kind: validate, pre-check, run `wl`, verify, report.

:class:`Operations` runs them one at a time (a FIFO lock: `wl` shares per-rig config
directories and DoltHub branches, and two concurrent mutations of one item would race) and
remembers recent results by operation id so a retried call does not mutate twice.
Expected failures come back as ``OperationResult(status=FAILED, error_code=<gRPC code>)``;
only a malformed request or a refused role raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from wasteland.v1 import common_pb2, control_pb2
from wasteland_common import dolthub
from wasteland_common.errors import FailedPrecondition, PermissionDenied, invalid

from . import lifecycle, rigs
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
_MAX_TEXT = 10_000
_MAX_TOKEN = 4096
_RESULT_CACHE_SIZE = 1000


@dataclass(frozen=True)
class Deps:
    """What operations need: the `wl` runner, a DoltHub client (token-less; each call acts
    with the caller's token), where rig directories live, and the time limits."""

    runner: WlRunner
    dolthub: dolthub.DoltHubClient
    work_dir: Path
    wl_timeout: float
    join_timeout: float


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
    if not token:
        raise FailedPrecondition("connect DoltHub first")
    if len(token) > _MAX_TOKEN or any(not (0x21 <= ord(ch) < 0x7F) for ch in token):
        # Never echo the value.
        raise invalid("credential.dolthub_token", "must be printable ASCII without spaces")
    org = rigs.check_name(cred.dolthub_org, "credential.dolthub_org")
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
    return failed(op, run.error_code(), run.error_message())


def _succeeded(
    op: Operation, run: WlRun, verified: Verified, *, wanted_id: str | None = None
) -> common_pb2.OperationResult:
    result = _result(op, status=K.OPERATION_STATUS_SUCCEEDED)
    if wanted_id is not None:
        result.wanted_id = wanted_id
    if verified.item is not None:
        result.item.CopyFrom(verified.item.to_proto())
    result.branch = run.parsed.branch or ""
    result.pull_request_url = run.parsed.pull_request_url or ""
    return result


# --------------------------------------------------------------------------- the flow

Precheck = Callable[[], Awaitable[Refusal | None]]
Verify = Callable[[WlRun], Awaitable[Verified | Refusal]]


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
        result.error = f"registering rig {op.rig.handle} failed: {result.error}"
        return result
    outcome = await lifecycle.verify_join(client, op.commons, op.rig)
    if isinstance(outcome, Refusal):
        return _refused(op, outcome)
    log.info("rig %s joined %s", op.rig.handle, op.commons.path, extra={"event": "rig_joined"})
    return None


async def _mutation(
    deps: Deps,
    op: Operation,
    client: dolthub.DoltHubClient,
    args: list[str],
    *,
    precheck: Precheck | None,
    verify: Verify,
    wanted_id: Callable[[WlRun], str | None] | None = None,
) -> common_pb2.OperationResult:
    """pre-check → lazy join → `wl` → verification."""
    if precheck is not None and (refusal := await precheck()) is not None:
        return _refused(op, refusal)
    if (join_failure := await _join_if_needed(deps, op, client)) is not None:
        return join_failure
    run = await deps.runner.run(
        args, rigs.rig_env(deps.work_dir, op.rig), limit_seconds=deps.wl_timeout
    )
    if not run.ok:
        return _run_failed(op, run)
    outcome = await verify(run)
    if isinstance(outcome, Refusal):
        log.warning(
            "wl %s exited 0 but verification failed: %s",
            run.verb,
            outcome.message,
            extra={"event": "verification_failed", "operation": run.verb},
        )
        return _refused(op, outcome)
    return _succeeded(op, run, outcome, wanted_id=wanted_id(run) if wanted_id else None)


async def claim(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Claim an open item; ABORTED "already claimed" when it is not open upstream, another
    rig's pending pull request claims it, or `wl`'s guarded UPDATE silently matched nothing."""

    async def verify(run: WlRun) -> Verified | Refusal:
        return await lifecycle.verify_claim(
            client, op.commons, op.rig, op.wanted_id, run.parsed.status
        )

    return await _mutation(
        deps,
        op,
        client,
        ["claim", op.wanted_id],
        precheck=lambda: lifecycle.precheck_claim(client, op.commons, op.rig, op.wanted_id),
        verify=verify,
    )


async def unclaim(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Put a claimed item back on the board (its claimer, or a maintainer)."""

    async def verify(run: WlRun) -> Verified | Refusal:
        return await lifecycle.verify_status(
            client,
            op.commons,
            op.rig,
            op.wanted_id,
            expected="open",
            printed_status=run.parsed.status,
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
    )


async def done(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Submit the claimer's completion with an evidence URL; FAILED_PRECONDITION "not claimed
    by you" for anyone else."""

    async def verify(run: WlRun) -> Verified | Refusal:
        # Upstream may have given the item to another rig while wl ran.
        if refusal := await lifecycle.precheck_done(client, op.commons, op.rig, op.wanted_id):
            return refusal
        return await lifecycle.verify_status(
            client,
            op.commons,
            op.rig,
            op.wanted_id,
            expected="in_review",
            printed_status=run.parsed.status,
            claimed_by=op.rig.handle,
        )

    return await _mutation(
        deps,
        op,
        client,
        ["done", op.wanted_id, f"--evidence={op.args.evidence}"],
        precheck=lambda: lifecycle.precheck_done(client, op.commons, op.rig, op.wanted_id),
        verify=verify,
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

    async def verify(run: WlRun) -> Verified | Refusal:
        new_id = run.parsed.posted_id
        if not new_id or not lifecycle.WANTED_ID_RE.match(new_id):
            return Refusal("INTERNAL", "wl post did not report the new item's id")
        return await lifecycle.verify_posted(client, op.commons, op.rig, new_id, a.title)

    return await _mutation(
        deps,
        op,
        client,
        args,
        precheck=None,
        verify=verify,
        wanted_id=lambda run: run.parsed.posted_id,
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
    async def verify(run: WlRun) -> Verified | Refusal:
        outcome = await lifecycle.verify_status(
            client,
            op.commons,
            op.rig,
            op.wanted_id,
            expected=expected,
            printed_status=run.parsed.status,
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
    )


async def join(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """Fork the commons and register the rig (`wl join`); idempotent."""
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
    result = _succeeded(op, run, outcome)
    if not result.branch and run.parsed.already_joined is None:
        result.branch = op.rig.registration_branch
    return result


async def sync(
    deps: Deps, op: Operation, client: dolthub.DoltHubClient
) -> common_pb2.OperationResult:
    """`wl sync` (a no-op in remote mode: reads are always fresh)."""

    async def verify(run: WlRun) -> Verified | Refusal:
        return Verified()

    return await _mutation(deps, op, client, ["sync"], precheck=None, verify=verify)


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
}


class Operations:
    """Runs operations one at a time, first come first served, and answers a repeated
    operation id with the result it already produced."""

    def __init__(self, deps: Deps, *, cache_size: int = _RESULT_CACHE_SIZE) -> None:
        self.deps = deps
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
        handler = HANDLERS[op.kind]
        client = self.deps.dolthub.with_token(op.rig.token)
        result = await handler(self.deps, op, client)
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
