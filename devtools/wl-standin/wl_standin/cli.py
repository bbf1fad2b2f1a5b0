"""Entry point of the ``wl`` stand-in: command table, dispatch, exit codes.

Exit 0 on success, 1 on any error; errors are printed as ``wl: <message>`` on stderr,
followed by ``\\n  Hint: <hint>`` for config-loading errors — as the real CLI does.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from . import commands as c
from .env import Clock, load_env
from .errors import SilentExit, WlError
from .flags import (
    GLOBAL_FLAGS,
    Command,
    Flag,
    HelpRequested,
    find_command,
    parse_flags,
    validate_args,
    validate_groups,
    validate_required,
)
from .gofmt import quote_go
from .helptext import command_help, root_help
from .style import styler_for
from .wire import Transport

Runner = Callable[[c.Ctx], None]

_NO_PUSH = Flag("no-push", "bool", False, "Skip pushing to remotes (offline work)")


def _cmd(
    name: str,
    use: str,
    short: str,
    runner: Runner,
    flags: Sequence[Flag] = (),
    args: tuple[str, int] | None = None,
    **kw: object,
) -> tuple[Command, Runner]:
    return Command(name, use, short, list(flags), args, **kw), runner  # type: ignore[arg-type]


_TABLE: list[tuple[Command, Runner]] = [
    _cmd(
        "join",
        "join [upstream]",
        "Join a wasteland by forking its commons",
        c.run_join,
        [
            Flag("handle", "string", "", "Rig handle for registration (default: fork org)"),
            Flag("display-name", "string", "", "Display name for the rig registry"),
            Flag("email", "string", "", "Registration email (default: git config user.email)"),
            Flag("fork-org", "string", "", "Fork organization (default: DOLTHUB_ORG)"),
            Flag("remote-base", "string", "", "Base directory for file:// remotes (offline mode)"),
            Flag("git-remote", "string", "", "Base directory for bare git remotes"),
            Flag("github", "bool", False, "Use GitHub as the upstream provider"),
            Flag(
                "github-local",
                "string",
                "",
                "Local base directory for GitHub-compatible testing mode",
            ),
            Flag("signed", "bool", False, "GPG-sign the rig registration commit"),
            Flag("direct", "bool", False, "Skip forking (maintainers)"),
            Flag("local-db", "bool", False, "Use local dolt database (requires dolt)"),
        ],
        ("max", 1),
        exclusive=("remote-base", "git-remote", "github", "github-local"),
    ),
    _cmd(
        "post",
        "post",
        "Post a new wanted item to the commons",
        c.run_post,
        [
            Flag("title", "string", "", "Title of the wanted item (required)"),
            Flag("description", "string", "", "Detailed description", "d"),
            Flag("project", "string", "", "Project name (e.g., gastown, beads)"),
            Flag("type", "string", "", "Item type: feature, bug, design, rfc, docs"),
            Flag("priority", "int", 2, "Priority: 0=critical, 1=high, 2=medium, 3=low, 4=backlog"),
            Flag("effort", "string", "medium", "Effort level: trivial, small, medium, large, epic"),
            Flag("tags", "string", "", "Comma-separated tags (e.g., 'go,auth,federation')"),
            _NO_PUSH,
        ],
        None,
        required=("title",),
    ),
    _cmd(
        "claim", "claim <wanted-id>", "Claim a wanted item", c.run_claim, [_NO_PUSH], ("exact", 1)
    ),
    _cmd(
        "unclaim",
        "unclaim <wanted-id>",
        "Release a claimed wanted item back to open",
        c.run_unclaim,
        [_NO_PUSH],
        ("exact", 1),
    ),
    _cmd(
        "done",
        "done <wanted-id>",
        "Submit completion evidence for a wanted item",
        c.run_done,
        [Flag("evidence", "string", "", "Evidence URL or description (required)"), _NO_PUSH],
        ("exact", 1),
        required=("evidence",),
    ),
    _cmd(
        "accept",
        "accept <wanted-id>",
        "Accept a completed wanted item and issue a stamp",
        c.run_accept,
        [
            Flag("quality", "int", 0, "Quality rating 1-5 (required)"),
            Flag("reliability", "int", 0, "Reliability rating 1-5 (defaults to quality)"),
            Flag("severity", "string", "leaf", "Severity: leaf, branch, root"),
            Flag("skills", "string", "", "Comma-separated skill tags"),
            Flag("message", "string", "", "Freeform message"),
            _NO_PUSH,
        ],
        ("exact", 1),
        required=("quality",),
    ),
    _cmd(
        "reject",
        "reject <wanted-id>",
        "Reject a completed wanted item back to claimed",
        c.run_reject,
        [
            Flag("reason", "string", "", "Reason for rejection (included in commit message)"),
            _NO_PUSH,
        ],
        ("exact", 1),
    ),
    _cmd(
        "close",
        "close <wanted-id>",
        "Close an in_review item as completed (no stamp)",
        c.run_close,
        [_NO_PUSH],
        ("exact", 1),
    ),
    _cmd(
        "update",
        "update <wanted-id>",
        "Update an open wanted item",
        c.run_update,
        [
            Flag("title", "string", "", "New title"),
            Flag("description", "string", "", "New description", "d"),
            Flag("project", "string", "", "New project"),
            Flag("type", "string", "", "Item type: feature, bug, design, rfc, docs"),
            Flag("priority", "int", -1, "Priority: 0=critical, 1=high, 2=medium, 3=low, 4=backlog"),
            Flag("effort", "string", "", "Effort level: trivial, small, medium, large, epic"),
            Flag("tags", "string", "", "Comma-separated tags (replaces existing)"),
            _NO_PUSH,
        ],
        ("exact", 1),
    ),
    _cmd(
        "delete",
        "delete <wanted-id>",
        "Withdraw an open wanted item",
        c.run_delete,
        [_NO_PUSH],
        ("exact", 1),
    ),
    _cmd(
        "browse",
        "browse",
        "Browse wanted items on the commons board",
        c.run_browse,
        [
            Flag("project", "string", "", "Filter by project (e.g., gastown, beads, hop)"),
            Flag(
                "status",
                "string",
                "",
                "Filter by status (open, claimed, in_review, completed, withdrawn); empty = all",
            ),
            Flag("type", "string", "", "Filter by type (feature, bug, design, rfc, docs)"),
            Flag("priority", "int", -1, "Filter by priority (0=critical, 2=medium, 4=backlog)"),
            Flag("limit", "int", 50, "Maximum items to display"),
            Flag("json", "bool", False, "Output as JSON"),
            Flag("long", "bool", False, "Include description in output", "l"),
            Flag(
                "ephemeral",
                "bool",
                False,
                "Clone upstream to temp dir instead of querying local (slow)",
            ),
            Flag("posted-by", "string", "", "Filter by poster's rig handle"),
            Flag("claimed-by", "string", "", "Filter by claimer's rig handle"),
            Flag("search", "string", "", "Search in title"),
            Flag("view", "string", "", "Branch view: mine (default), all, or upstream"),
        ],
        ("none", 0),
    ),
    _cmd(
        "status",
        "status <wanted-id>",
        "Show detailed status for a wanted item",
        c.run_status,
        [],
        ("exact", 1),
        aliases=("show",),
    ),
    _cmd(
        "sync",
        "sync",
        "Pull upstream changes into local wl-commons fork",
        c.run_sync,
        [Flag("dry-run", "bool", False, "Show what would change without pulling")],
        ("none", 0),
    ),
    _cmd(
        "leave",
        "leave [upstream]",
        "Leave a wasteland (removes its local config)",
        c.run_leave,
        [],
        ("max", 1),
    ),
    _cmd("list", "list", "List joined wastelands", c.run_list, [], ("none", 0)),
    _cmd("me", "me", "Show your personal dashboard", c.run_me, [], ("none", 0)),
    _cmd(
        "config", "config get|set <key> [value]", "Get or set wasteland configuration", c.run_config
    ),
    _cmd("version", "version", "Print version information", c.run_version, [], ("none", 0)),
]

# Commands of the real CLI that the stand-in does not implement: they exist (so they are
# not "unknown commands") and fail with a clear message.
for _name, _short in (
    ("create", "Create a new wasteland commons"),
    ("review", "Review branch changes"),
    ("approve", "Approve a pull request (GitHub provider)"),
    ("request-changes", "Request changes on a pull request (GitHub provider)"),
    ("merge", "Merge a branch into your fork's main"),
    ("verify", "Verify signed commits"),
    ("tui", "Interactive terminal UI"),
    ("serve", "Serve the web UI"),
    ("doctor", "Check your setup"),
    ("leaderboard", "Show the leaderboard"),
    ("profile", "Show a rig profile"),
    ("completion", "Generate the autocompletion script for the specified shell"),
):
    _TABLE.append(_cmd(_name, _name, _short, c.run_unsupported))

COMMANDS: list[Command] = [cmd for cmd, _ in _TABLE]
_RUNNERS: dict[str, Runner] = {cmd.name: runner for cmd, runner in _TABLE}
_ROOT = Command("wl", "wl", "Wasteland — federation protocol for Gas Towns", [], None)
_HELP = Command("help", "help [command]", "Help about any command", [], None)


def _help_topic(args: list[str]) -> str:
    if not args:
        return root_help(COMMANDS)
    target = next((cmd for cmd in COMMANDS if args[0] == cmd.name or args[0] in cmd.aliases), None)
    if target is None:
        return f"Unknown help topic `{args[0]}`\n" + root_help(COMMANDS)
    return command_help(target)


def run(
    argv: Sequence[str],
    out: TextIO,
    err: TextIO,
    *,
    clock: Clock | None = None,
    transport: Transport | None = None,
) -> int:
    """Run one ``wl`` invocation; returns the process exit code.

    ``clock`` and ``transport`` are injected by tests (virtual time, in-memory HTTP).
    """
    owned: Transport | None = None
    cmd, rest = find_command([*COMMANDS, _HELP], argv)
    cmd = cmd or _ROOT
    path = "wl" if cmd is _ROOT else f"wl {cmd.name}"
    try:
        try:
            parsed = parse_flags(cmd, rest)
        except HelpRequested as req:
            out.write(root_help(COMMANDS) if req.command is _ROOT else command_help(req.command))
            return 0
        validate_args(cmd, path, parsed.args)
        color = parsed.text("color")
        if color not in ("always", "auto", "never"):
            raise WlError(
                f"invalid --color value {quote_go(color)}: must be always, auto, or never"
            )
        styler = styler_for(color)
        validate_required(parsed)
        validate_groups(parsed)
        if cmd is _HELP:
            out.write(_help_topic(parsed.args))
            return 0
        if cmd is _ROOT:
            if not parsed.args:
                out.write(root_help(COMMANDS))
                return 0
            err.write(f"wl: unknown command {quote_go(parsed.args[0])}\n")
            return 1
        try:
            env = load_env()
        except ValueError as exc:
            raise WlError(str(exc)) from exc
        if transport is None:
            transport = owned = Transport()
        ctx = c.Ctx(parsed, env, out, err, styler, transport, clock or Clock())
        _RUNNERS[cmd.name](ctx)
        return 0
    except WlError as exc:
        err.write(f"wl: {exc}\n")
        if exc.hint:
            err.write(f"\n  Hint: {exc.hint}\n")
        return 1
    except SilentExit:
        return 1
    finally:
        if owned is not None:
            owned.close()


def _utf8(stream: TextIO) -> TextIO:
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(encoding="utf-8", errors="surrogateescape")
    return stream


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point (``wl``)."""
    out, err = _utf8(sys.stdout), _utf8(sys.stderr)
    try:
        code = run(list(sys.argv[1:] if argv is None else argv), out, err)
        out.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``wl browse | head``); the Go binary dies of SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # a stand-in bug: still exit 1 with a "wl:" line
        err.write(f"wl: internal error in the wl stand-in: {type(exc).__name__}: {exc}\n")
        code = 1
    err.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["COMMANDS", "GLOBAL_FLAGS", "main", "run"]
