"""Two bench results side by side: ``python -m benchmarks.compare OLD.json NEW.json``.

Rows are matched by scenario and measure; each line shows both medians, the change and
both verdicts, so a before/after of one optimisation reads at a glance. Compare runs
made with the same options on the same machine, and prefer the ratio rows (each is
computed within one run, so machine load cancels) to absolute rates.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from .report import format_value


def load_rows(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The rows of a result file keyed by (scenario, measure)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return {(r["scenario"], r["measure"]): r for r in document["rows"]}


def change(old: float | None, new: float | None) -> str:
    """The relative change from ``old`` to ``new`` ("" when it cannot be computed)."""
    if old is None or new is None or old == 0 or math.isnan(old) or math.isnan(new):
        return ""
    return f"{(new - old) / abs(old) * 100:+.0f} %"


def render(
    old: dict[tuple[str, str], dict[str, Any]], new: dict[tuple[str, str], dict[str, Any]]
) -> str:
    """The aligned comparison table (rows of ``new`` first, in order, then rows only
    ``old`` has)."""
    keys = list(new) + [k for k in old if k not in new]
    header = ("scenario", "measure", "before", "after", "change", "before", "after")
    lines: list[tuple[str, ...]] = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        unit = (b or a or {}).get("unit", "")
        lines.append(
            (
                key[0],
                key[1],
                format_value(a["value"], unit) if a else "—",
                format_value(b["value"], unit) if b else "—",
                change(a["value"] if a else None, b["value"] if b else None),
                (a or {}).get("verdict") or "",
                (b or {}).get("verdict") or "",
            )
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if 2 <= i <= 4 else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths)), *map(fmt, lines)])


def main(argv: list[str] | None = None) -> int:
    """Print the comparison of two result files."""
    parser = argparse.ArgumentParser(prog="benchmarks.compare", description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    print(render(load_rows(args.old), load_rows(args.new)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
