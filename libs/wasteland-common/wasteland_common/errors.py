"""Domain errors and their one mapping to gRPC status codes.

Domain code raises these; servicers never build status codes by hand. The gateway maps
the gRPC code to HTTP (see ``wl_gateway.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc


@dataclass(frozen=True)
class FieldViolation:
    """A request field at fault and why."""

    field: str
    description: str


@dataclass
class DomainError(Exception):
    """Base of every error a service reports to its caller on purpose."""

    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    retry_after: float | None = None
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _kind(name: str, status: grpc.StatusCode) -> type[DomainError]:
    def post_init(self: DomainError) -> None:
        self.code = status
        DomainError.__post_init__(self)

    return dataclass(type(name, (DomainError,), {"__post_init__": post_init}))


InvalidArgument = _kind("InvalidArgument", grpc.StatusCode.INVALID_ARGUMENT)
FailedPrecondition = _kind("FailedPrecondition", grpc.StatusCode.FAILED_PRECONDITION)
NotFound = _kind("NotFound", grpc.StatusCode.NOT_FOUND)
AlreadyExists = _kind("AlreadyExists", grpc.StatusCode.ALREADY_EXISTS)
PermissionDenied = _kind("PermissionDenied", grpc.StatusCode.PERMISSION_DENIED)
Unauthenticated = _kind("Unauthenticated", grpc.StatusCode.UNAUTHENTICATED)
Aborted = _kind("Aborted", grpc.StatusCode.ABORTED)
ResourceExhausted = _kind("ResourceExhausted", grpc.StatusCode.RESOURCE_EXHAUSTED)
Unavailable = _kind("Unavailable", grpc.StatusCode.UNAVAILABLE)
DeadlineExceeded = _kind("DeadlineExceeded", grpc.StatusCode.DEADLINE_EXCEEDED)
Unimplemented = _kind("Unimplemented", grpc.StatusCode.UNIMPLEMENTED)


def invalid(field_name: str, description: str) -> DomainError:
    """An INVALID_ARGUMENT error naming the field at fault."""
    return InvalidArgument(
        f"{field_name}: {description}", [FieldViolation(field_name, description)]
    )
