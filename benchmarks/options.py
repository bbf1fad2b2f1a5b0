"""How long and how often a bench run measures (``--quick`` shrinks all of it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    """Repetitions and durations of every scenario."""

    # browse and limits: interleaved rounds of every variant, seconds per wrk run
    rounds: int = 3
    duration_s: float = 5.0
    connections: tuple[int, ...] = (1, 8, 32)
    # action and wake: repetitions of each (interleaved) variant
    action_reps: int = 10
    wake_reps: int = 4
    # idle: tracked idle wastelands per step, and the measured window per step
    idle_sizes: tuple[int, ...] = (100, 1000)
    idle_window_s: float = 60.0
    idle_baseline_s: float = 30.0
    # many users' JWTs, rotated by the HTTP load so per-user limits never trigger
    users: int = 5000

    @classmethod
    def quick(cls) -> Options:
        """A smoke run: one round, short windows, small idle sets (minutes, not a
        quarter of an hour; its numbers are rough)."""
        return cls(
            rounds=1,
            duration_s=2.0,
            action_reps=2,
            wake_reps=1,
            idle_sizes=(20, 100),
            idle_window_s=20.0,
            idle_baseline_s=10.0,
        )
