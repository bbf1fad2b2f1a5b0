"""``dolthub-sandbox`` command line."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from wasteland_common.logs import configure

from .config import SandboxConfig
from .server import serve_forever


def parse_args(argv: list[str] | None = None) -> SandboxConfig:
    parser = argparse.ArgumentParser(
        prog="dolthub-sandbox", description="A local DoltHub REST API (v1alpha1) for development."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7355, help="0 picks a free port")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument(
        "--seed",
        choices=["demo", "none"],
        default="demo",
        help="data loaded into an empty data directory",
    )
    parser.add_argument(
        "--row-limit",
        type=int,
        default=1000,
        help="rows returned by a read before answering RowLimit",
    )
    parser.add_argument(
        "--op-delay",
        type=float,
        default=0.0,
        help="seconds before a write/fork/merge operation is done",
    )
    parser.add_argument("--pulls-page-size", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        return SandboxConfig(
            data_dir=args.data_dir,
            host=args.host,
            port=args.port,
            seed=args.seed,
            row_limit=args.row_limit,
            op_delay=args.op_delay,
            pulls_page_size=args.pulls_page_size,
        )
    except ValueError as err:
        parser.error(str(err))
        raise  # unreachable: parser.error exits


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    configure(
        "dolthub-sandbox", os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json")
    )
    serve_forever(config)


if __name__ == "__main__":
    main()
