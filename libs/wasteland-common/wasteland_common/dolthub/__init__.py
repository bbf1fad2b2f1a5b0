"""Async DoltHub REST client shared by every service.

Usage::

    async with DoltHubClient(settings.dolthub_api_url, token=token) as dolthub:
        sql = bind("SELECT * FROM wanted WHERE id = ?", item_id)
        result = await dolthub.read("hop", "wl-commons", sql)

Build SQL only with :func:`bind` (``?`` placeholders), :func:`quote`, :func:`escape_like`
and :func:`quote_identifier`.
"""

from ._wire import operation_user
from .client import DEFAULT_BASE_URL, WEB_BASE_URL, DoltHubClient
from .errors import (
    AlreadyExists,
    DoltHubError,
    Forbidden,
    NotFound,
    QueryError,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from .models import PollPolicy, PullRequest, PullSummary, QueryResult, RetryPolicy, WriteResult
from .sql import bind, escape_like, quote, quote_identifier

__all__ = [
    "DEFAULT_BASE_URL",
    "WEB_BASE_URL",
    "AlreadyExists",
    "DoltHubClient",
    "DoltHubError",
    "Forbidden",
    "NotFound",
    "PollPolicy",
    "PullRequest",
    "PullSummary",
    "QueryError",
    "QueryResult",
    "RateLimited",
    "RetryPolicy",
    "Unauthorized",
    "Unavailable",
    "WriteResult",
    "bind",
    "escape_like",
    "operation_user",
    "quote",
    "quote_identifier",
]
