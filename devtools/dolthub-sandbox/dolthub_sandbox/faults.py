"""Fault injection per database and request statistics, for tests of client resilience.

Faults (set with ``POST /_sandbox/faults``) apply to every API request touching the
database, polls included: an ``outage`` answers 503 to everything; otherwise a request
waits ``latency_ms`` and then fails with 429 or 503 at the configured rates, drawn from a
random generator seeded with ``seed`` (reproducible sequences). Two switches imitate
observed DoltHub behaviour: ``sql_errors_as_200`` (SQL read errors answer HTTP 200 with
an ``Error`` envelope) and ``token_reads_not_found`` (reads with a token of a
non-member answer 404 "no such repository", so clients must retry anonymously).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from .errors import BadRequest
from .storage import Store

Target = tuple[str, str]


@dataclass(frozen=True)
class FaultSettings:
    latency_ms: int = 0
    error_rate_429: float = 0.0
    error_rate_503: float = 0.0
    outage: bool = False
    sql_errors_as_200: bool = False
    token_reads_not_found: bool = False
    seed: int | None = None

    @property
    def inert(self) -> bool:
        return self == FaultSettings(seed=self.seed)


def _number(body: dict[str, Any], key: str, kind: type, low: float, high: float) -> Any:
    value = body.get(key, kind())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{key} must be a number")
    if not low <= value <= high:
        raise BadRequest(f"{key} must be between {low} and {high}")
    return kind(value)


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false")
    return value


def parse_settings(body: dict[str, Any]) -> tuple[Target, FaultSettings]:
    """Validate a ``POST /_sandbox/faults`` body."""
    owner, db = body.get("owner"), body.get("db")
    if not isinstance(owner, str) or not owner or not isinstance(db, str) or not db:
        raise BadRequest("owner and db are required strings")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BadRequest("seed must be an integer")
    rate_429 = _number(body, "error_rate_429", float, 0.0, 1.0)
    rate_503 = _number(body, "error_rate_503", float, 0.0, 1.0)
    if rate_429 + rate_503 > 1.0:
        raise BadRequest("error_rate_429 + error_rate_503 must not exceed 1")
    settings = FaultSettings(
        latency_ms=_number(body, "latency_ms", int, 0, 60_000),
        error_rate_429=rate_429,
        error_rate_503=rate_503,
        outage=_flag(body, "outage"),
        sql_errors_as_200=_flag(body, "sql_errors_as_200"),
        token_reads_not_found=_flag(body, "token_reads_not_found"),
        seed=seed,
    )
    return (owner, db), settings


@dataclass(frozen=True)
class Decision:
    latency_s: float
    status: int | None  # an error status to answer with, or None to serve normally


class Faults:
    """Current fault settings (persisted) and their random generators (not persisted)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._settings: dict[Target, FaultSettings] = {}
        self._rngs: dict[Target, random.Random] = {}
        for target, raw in store.load_faults().items():
            self._install(target, FaultSettings(**raw))

    def _install(self, target: Target, settings: FaultSettings) -> None:
        if settings.inert:
            self._settings.pop(target, None)
            self._rngs.pop(target, None)
        else:
            self._settings[target] = settings
            self._rngs[target] = random.Random(settings.seed)

    def set(self, target: Target, settings: FaultSettings) -> None:
        with self._lock:
            self._install(target, settings)
            self._store.save_faults(*target, None if settings.inert else asdict(settings))

    def get(self, target: Target) -> FaultSettings:
        with self._lock:
            return self._settings.get(target, FaultSettings())

    def decide(self, targets: list[Target]) -> Decision:
        """What happens to a request touching ``targets``: the worst of their faults."""
        latency = 0.0
        status: int | None = None
        with self._lock:
            for target in targets:
                settings = self._settings.get(target)
                if settings is None:
                    continue
                latency = max(latency, settings.latency_ms / 1000)
                if settings.outage:
                    status = 503
                    continue
                draw = self._rngs[target].random()
                if status is None and draw < settings.error_rate_429:
                    status = 429
                elif status is None and draw < settings.error_rate_429 + settings.error_rate_503:
                    status = 503
        return Decision(latency, status)


class Stats:
    """Request counts per database and per (method, route kind); in memory only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[Target, Counter[str]] = {}
        self._total: Counter[str] = Counter()

    def record(self, method: str, route: str, targets: list[Target]) -> None:
        key = f"{method} {route}"
        with self._lock:
            self._total[key] += 1
            for target in set(targets):
                self._counts.setdefault(target, Counter())[key] += 1

    def snapshot(self, target: Target | None) -> dict[str, int]:
        with self._lock:
            counts = self._total if target is None else self._counts.get(target, Counter())
            return dict(sorted(counts.items()))

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._total.clear()
