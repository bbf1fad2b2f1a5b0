"""The one mapping from failures to HTTP: gRPC status codes, validation errors, the rest.

Every error the gateway answers has the envelope of ``api.md``:
``{"error": {"code": "<GRPC_CODE_NAME>", "message": "...", "details": [...]}}``.
No input yields a 500 with a traceback: anything unexpected becomes ``INTERNAL``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from google.rpc import error_details_pb2, status_pb2
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from wasteland_common import logs

log = logging.getLogger(__name__)

HTTP_STATUS: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
_DETAILS_KEY = "grpc-status-details-bin"
# When a backend is unreachable and said nothing about when to retry.
DEFAULT_RETRY_AFTER_SECONDS = 5
# Messages that replace whatever a failing transport or an unexpected error said: those
# texts can name internal addresses or carry exception text.
_GENERIC_MESSAGES: Mapping[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: "a backend service is unavailable; try again later",
    grpc.StatusCode.DEADLINE_EXCEEDED: "a backend service did not answer in time",
    grpc.StatusCode.CANCELLED: "the request was cancelled",
    grpc.StatusCode.UNIMPLEMENTED: "not implemented",
    grpc.StatusCode.UNAUTHENTICATED: "Invalid token",
}
INTERNAL_MESSAGE = "internal error"
OUT_OF_RANGE_CODE = grpc.StatusCode.OUT_OF_RANGE
_SERVER_FAULTS = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS)


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status ``api.md`` assigns to a gRPC status code (500 for the rest)."""
    return HTTP_STATUS.get(code, 500)


def code_by_name(name: str) -> grpc.StatusCode | None:
    """The gRPC status code called ``name`` (e.g. "ABORTED"), or None."""
    for code in grpc.StatusCode:
        if code.name == name:
            return code
    return None


@dataclass
class ApiError(Exception):
    """An error answered to the HTTP client with the envelope and the mapped status."""

    code: grpc.StatusCode
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def status_code(self) -> int:
        """The HTTP status of this error."""
        return http_status(self.code)

    def body(self) -> dict[str, Any]:
        """The JSON envelope."""
        return {"error": {"code": self.code.name, "message": self.message, "details": self.details}}


def invalid(field_name: str, description: str) -> ApiError:
    """A 400 INVALID_ARGUMENT naming the field at fault."""
    return ApiError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"{field_name}: {description}",
        [{"field": field_name, "description": description}],
    )


def unauthenticated(message: str) -> ApiError:
    """A 401 with the ``WWW-Authenticate`` challenge."""
    return ApiError(
        grpc.StatusCode.UNAUTHENTICATED, message, headers={"WWW-Authenticate": "Bearer"}
    )


def _rich_status(trailing: Iterable[tuple[str, str | bytes]] | None) -> Any:
    for key, value in trailing or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except Exception:  # a malformed detail must not turn a clean error into a 500
                log.warning("unparseable %s from a backend", _DETAILS_KEY)
                return None
    return None


def _violations_and_retry(status: Any) -> tuple[list[dict[str, Any]], int | None]:
    details: list[dict[str, Any]] = []
    retry_after: int | None = None
    for any_detail in status.details:
        if any_detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            any_detail.Unpack(bad)
            details.extend(
                {"field": v.field, "description": logs.redact(v.description)}
                for v in bad.field_violations
            )
        elif any_detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            any_detail.Unpack(info)
            seconds = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
            retry_after = max(1, math.ceil(seconds))
    return details, retry_after


def from_rpc_error(exc: grpc.aio.AioRpcError) -> ApiError:
    """Translate a failed gRPC call into the HTTP error ``api.md`` prescribes.

    A status the backend built on purpose (it carries ``google.rpc.Status`` details)
    keeps its message; field violations become ``details`` entries and ``RetryInfo``
    becomes ``Retry-After``. Transport failures and 5xx-class codes get generic
    messages, so no internal address or exception text leaks.
    """
    code = exc.code()
    rich = _rich_status(exc.trailing_metadata())
    details: list[dict[str, Any]] = []
    retry_after: int | None = None
    if rich is not None:
        details, retry_after = _violations_and_retry(rich)
    if http_status(code) == 500:
        if code not in _SERVER_FAULTS:
            code = grpc.StatusCode.INTERNAL
        message = INTERNAL_MESSAGE
    elif code == grpc.StatusCode.UNAUTHENTICATED:
        return unauthenticated(_GENERIC_MESSAGES[code])
    elif rich is None and code in _GENERIC_MESSAGES:
        message = _GENERIC_MESSAGES[code]
    else:
        message = logs.redact(exc.details() or "") or _GENERIC_MESSAGES.get(code, code.name)
    headers: dict[str, str] = {}
    if code == grpc.StatusCode.UNAVAILABLE:
        headers["Retry-After"] = str(retry_after or DEFAULT_RETRY_AFTER_SECONDS)
    elif retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return ApiError(code, message, details, headers)


def _field_path(loc: Sequence[int | str]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    if not parts:
        return "body"
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text


def from_validation_error(exc: RequestValidationError) -> ApiError:
    """A 400 INVALID_ARGUMENT naming every field at fault (never echoing the input)."""
    details: list[dict[str, Any]] = []
    for error in exc.errors():
        loc = error.get("loc", ())
        if error.get("type") == "json_invalid":
            reason = str((error.get("ctx") or {}).get("error", "malformed JSON"))
            details.append({"field": "body", "description": f"invalid JSON: {reason}"})
            continue
        message = str(error.get("msg", "invalid value"))
        details.append({"field": _field_path(loc), "description": logs.redact(message)})
    if not details:
        details.append({"field": "body", "description": "invalid request"})
    first = details[0]
    return ApiError(
        grpc.StatusCode.INVALID_ARGUMENT, f"{first['field']}: {first['description']}", details
    )


_HTTP_TO_CODE: Mapping[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    409: grpc.StatusCode.ABORTED,
    413: grpc.StatusCode.OUT_OF_RANGE,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def _http_exception_response(exc: StarletteHTTPException) -> Response:
    code = _HTTP_TO_CODE.get(
        exc.status_code,
        grpc.StatusCode.INVALID_ARGUMENT if exc.status_code < 500 else grpc.StatusCode.INTERNAL,
    )
    message = str(exc.detail) if exc.status_code < 500 else INTERNAL_MESSAGE
    body = ApiError(code, message).body()
    headers = dict(exc.headers or {})
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def error_response(error: ApiError, request: Request | None = None) -> Response:
    """The JSON response for ``error``; keeps rate-limit headers already decided."""
    headers = dict(getattr(request.state, "ratelimit_headers", {}) if request else {})
    headers.update(error.headers)
    return JSONResponse(error.body(), status_code=error.status_code, headers=headers)


def internal_error_body() -> bytes:
    """The serialized envelope of an unexpected failure."""
    import json

    return json.dumps(ApiError(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE).body()).encode()


def install(app: FastAPI, *, precheck: Callable[[Request], Awaitable[None]]) -> None:
    """Register the handlers that turn every failure into the envelope.

    ``precheck`` runs before a request-validation error is reported, so a request that
    is both unauthenticated and malformed answers 401 (FastAPI parses a JSON body
    before it resolves the authentication dependency).
    """

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc, request)

    async def on_rpc_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, grpc.aio.AioRpcError)
        error = from_rpc_error(exc)
        if error.status_code >= 500:
            log.warning(
                "%s %s: backend answered %s", request.method, request.url.path, exc.code().name
            )
        return error_response(error, request)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        try:
            await precheck(request)
        except ApiError as auth_error:
            return error_response(auth_error, request)
        return error_response(from_validation_error(exc), request)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _http_exception_response(exc)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(grpc.aio.AioRpcError, on_rpc_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
