"""A recorder that keeps what producers record, the way GrpcActivity would stamp it."""

from __future__ import annotations

from dataclasses import dataclass, field

from wasteland_common import logs
from wasteland_common.activity import ActivityKindName, actor_var, clean_detail


@dataclass(frozen=True)
class Recorded:
    wasteland_id: str
    kind: ActivityKindName
    actor: str
    detail: str
    wanted_id: str
    pull_id: str
    event_id: str | None
    request_id: str


@dataclass
class CollectingActivity:
    """Implements ``ActivityRecorder``; ``service`` is the producer's actor fallback."""

    service: str = "test"
    records: list[Recorded] = field(default_factory=list)

    async def record(
        self,
        wasteland_id: str,
        kind: ActivityKindName,
        *,
        detail: str,
        actor: str | None = None,
        wanted_id: str = "",
        pull_id: str = "",
        event_id: str | None = None,
    ) -> None:
        self.records.append(
            Recorded(
                wasteland_id=wasteland_id,
                kind=kind,
                actor=actor or actor_var.get() or f"service:{self.service}",
                detail=clean_detail(detail),
                wanted_id=wanted_id,
                pull_id=pull_id,
                event_id=event_id,
                request_id=logs.request_id_var.get(),
            )
        )

    def kinds(self) -> list[tuple[str, str]]:
        """(kind, actor) of every record, in order."""
        return [(r.kind, r.actor) for r in self.records]
