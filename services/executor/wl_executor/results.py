"""OperationResult values: stored form, the RUNNING placeholder, and failure → error."""

from __future__ import annotations

import logging

import grpc
from google.protobuf import json_format
from wasteland.v1 import common_pb2
from wasteland_common import enums, errors
from wasteland_common.logs import redact
from wasteland_common.vocabulary import OperationStatusName

from .store import OperationRecord

log = logging.getLogger(__name__)

KIND_NAMES: dict[common_pb2.OperationKind, str] = enums.words(common_pb2.OperationKind)
KIND_VALUES: dict[str, common_pb2.OperationKind] = {
    name: value for value, name in KIND_NAMES.items()
}
STATUS_NAMES: dict[common_pb2.OperationStatus, OperationStatusName] = {
    common_pb2.OPERATION_STATUS_RUNNING: "running",
    common_pb2.OPERATION_STATUS_SUCCEEDED: "succeeded",
    common_pb2.OPERATION_STATUS_FAILED: "failed",
}

_ERRORS: dict[grpc.StatusCode, type[errors.DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.ABORTED: errors.Aborted,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceeded,
    grpc.StatusCode.UNIMPLEMENTED: errors.Unimplemented,
}


def to_json(result: common_pb2.OperationResult) -> str:
    """The stored (JSON text) form of an OperationResult."""
    return json_format.MessageToJson(result, preserving_proto_field_name=True, indent=None)


def from_json(text: str) -> common_pb2.OperationResult:
    """An OperationResult from its stored form (fields added later are ignored)."""
    return json_format.Parse(text, common_pb2.OperationResult(), ignore_unknown_fields=True)


def placeholder(record: OperationRecord) -> common_pb2.OperationResult:
    """What a caller sees of an operation that has not finished."""
    return common_pb2.OperationResult(
        operation_id=record.operation_id,
        status=common_pb2.OPERATION_STATUS_RUNNING,
        kind=KIND_VALUES.get(record.kind, common_pb2.OPERATION_KIND_UNSPECIFIED),
        wanted_id=record.wanted_id or "",
    )


def stored(record: OperationRecord) -> common_pb2.OperationResult:
    """The operation's result as stored, or the RUNNING placeholder."""
    if record.result is None:
        return placeholder(record)
    return from_json(record.result)


def failed(
    record: OperationRecord, code: grpc.StatusCode, message: str
) -> common_pb2.OperationResult:
    """A FAILED result for ``record`` with ``code`` and ``message``."""
    return common_pb2.OperationResult(
        operation_id=record.operation_id,
        status=common_pb2.OPERATION_STATUS_FAILED,
        kind=KIND_VALUES.get(record.kind, common_pb2.OPERATION_KIND_UNSPECIFIED),
        wanted_id=record.wanted_id or "",
        error=message,
        error_code=code.name,
    )


def status_code(name: str) -> grpc.StatusCode | None:
    """The gRPC status code named ``name`` (e.g. "ABORTED"), or None."""
    try:
        return grpc.StatusCode[name]
    except KeyError:
        return None


def error_for(result: common_pb2.OperationResult) -> errors.DomainError:
    """The domain error a FAILED result answers Execute with (its code and message)."""
    code = status_code(result.error_code)
    message = redact(result.error) or "the operation failed"
    if code is None or code == grpc.StatusCode.OK:
        log.warning("failed operation with unusable error code %r", result.error_code[:40])
        code = grpc.StatusCode.FAILED_PRECONDITION
    kind = _ERRORS.get(code)
    if kind is None:
        return errors.DomainError(message, code=code)
    if code == grpc.StatusCode.UNAVAILABLE:
        return kind(message, retry_after=30)
    return kind(message)


def raise_if_failed(result: common_pb2.OperationResult) -> common_pb2.OperationResult:
    """``result`` itself when it did not fail; else raise its error."""
    if result.status == common_pb2.OPERATION_STATUS_FAILED:
        raise error_for(result)
    return result
