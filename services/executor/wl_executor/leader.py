"""Leader election over a ``coordination.k8s.io/v1`` Lease: one executor replica runs the
reconcile loop at a time; every replica serves Execute.

The rules are client-go's: a candidate takes the Lease when nobody holds it or when the
holder has not renewed it for ``leaseDurationSeconds`` *as observed locally* (so clocks of
different machines never have to agree); the holder renews every ``retry`` seconds and
stops leading if it could not renew for ``renew_deadline`` seconds, which is shorter than
the duration, so it stops before anyone else may start. Writes carry the Lease's
``resourceVersion``: two candidates never both win. On shutdown the holder releases the
Lease (empty holder, 1 s duration) so another replica takes over at its next try.

:func:`decide` is the pure part; :class:`LeaderElector` does the API calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from lightkube import ApiError, AsyncClient
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

log = logging.getLogger(__name__)

# The Lease's name; the executor's Role lets it read and update only this one.
LEASE_NAME = "wasteland-executor"


@dataclass(frozen=True)
class Timings:
    """Lease duration, renew deadline and retry period, in seconds."""

    duration: float = 15.0
    renew_deadline: float = 10.0
    retry: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry < self.renew_deadline < self.duration:
            raise ValueError("need 0 < retry < renew deadline < lease duration")


@dataclass(frozen=True)
class LeaseState:
    """What matters of a Lease read from the API server."""

    holder: str
    duration_seconds: int
    transitions: int
    resource_version: str
    acquire_time: datetime | None

    @classmethod
    def of(cls, lease: Lease) -> LeaseState:
        """Parse a Lease; missing fields read as an unheld Lease."""
        spec = lease.spec or LeaseSpec()
        meta = lease.metadata or ObjectMeta()
        return cls(
            holder=spec.holderIdentity or "",
            duration_seconds=max(1, int(spec.leaseDurationSeconds or 1)),
            transitions=int(spec.leaseTransitions or 0),
            resource_version=meta.resourceVersion or "",
            acquire_time=spec.acquireTime,
        )

    def fingerprint(self) -> tuple[str, str]:
        """Changes whenever anybody writes the Lease."""
        return (self.holder, self.resource_version)


Decision = Literal["create", "renew", "take", "wait"]


def micro_time(moment: datetime) -> datetime:
    """``moment`` as the API server accepts a MicroTime from our encoder.

    The server parses exactly six fractional digits, and lightkube's encoder writes none
    when the microseconds are zero (once in a million renewals): such a moment is moved
    by one microsecond.
    """
    return moment if moment.microsecond else moment.replace(microsecond=1)


def decide(lease: LeaseState | None, me: str, *, observed_at: float, now: float) -> Decision:
    """What candidate ``me`` does with ``lease``, last seen changing at ``observed_at``
    (monotonic seconds, local clock)."""
    if lease is None:
        return "create"
    if lease.holder == me:
        return "renew"
    if not lease.holder:
        return "take"
    if now >= observed_at + lease.duration_seconds:
        return "take"
    return "wait"


class LeaderElector:
    """Campaigns for the Lease until stopped; ``leading`` says whether we hold it."""

    def __init__(
        self,
        client: AsyncClient,
        namespace: str,
        identity: str,
        *,
        timings: Timings | None = None,
        name: str = LEASE_NAME,
        wall_clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self.identity = identity
        self.timings = timings or Timings()
        self._name = name
        self._wall = wall_clock or (lambda: datetime.now(UTC))
        self._mono = monotonic
        self._seen: tuple[str, str] | None = None
        self._seen_at = 0.0
        self._renewed_at = 0.0
        self._leading = asyncio.Event()
        self._changed = asyncio.Event()

    @property
    def leading(self) -> bool:
        """Whether this replica holds the Lease right now."""
        return self._leading.is_set()

    async def wait_changed(self, within: float) -> None:
        """Return when leadership was gained or lost, or after ``within`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), within)
        self._changed.clear()

    async def run(self, stop: asyncio.Event) -> None:
        """Campaign and renew every retry period until ``stop``; then release the Lease
        if we hold it."""
        try:
            while not stop.is_set():
                held = await self._try_acquire_or_renew()
                now = self._mono()
                if held:
                    self._renewed_at = now
                    self._set_leading(True)
                elif self.leading and now - self._renewed_at >= self.timings.renew_deadline:
                    log.warning("could not renew the leader lease in time; stepping down")
                    self._set_leading(False)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.timings.retry)
        finally:
            if self.leading:
                self._set_leading(False)
                await self._release()

    def _set_leading(self, leading: bool) -> None:
        if leading == self.leading:
            return
        if leading:
            self._leading.set()
            log.info("%s now leads the reconcile loop", self.identity)
        else:
            self._leading.clear()
            log.info("%s no longer leads the reconcile loop", self.identity)
        self._changed.set()

    async def _read(self) -> LeaseState | None:
        try:
            lease = await self._client.get(Lease, self._name, namespace=self._namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise
        state = LeaseState.of(lease)
        if state.fingerprint() != self._seen:
            self._seen = state.fingerprint()
            self._seen_at = self._mono()
        return state

    def _lease(self, state: LeaseState | None, *, holder: str, duration: int) -> Lease:
        now = micro_time(self._wall())
        taking = state is None or state.holder != holder
        transitions = 0 if state is None else state.transitions + (1 if taking and holder else 0)
        acquire = now if taking or state is None else state.acquire_time
        return Lease(
            metadata=ObjectMeta(
                name=self._name,
                namespace=self._namespace,
                resourceVersion=state.resource_version if state else None,
            ),
            spec=LeaseSpec(
                holderIdentity=holder or None,
                leaseDurationSeconds=duration,
                acquireTime=acquire,
                renewTime=now,
                leaseTransitions=transitions,
            ),
        )

    async def _try_acquire_or_renew(self) -> bool:
        try:
            state = await self._read()
            action = decide(state, self.identity, observed_at=self._seen_at, now=self._mono())
            if action == "wait":
                return False
            lease = self._lease(state, holder=self.identity, duration=int(self.timings.duration))
            if action == "create":
                await self._client.create(lease)
            else:
                await self._client.replace(lease)
        except ApiError as exc:
            # 409: somebody else wrote the Lease first; the next try reads it again.
            if exc.status.code != 409:
                log.warning("leader lease %s: %s", self._name, exc.status.message)
            return False
        except Exception as exc:  # the API server is unreachable: keep campaigning
            log.warning("leader lease %s: %s", self._name, type(exc).__name__)
            return False
        return True

    async def _release(self) -> None:
        try:
            state = await self._read()
            if state is None or state.holder != self.identity:
                return
            await self._client.replace(self._lease(state, holder="", duration=1))
            log.info("%s released the leader lease", self.identity)
        except Exception as exc:
            log.warning("releasing the leader lease failed: %s", exc)
