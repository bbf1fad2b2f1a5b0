"""wasteland_common.enums derives API words from the proto enums."""

import pytest
from wasteland.v1 import common_pb2
from wasteland_common import enums


def test_words_drop_prefix_and_unspecified() -> None:
    assert enums.words(common_pb2.OperationKind) == {
        common_pb2.OPERATION_KIND_JOIN: "join",
        common_pb2.OPERATION_KIND_POST: "post",
        common_pb2.OPERATION_KIND_CLAIM: "claim",
        common_pb2.OPERATION_KIND_UNCLAIM: "unclaim",
        common_pb2.OPERATION_KIND_DONE: "done",
        common_pb2.OPERATION_KIND_ACCEPT: "accept",
        common_pb2.OPERATION_KIND_REJECT: "reject",
        common_pb2.OPERATION_KIND_CLOSE: "close",
        common_pb2.OPERATION_KIND_SYNC: "sync",
        common_pb2.OPERATION_KIND_REGISTER_TOWN: "register_town",
        common_pb2.OPERATION_KIND_MERGE_PULL: "merge_pull",
        common_pb2.OPERATION_KIND_CLOSE_PULL: "close_pull",
    }
    assert enums.word(common_pb2.Visibility, common_pb2.VISIBILITY_PRIVATE) == "private"
    assert enums.word(common_pb2.Visibility, common_pb2.VISIBILITY_UNSPECIFIED) is None
    assert enums.word(common_pb2.Visibility, 99) is None


@pytest.mark.parametrize(
    "enum_type",
    [
        common_pb2.OperationKind,
        common_pb2.RuntimeState,
        common_pb2.MemberRole,
        common_pb2.WastelandStatus,
        common_pb2.OperationStatus,
        common_pb2.MemberSource,
    ],
)
def test_round_trip(enum_type: object) -> None:
    for value, word in enums.words(enum_type).items():
        assert enums.number(enum_type, word) == value
    assert enums.number(enum_type, "no-such-word") is None
