"""``devstack run`` starts the local system; ``devstack token USER`` prints a dev JWT."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
from pathlib import Path
from typing import cast, get_args

from wasteland_common.auth import OrgRole, mint_user_token
from wasteland_common.settings import DEV_JWT_SECRET

from .demo import ensure_demo_wasteland
from .stack import StackConfig, choose_wl, running_stack


def _run(args: argparse.Namespace) -> int:
    secret = os.environ.get("KILO_JWT_SECRET", DEV_JWT_SECRET)
    cfg = StackConfig(
        data_dir=Path(args.data_dir).resolve(),
        http_port=int(os.environ.get("WASTELAND_HTTP_PORT", "8080")),
        sandbox_port=int(os.environ.get("DOLTHUB_SANDBOX_PORT", "7355")),
        jwt_secret=secret,
        log_format=os.environ.get("LOG_FORMAT", "text"),
        wl_binary=Path(os.environ["WL_BINARY"]) if os.environ.get("WL_BINARY") else None,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    if cfg.wl_binary is None:
        print("devstack: building the real wl 0.4.0 for the sandbox (first time about a minute)")  # noqa: T201
    choice = choose_wl(cfg)
    if choice.real:
        wl_line = f"the real wl 0.4.0 ({choice.reason})"
    else:
        wl_line = f"the wl STAND-IN ({choice.reason})"
        print(f"devstack: falling back to the wl stand-in: {choice.reason}", file=sys.stderr)  # noqa: T201
    cfg = dataclasses.replace(cfg, wl_binary=choice.path)
    with running_stack(cfg) as stack:
        url = stack.gateway.url
        demo = ensure_demo_wasteland(url, secret)
        print(  # noqa: T201 - this is the command's output
            f"""
Hosted Wasteland is running.
  gateway (public API):  {url}
  DoltHub sandbox:       {stack.sandbox.url}/api/v1alpha1
                         (tokens sandbox-token-alice, sandbox-token-bob)
  JWT secret:            KILO_JWT_SECRET={secret}
  wl:                    {wl_line}
                         {choice.path}
  data and logs:         {cfg.data_dir} (logs/<service>.log)

Get a development JWT and look at alice's demo board:
  TOKEN=$(make -s token USER=alice)
  curl -s -H "Authorization: Bearer $TOKEN" {url}/v1/wastelands
  curl -s -H "Authorization: Bearer $TOKEN" {url}/v1/wastelands/{demo}/wanted
  curl -s -X POST -H "Authorization: Bearer $TOKEN" \\
       {url}/v1/wastelands/{demo}/wanted/w-demo-001/claim

Ctrl-C stops everything.""",
            flush=True,
        )
        while not done.wait(1.0):
            dead = [p.name for p in stack.procs if p.popen.poll() is not None]
            if dead:
                print(f"stopping: {', '.join(dead)} exited", file=sys.stderr)  # noqa: T201
                return 1
    return 0


def _token(args: argparse.Namespace) -> int:
    secret = os.environ.get("KILO_JWT_SECRET", DEV_JWT_SECRET)
    orgs: list[tuple[str, OrgRole]] = []
    for spec in args.org or []:
        org_id, _, role = spec.partition(":")
        role = role or "member"
        if role not in get_args(OrgRole):
            print(f"devstack: unknown org role {role!r} in {spec!r}", file=sys.stderr)  # noqa: T201
            return 2
        orgs.append((org_id, cast(OrgRole, role)))
    token = mint_user_token(
        args.user, secret=secret, orgs=orgs, is_admin=args.admin, ttl_seconds=args.ttl
    )
    print(token)  # noqa: T201
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``devstack`` command."""
    parser = argparse.ArgumentParser(prog="devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the whole system on embedded defaults")
    run.add_argument("--data-dir", default=".run")
    tok = sub.add_parser("token", help="print a development Kilo JWT")
    tok.add_argument("user")
    tok.add_argument("--org", action="append", help="ORG_ID[:owner|member|billing_manager]")
    tok.add_argument("--admin", action="store_true")
    tok.add_argument("--ttl", type=int, default=12 * 3600)
    args = parser.parse_args(argv)
    return _run(args) if args.command == "run" else _token(args)


if __name__ == "__main__":
    sys.exit(main())
