"""``make bench``: start the local stack, run every scenario, print one table.

Scenarios (``docs/benchmarks.md`` says what each measures and how to read the table):
browse, limits, action, wake, idle. Each runs all its variants interleaved in the same
run, so ratios compare like with like on a noisy machine. The table also goes to
``.bench/bench-<UTC time>.json`` (and ``.bench/latest.json``) with every raw sample; the
stack's logs of the last run are kept in ``.bench/logs/``.

    python -m benchmarks [--scenarios browse,action] [--quick] [--rounds N] [--duration S]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .harness import Bench, bench_stack
from .options import Options
from .report import Row, ScenarioResult, render_table, verdicts
from .scenarios import action, browse, idle, limits, wake

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS: dict[str, Callable[[Bench, Options], ScenarioResult]] = {
    "browse": browse.run,
    "limits": limits.run,
    "action": action.run,
    "wake": wake.run,
    # Last: it leaves hundreds of wastelands tracked, which would load the others.
    "idle": idle.run,
}


def _clean(value: Any) -> Any:
    """``value`` with NaN and infinities as None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip()


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_start": list(os.getloadavg()),
    }


def _options(args: argparse.Namespace) -> Options:
    options = Options.quick() if args.quick else Options()
    changes: dict[str, Any] = {}
    if args.rounds is not None:
        changes["rounds"] = args.rounds
    if args.duration is not None:
        changes["duration_s"] = args.duration
    if args.reps is not None:
        changes["action_reps"] = args.reps
        changes["wake_reps"] = max(1, args.reps // 2)
    if args.idle_sizes is not None:
        changes["idle_sizes"] = tuple(int(n) for n in args.idle_sizes.split(","))
    return dataclasses.replace(options, **changes)


def _header(meta: dict[str, Any]) -> str:
    machine = meta["machine"]
    load = ", ".join(f"{x:.2f}" for x in machine["load_average_start"])
    load_end = ", ".join(f"{x:.2f}" for x in machine.get("load_average_end", []))
    lines = [
        f"make bench — {meta['started_at']}  commit {meta['commit'] or '?'}",
        f"machine: {machine['cpus']} CPUs, load average {load} at start, {load_end} at end",
        f"wl: {meta['wl']}",
        f"options: {meta['options']}",
    ]
    if loads := meta.get("load_by_scenario"):
        shown = ", ".join(f"{k} {a:.1f}->{b:.1f}" for k, (a, b) in loads.items())
        lines.append(f"1-min load average per scenario (start->end): {shown}")
    return "\n".join(lines)


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the selected scenarios and print the table; 1 when a scenario failed."""
    parser = argparse.ArgumentParser(prog="benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (rough numbers)")
    parser.add_argument("--rounds", type=int, help="browse/limits rounds (default 3)")
    parser.add_argument("--duration", type=float, help="seconds per load run (default 5)")
    parser.add_argument("--reps", type=int, help="action repetitions (wake: half; default 10)")
    parser.add_argument("--idle-sizes", help="idle wastelands per step (default 100,1000)")
    parser.add_argument("--out", type=Path, default=ROOT / ".bench", help="results folder")
    args = parser.parse_args(argv)
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C: every process is stopped.
    signal.signal(signal.SIGTERM, _terminated)
    selected = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in selected if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    options = _options(args)
    started = datetime.now(UTC)
    meta: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD")
        + ("-dirty" if _git("status", "--porcelain", "--untracked-files=no") else ""),
        "machine": _machine(),
        "options": dataclasses.asdict(options),
        "scenarios": selected,
        "wl": "unknown (the stack did not start)",
    }
    results: dict[str, ScenarioResult] = {}
    durations: dict[str, float] = {}
    loads: dict[str, list[float]] = {}
    failed = False
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wl-bench-") as tmp:
        work = Path(tmp)
        idle_commons = sum(options.idle_sizes) if "idle" in selected else 0
        try:
            need_wrk = bool({"browse", "limits"} & set(selected))
            with bench_stack(
                work, idle_commons=idle_commons, users=options.users, need_wrk=need_wrk
            ) as bench:
                wl = bench.stack.wl
                meta["wl"] = f"{'real' if wl.real else 'stand-in'} ({wl.path}; {wl.reason})"
                print(_header(meta), flush=True)
                for name in selected:
                    print(f"== {name}", flush=True)
                    load_before = os.getloadavg()[0]
                    clock = time.monotonic()
                    try:
                        results[name] = SCENARIOS[name](bench, options)
                    except Exception as exc:
                        failed = True
                        traceback.print_exc()
                        results[name] = ScenarioResult(
                            rows=[Row(name, "scenario failed", None, note=f"{exc}"[:300])],
                            data={"error": traceback.format_exc()},
                        )
                    durations[name] = time.monotonic() - clock
                    loads[name] = [load_before, os.getloadavg()[0]]
                    print(f"== {name} done in {durations[name]:.0f} s", flush=True)
        finally:
            logs = work / "run" / "logs"
            if logs.is_dir():
                shutil.rmtree(args.out / "logs", ignore_errors=True)
                shutil.copytree(logs, args.out / "logs")
    meta["machine"]["load_average_end"] = list(os.getloadavg())
    meta["durations_s"] = durations
    # 1-minute load average when each scenario started and ended.
    meta["load_by_scenario"] = loads
    rows = [row for name in selected if name in results for row in results[name].rows]
    table = render_table(rows)
    print()
    print(_header(meta))
    print()
    print(table)
    counts = verdicts(rows)
    print(f"\ntargets: {counts['PASS']} PASS, {counts['MISS']} MISS, {counts['n/a']} n/a")
    document = {
        "meta": meta,
        "rows": [row.as_dict() for row in rows],
        "table": table,
        "scenarios": {name: result.data for name, result in results.items()},
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"bench-{stamp}.json"
    text = json.dumps(_clean(document), indent=2, default=str, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    (args.out / "latest.json").write_text(text + "\n", encoding="utf-8")
    print(f"written: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
