"""``Idempotency-Key`` on every POST, PUT and DELETE under ``/v1``, for every replica.

A request carrying the header claims ``(user, key)`` in the gateway's database before
the route runs. A repeat by the same user with the same key and the same request
(method, path, query and body; JSON compared after canonicalisation) gets the first
response back (status, body, ``Content-Type``/``Location``, plus ``Idempotent-Replayed:
true``) without reaching the route; the same key with a different request is 400
INVALID_ARGUMENT naming ``Idempotency-Key``. A repeat that arrives while the first is
still running waits for it (an in-process signal on this replica, polling the database
across replicas) and answers 409 ABORTED when it is still running after
``wait_seconds``.

Only successful (2xx) responses are remembered: an error means the work was not done
(4xx) or its outcome is unknown (5xx), so the key is released and a retry with it runs
again. Actions keep their own keys in the executor as well, so a repeat never starts a
second operation even there. A claim whose replica died is taken over once its lease
(longer than any request may take) has run out. Keys expire ``ttl_seconds`` after
their first use (24 h by default, ``IDEMPOTENCY_TTL_SECONDS``).

The middleware is generic: it covers every route of the app, present and future,
without a line in any handler.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

import grpc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from wasteland_common import db

from .auth import TokenVerifier
from .bodylimit import TOO_LARGE
from .errors import OUT_OF_RANGE_CODE, ApiError, invalid

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"
KEY_RULE = "1-200 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
REUSED = "already used with a different request"
STILL_RUNNING = "a request with this Idempotency-Key is still in progress; retry later"
METHODS = frozenset({"POST", "PUT", "DELETE"})
# Response headers that belong to the result (not to this particular delivery of it).
KEPT_HEADERS = frozenset({"content-type", "location"})
MIGRATIONS = Path(__file__).parent / "migrations"
Clock = Callable[[], float]
_KEY = re.compile(KEY_PATTERN)

metadata = sa.MetaData()
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("user_id", sa.String(200), primary_key=True),
    sa.Column("idempotency_key", sa.String(200), primary_key=True),
    sa.Column("request_fingerprint", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("lease_expires_at", db.UTCDateTime(), nullable=True),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("response_headers", sa.Text, nullable=True),
    sa.Column("response_body", sa.LargeBinary, nullable=True),
    sa.Column("created_at", db.UTCDateTime(), nullable=False),
    sa.Column("expires_at", db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("state IN ('running', 'done')", name="ck_idempotency_state"),
)


# ------------------------------------------------------------------------ outcomes
@dataclass(frozen=True)
class Claimed:
    """This request holds the key: run it, then finish or release with ``holder``."""

    holder: str


@dataclass(frozen=True)
class Stored:
    """The key's first request finished with this response."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Running:
    """The key's first request is still running (here or on another replica)."""


@dataclass(frozen=True)
class Mismatch:
    """The key was first used for a different request."""


Outcome = Claimed | Stored | Running | Mismatch


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """A digest of what the request asks for; JSON bodies compare by content, so key
    order and whitespace do not make a repeat look different."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, RecursionError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query, canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class IdempotencyStore:
    """The (user, key) → first response table in the gateway's database.

    Every method is one short transaction; the atomic ``INSERT … ON CONFLICT DO
    NOTHING`` decides which of two concurrent requests (on any replica) holds a key.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        ttl_seconds: float = 86_400,
        lease_seconds: float = 600,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.ttl = timedelta(seconds=ttl_seconds)
        self.lease = timedelta(seconds=lease_seconds)

    @classmethod
    def from_url(
        cls,
        url: str,
        clock: Clock,
        *,
        ttl_seconds: float = 86_400,
        lease_seconds: float = 600,
        migrate: bool = True,
    ) -> Self:
        """A store on the database at ``url``, its schema migrated first if asked."""
        engine = db.make_engine(url)
        if migrate:
            db.migrate(engine, MIGRATIONS)
        return cls(engine, clock, ttl_seconds=ttl_seconds, lease_seconds=lease_seconds)

    def begin(self, user_id: str, key: str, request_fingerprint: str) -> Outcome:
        """Claim ``(user_id, key)`` for a request, or say why not."""
        now = _moment(self._clock())
        table = idempotency_keys
        mine = (table.c.user_id == user_id) & (table.c.idempotency_key == key)
        holder = uuid.uuid4().hex
        with self._engine.begin() as conn:
            # An expired key is forgotten: its next use is a new request.
            conn.execute(sa.delete(table).where(mine, table.c.expires_at <= now))
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            claimed = conn.execute(
                insert(table)
                .values(
                    user_id=user_id,
                    idempotency_key=key,
                    request_fingerprint=request_fingerprint,
                    state="running",
                    holder=holder,
                    lease_expires_at=now + self.lease,
                    created_at=now,
                    # Never before the lease: a running request keeps its key.
                    expires_at=now + max(self.ttl, self.lease),
                )
                .on_conflict_do_nothing(index_elements=[table.c.user_id, table.c.idempotency_key])
                .returning(table.c.holder)
            ).first()
            if claimed is not None:
                return Claimed(holder)
            row = conn.execute(sa.select(table).where(mine)).first()
            if row is None:  # released between the insert and the read: try again
                return Running()
            if row.request_fingerprint != request_fingerprint:
                return Mismatch()
            if row.state == "done":
                headers = [(str(k), str(v)) for k, v in json.loads(row.response_headers or "[]")]
                return Stored(int(row.response_status), headers, bytes(row.response_body or b""))
            if row.lease_expires_at is not None and row.lease_expires_at <= now:
                # The holder's replica died mid-request; take the key over.
                taken = conn.execute(
                    sa.update(table)
                    .where(mine, table.c.state == "running", table.c.holder == row.holder)
                    .values(holder=holder, lease_expires_at=now + self.lease)
                )
                if taken.rowcount == 1:
                    log.warning("took over the idempotency key of an abandoned request")
                    return Claimed(holder)
            return Running()

    def finish(
        self,
        user_id: str,
        key: str,
        holder: str,
        *,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> bool:
        """Remember the response of the request holding the key; False when it no
        longer holds it."""
        table = idempotency_keys
        with self._engine.begin() as conn:
            done = conn.execute(
                sa.update(table)
                .where(
                    table.c.user_id == user_id,
                    table.c.idempotency_key == key,
                    table.c.holder == holder,
                    table.c.state == "running",
                )
                .values(
                    state="done",
                    lease_expires_at=None,
                    response_status=status,
                    response_headers=json.dumps(headers),
                    response_body=body,
                )
            )
            return bool(done.rowcount == 1)

    def release(self, user_id: str, key: str, holder: str) -> None:
        """Give the key up (the request failed): a retry with it runs again."""
        table = idempotency_keys
        with self._engine.begin() as conn:
            conn.execute(
                sa.delete(table).where(
                    table.c.user_id == user_id,
                    table.c.idempotency_key == key,
                    table.c.holder == holder,
                    table.c.state == "running",
                )
            )

    def purge_expired(self) -> int:
        """Delete every expired key; returns how many."""
        now = _moment(self._clock())
        with self._engine.begin() as conn:
            gone = conn.execute(
                sa.delete(idempotency_keys).where(idempotency_keys.c.expires_at <= now)
            )
            return int(gone.rowcount or 0)

    def close(self) -> None:
        """Release the connection pool."""
        self._engine.dispose()


# ---------------------------------------------------------------------- middleware
Answer = tuple[int, list[tuple[str, str]], bytes]


def _json_error(error: ApiError, status: int | None = None) -> Answer:
    body = json.dumps(error.body()).encode()
    return status or error.status_code, [("content-type", "application/json")], body


class IdempotencyMiddleware:
    """See the module docstring. Sits inside CORS and the body limit, outside the app's
    exception handlers (it sees their error responses like any other)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: IdempotencyStore,
        verifier: TokenVerifier,
        wait_seconds: float,
        poll_seconds: float = 0.2,
        purge_every_seconds: float = 600,
    ) -> None:
        self.app = app
        self.store = store
        self.verifier = verifier
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.purge_every_seconds = purge_every_seconds
        self._finished: dict[tuple[str, str], asyncio.Event] = {}
        self._last_purge = float("-inf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in METHODS
            or not str(scope["path"]).startswith("/v1/")
        ):
            await self.app(scope, receive, send)
            return
        key = _header(scope, b"idempotency-key")
        if key is None:
            await self.app(scope, receive, send)
            return
        try:
            user_id = self.verifier.verify(_header(scope, b"authorization")).user_id
        except ApiError:
            # Not authenticated: the route answers 401, and nothing is remembered.
            await self.app(scope, receive, send)
            return
        if not _KEY.fullmatch(key):
            await _answer(send, *_json_error(invalid(HEADER, KEY_RULE)))
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away
        if isinstance(body, ApiError):
            await _answer(send, *_json_error(body, 413))
            return
        digest = fingerprint(scope["method"], scope["path"], scope.get("query_string", b""), body)
        await self._maybe_purge()
        deadline = asyncio.get_running_loop().time() + self.wait_seconds
        while True:
            outcome = await asyncio.to_thread(self.store.begin, user_id, key, digest)
            if isinstance(outcome, Mismatch):
                await _answer(send, *_json_error(invalid(HEADER, REUSED)))
                return
            if isinstance(outcome, Stored):
                headers = [*outcome.headers, (REPLAYED_HEADER.lower(), "true")]
                await _answer(send, outcome.status, headers, outcome.body)
                return
            if isinstance(outcome, Claimed):
                await self._run(scope, receive, send, body, user_id, key, outcome.holder)
                return
            if asyncio.get_running_loop().time() >= deadline:
                error = ApiError(grpc.StatusCode.ABORTED, STILL_RUNNING)
                await _answer(send, *_json_error(error))
                return
            await self._wait_for_holder((user_id, key))

    async def _wait_for_holder(self, slot: tuple[str, str]) -> None:
        """Until the request holding ``slot`` on this replica ends, or one poll interval
        (it may run on another replica)."""
        finished = self._finished.get(slot)
        if finished is None:
            await asyncio.sleep(self.poll_seconds)
            return
        try:
            await asyncio.wait_for(finished.wait(), timeout=self.poll_seconds)
        except TimeoutError:
            return

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        user_id: str,
        key: str,
        holder: str,
    ) -> None:
        slot = (user_id, key)
        finished = self._finished.setdefault(slot, asyncio.Event())
        delivered = False
        status = 0
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        complete = False

        async def replay_body() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture(message: Message) -> None:
            # Recorded before it is sent: a client that hung up does not undo the work.
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", ()):
                    text = name.decode("latin-1").lower()
                    if text in KEPT_HEADERS:
                        headers.append((text, value.decode("latin-1")))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            try:
                succeeded = complete and 200 <= status < 300
                answer = (status, headers, b"".join(chunks)) if succeeded else None
                await asyncio.shield(self._settle(user_id, key, holder, answer))
            finally:
                finished.set()
                if self._finished.get(slot) is finished:
                    del self._finished[slot]

    async def _settle(self, user_id: str, key: str, holder: str, answer: Answer | None) -> None:
        """Remember ``answer`` for the key, or give the key up when there is none (or it
        cannot be stored: then a retry runs again, as after an error)."""
        try:
            if answer is not None:
                status, headers, body = answer
                stored = await asyncio.to_thread(
                    self.store.finish, user_id, key, holder,
                    status=status, headers=headers, body=body,
                )  # fmt: skip
                if stored:
                    return
            await asyncio.to_thread(self.store.release, user_id, key, holder)
        except sa.exc.SQLAlchemyError:
            # The lease frees the key later; the response itself was already sent.
            log.warning("settling an idempotency key failed", exc_info=True)

    async def _maybe_purge(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_purge < self.purge_every_seconds:
            return
        self._last_purge = now
        try:
            gone = await asyncio.to_thread(self.store.purge_expired)
        except sa.exc.SQLAlchemyError:
            log.warning("purging expired idempotency keys failed", exc_info=True)
            return
        if gone:
            log.info("purged %d expired idempotency key(s)", gone)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _read_body(receive: Receive) -> bytes | ApiError | None:
    """The whole request body; an ApiError when it is too large, None on disconnect."""
    parts: list[bytes] = []
    while True:
        try:
            message = await receive()
        except HTTPException as exc:
            if exc.status_code == 413:
                return ApiError(OUT_OF_RANGE_CODE, TOO_LARGE)
            raise
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def _answer(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if status not in (204, 304):  # these never carry a Content-Length
        raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
