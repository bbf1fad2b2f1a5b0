"""Typed values the DoltHub client returns, and its retry and polling policies."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueryResult:
    """One SQL read: columns in SELECT order, rows keyed by column name.

    Cells are strings (numbers as their decimal text, booleans as ``"1"``/``"0"``, JSON
    documents re-serialised) or ``None`` for SQL NULL. ``truncated`` is True when DoltHub
    answered ``RowLimit``: the rows are a prefix of the full result.
    """

    columns: list[str]
    rows: list[dict[str, str | None]]
    truncated: bool


@dataclass(frozen=True)
class WriteResult:
    """A finished write (or branch merge) operation.

    ``committed`` is True only when DoltHub produced a new commit; a write that matched no
    rows finishes successfully with ``committed=False``.
    """

    operation_name: str
    from_commit_id: str
    to_commit_id: str
    committed: bool
    message: str


@dataclass(frozen=True)
class PullRequest:
    """One pull request in detail; ``state`` is lower-case (open, merged, closed, …)."""

    pull_id: str
    title: str
    description: str
    state: str
    from_owner: str
    from_database: str
    from_branch: str
    to_owner: str
    to_database: str
    to_branch: str
    author: str
    created_at: str


@dataclass(frozen=True)
class PullSummary:
    """One entry of a pull-request list (no branch information; see ``get_pull``)."""

    pull_id: str
    title: str
    state: str
    creator: str
    created_at: str


@dataclass(frozen=True)
class RetryPolicy:
    """How one HTTP request is retried.

    ``attempts`` counts every request sent (the first included). Retries stop early when the
    next wait would end after ``budget_seconds`` from the first attempt.
    """

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 4.0
    budget_seconds: float = 20.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.budget_seconds < 0:
            raise ValueError("RetryPolicy delays and budget must not be negative")


@dataclass(frozen=True)
class PollPolicy:
    """How an asynchronous DoltHub operation (write, merge, fork) is awaited.

    Sleep ``initial`` seconds, poll, double the sleep up to ``maximum``; give up after
    ``timeout`` seconds or ``max_consecutive_errors`` transport/5xx failures in a row.
    """

    initial: float = 0.5
    maximum: float = 8.0
    timeout: float = 120.0
    max_consecutive_errors: int = 5

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0 or self.timeout < 0:
            raise ValueError("PollPolicy delays and timeout must not be negative")
        if self.max_consecutive_errors < 1:
            raise ValueError("PollPolicy.max_consecutive_errors must be at least 1")
