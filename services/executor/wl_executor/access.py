"""Who may call the executor, and the shape of the ids it accepts."""

from __future__ import annotations

import re

from wasteland_common import errors
from wasteland_common.auth import CallerIdentity, Principal

# Services whose forwarded user principal we honour; a call from anything else (or with
# no service identity) is refused before the user token is even looked at.
KNOWN_SERVICES = ("gateway", "registry", "board-sync", "executor")
# Services that may stop a workload on their own authority (the gateway when a wasteland
# is deleted, after the registry authorized the delete).
STOPPING_SERVICES = ("gateway", "registry")

# Wasteland ids become directory names under WORK_DIR: no dots, no slashes.
WASTELAND_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
WANTED_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
OPERATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def user_call(caller: CallerIdentity) -> tuple[Principal, str]:
    """The user a known service calls for, with their JWT to forward.

    PERMISSION_DENIED without a known service identity; UNAUTHENTICATED without a user.
    """
    caller.require_service(*KNOWN_SERVICES)
    principal = caller.require_user()
    if not caller.user_token:
        raise errors.Unauthenticated("Authentication required")
    return principal, caller.user_token


def wasteland_id(value: str) -> str:
    """A well-formed wasteland id, or INVALID_ARGUMENT naming the field."""
    if not value:
        raise errors.invalid("wasteland_id", "required")
    if not WASTELAND_ID.fullmatch(value):
        raise errors.invalid("wasteland_id", "not a valid wasteland id")
    return value


def wanted_id(value: str) -> str:
    """A well-formed wanted item id, or INVALID_ARGUMENT naming the field."""
    if not WANTED_ID.fullmatch(value):
        raise errors.invalid(
            "wanted_id", "must be 1-64 letters, digits, '_', '.' or '-', starting alnum"
        )
    return value


def operation_id(value: str) -> str:
    """A well-formed operation id, or INVALID_ARGUMENT naming the field."""
    if not value:
        raise errors.invalid("operation_id", "required")
    if not OPERATION_ID.fullmatch(value):
        raise errors.invalid("operation_id", "not a valid operation id")
    return value
