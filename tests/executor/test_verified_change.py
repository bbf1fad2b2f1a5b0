"""What the executor hands board-sync after an action, so the board records the verified
change instead of re-reading DoltHub (issue 10)."""

from __future__ import annotations

from wasteland.v1 import board_pb2, common_pb2
from wl_executor.operations import verified_change

K = common_pb2
PULL = "https://www.dolthub.com/repositories/hop/wl-commons/pulls/12"


def _result(**fields: object) -> common_pb2.OperationResult:
    return common_pb2.OperationResult(
        status=K.OPERATION_STATUS_SUCCEEDED,
        wanted_id="w-1",
        rig_handle="alice",
        **fields,  # type: ignore[arg-type]
    )


def test_a_landed_claim_is_the_item_as_verified_and_its_pull_request() -> None:
    result = _result(
        branch="wl/alice/w-1",
        pull_request_url=PULL,
        item=common_pb2.WantedItem(wanted_id="w-1", status="claimed", claimed_by="alice"),
    )

    assert verified_change(K.OPERATION_KIND_CLAIM, result, "alice") == board_pb2.VerifiedChange(
        wanted_id="w-1", rig_handle="alice", pull_id="12", status="claimed", claimed_by="alice"
    )


def test_an_unclaim_whose_branch_is_gone_withdraws_the_rigs_proposal() -> None:
    result = _result(item=common_pb2.WantedItem(wanted_id="w-1", status="open"))

    assert verified_change(K.OPERATION_KIND_UNCLAIM, result, "alice") == board_pb2.VerifiedChange(
        wanted_id="w-1", rig_handle="alice"
    )


def test_anything_else_leaves_board_sync_to_read_dolthub() -> None:
    item = common_pb2.WantedItem(wanted_id="w-1", status="claimed", claimed_by="alice")
    # No pull request (the upstream may have moved), a post (no cached item), a sync, an
    # address that names no pull request.
    assert verified_change(K.OPERATION_KIND_CLAIM, _result(item=item), "alice") is None
    posted = _result(pull_request_url=PULL, item=item)
    assert verified_change(K.OPERATION_KIND_POST, posted, "alice") is None
    assert verified_change(K.OPERATION_KIND_SYNC, _result(), "alice") is None
    odd = _result(pull_request_url="https://example.com/x", item=item)
    assert verified_change(K.OPERATION_KIND_CLAIM, odd, "alice") is None
