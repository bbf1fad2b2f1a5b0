"""Mode-aware mutations and reads (the real CLI's ``internal/sdk``).

PR mode (the only mode remote ``wl`` can write in): every mutation writes the branch
``wl/<rig>/<id>`` on the fork, reads the item back from that branch (falling back to
upstream main), cleans the branch up when the write left the item in its fork-main state
(``reverted — branch cleaned up``) and otherwise opens a pull request automatically. A
guarded UPDATE that matched no row is *not* an error anywhere in this flow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from . import dml
from .commons import (
    DB,
    CompletionRecord,
    FullDetail,
    Stamp,
    WantedItem,
    available_transitions,
    compute_delta,
    query_completion,
    query_full_detail,
    resolve_item_state,
    status_or_empty,
)
from .env import Clock
from .errors import WlError
from .wire import PendingState


@dataclass
class DetailResult:
    item: WantedItem | None = None
    completion: CompletionRecord | None = None
    stamp: Stamp | None = None
    branch: str = ""
    branch_url: str = ""
    main_status: str = ""
    pr_url: str = ""
    delta: str = ""
    actions: list[str] = field(default_factory=list)
    upstream_prs: list[PendingState] = field(default_factory=list)


@dataclass
class MutationResult:
    detail: DetailResult | None = None
    branch: str = ""
    hint: str = ""


@dataclass
class Callbacks:
    """Provider hooks wired by the CLI (``newSDKClient``); None disables a feature."""

    create_pr: Callable[[str], str] | None = None
    check_pr: Callable[[str], str] | None = None
    close_pr: Callable[[str], None] | None = None
    list_pending: Callable[[], dict[str, list[PendingState]]] | None = None
    branch_url: Callable[[str], str] | None = None


@dataclass
class AcceptInput:
    quality: int
    reliability: int
    severity: str
    skill_tags: list[str]
    message: str


@dataclass
class Client:
    db: DB
    rig_handle: str
    mode: str
    hop_uri: str = ""
    no_push: bool = False
    callbacks: Callbacks = field(default_factory=Callbacks)
    clock: Clock = field(default_factory=Clock)

    # --- mutation machinery ---------------------------------------------------------------

    def _mutate(self, wanted_id: str, stmts: list[str]) -> MutationResult:
        if self.mode == "pr":
            return self._mutate_pr(wanted_id, stmts)
        self.db.can_wild_west()  # remote mode has no wild-west: always raises
        raise AssertionError("unreachable")

    def _mutate_pr(self, wanted_id: str, stmts: list[str]) -> MutationResult:
        branch = dml.branch_name(self.rig_handle, wanted_id)
        main_status = status_or_empty(self.db, wanted_id, "main")
        self.db.exec(branch, stmts)
        result = self._pr_result(wanted_id, branch, main_status)
        detail = result.detail
        assert detail is not None
        if self.no_push:
            # The write already reached DoltHub; only cleanup and the PR are skipped.
            result.hint = "changes saved locally (--no-push)"
            return result
        if main_status != "" and detail.item is not None and detail.item.status == main_status:
            self._cleanup_branch(branch)
            detail.branch = detail.branch_url = detail.main_status = ""
            detail.delta = detail.pr_url = ""
            result.branch = ""
            result.hint = "reverted — branch cleaned up"
        if result.branch and detail.pr_url == "" and self.callbacks.create_pr is not None:
            try:
                detail.pr_url = self.callbacks.create_pr(result.branch)
            except WlError as exc:
                result.hint = f"PR creation failed: {exc}"
        return result

    def _read_full(self, wanted_id: str, ref: str) -> FullDetail:
        try:
            return query_full_detail(self.db, wanted_id, ref)
        except WlError:
            return FullDetail()

    def _pr_result(self, wanted_id: str, branch: str, main_status: str) -> MutationResult:
        full = self._read_full(wanted_id, branch)
        if full.item is None:
            full = self._read_full(wanted_id, "")
        detail = DetailResult(
            item=full.item,
            completion=full.completion,
            stamp=full.stamp,
            branch=branch,
            main_status=main_status,
        )
        if full.item is not None:
            detail.actions = available_transitions(full.item, self.rig_handle)
            detail.delta = compute_delta(main_status, full.item.status, True)
        if branch and self.callbacks.check_pr is not None:
            detail.pr_url = self.callbacks.check_pr(branch)
        if branch and self.callbacks.branch_url is not None:
            detail.branch_url = self.callbacks.branch_url(branch)
        return MutationResult(detail=detail, branch=branch)

    def _idempotent(self, wanted_id: str, target: str) -> MutationResult | None:
        """The branch's current state when it already shows ``target`` (and differs from
        the fork's main): the mutation is then skipped without a write."""
        if self.mode != "pr":
            return None
        branch = dml.branch_name(self.rig_handle, wanted_id)
        branch_status = status_or_empty(self.db, wanted_id, branch)
        if branch_status != target:
            return None
        main_status = status_or_empty(self.db, wanted_id, "main")
        if branch_status == main_status:
            return None
        return self._pr_result(wanted_id, branch, main_status)

    def _cleanup_branch(self, branch: str) -> None:
        if self.callbacks.close_pr is not None:
            with contextlib.suppress(WlError):
                self.callbacks.close_pr(branch)
        try:
            self.db.delete_branch(branch)
        except WlError:
            self._clear_branch_data(branch)
            return
        # The real CLI deletes the "remote" branch too, which for the API backend is the
        # same branch again; the second call fails and is ignored.
        with contextlib.suppress(WlError):
            self.db.delete_branch(branch)

    def _clear_branch_data(self, branch: str) -> None:
        parts = branch.split("/", 2)
        if len(parts) != 3 or parts[0] != "wl":
            return
        with contextlib.suppress(WlError):
            self.db.exec(branch, [dml.delete_completions(parts[2])])
            self.db.exec(branch, [dml.delete_wanted_row(parts[2])])

    # --- mutations ------------------------------------------------------------------------

    def claim(self, wanted_id: str) -> MutationResult:
        return self._idempotent(wanted_id, "claimed") or self._mutate(
            wanted_id, [dml.claim_wanted(wanted_id, self.rig_handle)]
        )

    def unclaim(self, wanted_id: str) -> MutationResult:
        return self._idempotent(wanted_id, "open") or self._mutate(
            wanted_id, [dml.unclaim_wanted(wanted_id)]
        )

    def done(self, wanted_id: str, evidence: str) -> MutationResult:
        early = self._idempotent(wanted_id, "in_review")
        if early is not None:
            return early
        completion_id = dml.generate_prefixed_id("c", [wanted_id, self.rig_handle], self.clock)
        stmts = dml.submit_completion(
            completion_id, wanted_id, self.rig_handle, evidence, self.hop_uri
        )
        return self._mutate(wanted_id, stmts)

    def accept(self, wanted_id: str, data: AcceptInput) -> MutationResult:
        early = self._idempotent(wanted_id, "completed")
        if early is not None:
            return early
        try:
            completion = query_completion(self.db, wanted_id, "")
        except WlError as exc:
            raise exc.wrap("querying completion") from exc
        if completion.completed_by == self.rig_handle:
            raise WlError("cannot accept your own completion")
        stamp = dml.StampInput(
            id=dml.generate_prefixed_id("s", [wanted_id, self.rig_handle], self.clock),
            subject=completion.completed_by,
            quality=data.quality,
            reliability=data.reliability,
            severity=data.severity,
            skill_tags=data.skill_tags,
            message=data.message,
        )
        stmts = dml.accept_completion(
            wanted_id, completion.id, self.rig_handle, self.hop_uri, stamp
        )
        return self._mutate(wanted_id, stmts)

    def reject(self, wanted_id: str) -> MutationResult:
        # The reason only goes into the commit message, which the API backend ignores.
        return self._idempotent(wanted_id, "claimed") or self._mutate(
            wanted_id, dml.reject_completion(wanted_id)
        )

    def close(self, wanted_id: str) -> MutationResult:
        return self._idempotent(wanted_id, "completed") or self._mutate(
            wanted_id, [dml.close_wanted(wanted_id)]
        )

    def delete(self, wanted_id: str) -> MutationResult:
        if self.mode == "pr":
            early = self._idempotent(wanted_id, "withdrawn")
            if early is not None:
                return early
            branch = dml.branch_name(self.rig_handle, wanted_id)
            if status_or_empty(self.db, wanted_id, "main") == "":
                self._cleanup_branch(branch)
                return MutationResult(branch=branch, hint="branch-only item — branch deleted")
        return self._mutate(wanted_id, [dml.delete_wanted(wanted_id)])

    def post(self, item: dml.NewWanted) -> MutationResult:
        item.id = dml.generate_wanted_id(item.title, self.clock)
        item.posted_by = self.rig_handle
        try:
            stmt = dml.insert_wanted(item, self.clock)
        except dml.DmlError as exc:
            raise WlError(str(exc)) from exc
        return self._mutate(item.id, [stmt])

    def update(self, wanted_id: str, fields: dml.WantedUpdate) -> MutationResult:
        try:
            stmt = dml.update_wanted(wanted_id, fields)
        except dml.DmlError as exc:
            raise WlError(str(exc)) from exc
        return self._mutate(wanted_id, [stmt])

    # --- reads ----------------------------------------------------------------------------

    def detail(self, wanted_id: str) -> DetailResult:
        """Everything ``wl status`` shows; PR mode overlays your branch on upstream."""
        if self.mode == "pr":
            state = resolve_item_state(self.db, self.rig_handle, wanted_id)
            effective = state.effective()
            if effective is not None:
                result = DetailResult(
                    item=effective,
                    completion=state.completion,
                    stamp=state.stamp,
                    branch=state.branch_name,
                    delta=state.delta(),
                    actions=available_transitions(effective, self.rig_handle),
                    main_status=state.main.status if state.main else "",
                )
                if state.branch_name and self.callbacks.check_pr is not None:
                    result.pr_url = self.callbacks.check_pr(state.branch_name)
                if state.branch_name and self.callbacks.branch_url is not None:
                    result.branch_url = self.callbacks.branch_url(state.branch_name)
                result.upstream_prs = self._upstream_prs(wanted_id)
                return result
        full = query_full_detail(self.db, wanted_id, "")
        result = DetailResult(
            item=full.item,
            completion=full.completion,
            stamp=full.stamp,
            actions=available_transitions(full.item, self.rig_handle),
        )
        result.upstream_prs = self._upstream_prs(wanted_id)
        return result

    def _upstream_prs(self, wanted_id: str) -> list[PendingState]:
        if self.callbacks.list_pending is None:
            return []
        try:
            return self.callbacks.list_pending().get(wanted_id, [])
        except WlError:
            return []
