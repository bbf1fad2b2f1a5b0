"""The words every service uses for the protos' enums, as types.

The proto stays the one list of values (``wasteland_common.enums`` turns numbers into
these words); these ``Literal`` types let the domain code and the API schemas be checked
against them, and ``tests/common/test_vocabulary.py`` proves they name the same values.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

RuntimeStateName = Literal["sleeping", "starting", "running", "stopping", "failed"]
OperationStatusName = Literal["running", "succeeded", "failed"]
OperationKindName = Literal[
    "join",
    "post",
    "claim",
    "unclaim",
    "done",
    "accept",
    "reject",
    "close",
    "sync",
    "register_town",
    "merge_pull",
    "close_pull",
]
PullStateName = Literal["open", "closed", "merged"]

RUNTIME_STATES: Final[tuple[RuntimeStateName, ...]] = get_args(RuntimeStateName)
OPERATION_STATUSES: Final[tuple[OperationStatusName, ...]] = get_args(OperationStatusName)
OPERATION_KINDS: Final[tuple[OperationKindName, ...]] = get_args(OperationKindName)
PULL_STATES: Final[tuple[PullStateName, ...]] = get_args(PullStateName)
