"""The shared words name exactly the values of the protos' enums."""

from __future__ import annotations

from typing import Any

import pytest
from wasteland.v1 import board_pb2, common_pb2
from wasteland_common import enums, review, vocabulary


@pytest.mark.parametrize(
    ("enum_type", "names"),
    [
        (common_pb2.RuntimeState, vocabulary.RUNTIME_STATES),
        (common_pb2.OperationStatus, vocabulary.OPERATION_STATUSES),
        (common_pb2.OperationKind, vocabulary.OPERATION_KINDS),
        (board_pb2.PullState, vocabulary.PULL_STATES),
        (board_pb2.PullKind, review.PULL_KINDS),
    ],
)
def test_the_words_are_the_enums_values(enum_type: Any, names: tuple[str, ...]) -> None:
    assert sorted(enums.words(enum_type).values()) == sorted(names)
