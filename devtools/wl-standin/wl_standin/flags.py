"""Command-line parsing with cobra/pflag semantics and error texts.

The real CLI is a cobra application; its argument errors (``unknown flag: --x``,
``accepts 1 arg(s), received 0``, ``required flag(s) "title" not set``, ``invalid argument
"x" for "--priority" flag: …``) and its order of checks (flags, help, positional args,
``--color``, required flags, flag groups, then the command) are reproduced here. argparse
cannot produce these texts or this order, so the parser is written out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import WlError
from .gofmt import quote_go, quote_rune


@dataclass(frozen=True)
class Flag:
    name: str
    kind: str  # "string" | "int" | "bool"
    default: str | int | bool
    usage: str = ""
    shorthand: str = ""


@dataclass
class Command:
    name: str
    use: str
    short: str
    flags: list[Flag] = field(default_factory=list)
    args: tuple[str, int] | None = None  # ("exact"|"max"|"none", n); None = arbitrary
    required: tuple[str, ...] = ()
    exclusive: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    run: Callable[[Parsed], int] | None = None


@dataclass
class Parsed:
    command: Command
    values: dict[str, Any]
    changed: set[str]
    args: list[str]

    def text(self, name: str) -> str:
        """A string flag's value."""
        return str(self.values[name])

    def number(self, name: str) -> int:
        """An int flag's value."""
        value = self.values[name]
        assert isinstance(value, int)
        return value

    def flag(self, name: str) -> bool:
        """A bool flag's value."""
        return bool(self.values[name])


GLOBAL_FLAGS = [
    Flag(
        "wasteland",
        "string",
        "",
        "Upstream wasteland to use (e.g., org/db); required when multiple are joined",
    ),
    Flag("local-db", "bool", False, "Use local dolt database instead of DoltHub API"),
    Flag("color", "string", "auto", "Color output: always, auto, never"),
]
HELP_FLAG = Flag("help", "bool", False, "help for {name}", "h")

_BOOL_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_BOOL_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class HelpRequested(Exception):
    """``-h``/``--help`` was given: print the command's help and exit 0."""

    def __init__(self, command: Command) -> None:
        super().__init__(command.name)
        self.command = command


def _underscore_ok(s: str) -> bool:
    # strconv's underscoreOK: "_" only between digits or after a base prefix.
    if "_" not in s:
        return True
    i, saw, hexa = 0, "^", False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "xbo":
        i, saw, hexa = 2, "0", s[1].lower() == "x"
    for ch in s[i:]:
        if ch.isdigit() or (hexa and ch.lower() in "abcdef"):
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
    return saw != "_"


def parse_go_int(text: str) -> int:
    """``strconv.ParseInt(text, 0, 64)``; ValueError carries Go's error text."""
    syntax = ValueError(f"strconv.ParseInt: parsing {quote_go(text)}: invalid syntax")
    body, negative = text, False
    if body[:1] in ("+", "-"):
        negative, body = body[0] == "-", body[1:]
    if not body or not body.isascii() or not _underscore_ok(body):
        raise syntax
    base, digits = 10, body
    if len(body) >= 2 and body[0] == "0" and body[1].lower() in "xbo":
        base, digits = {"x": 16, "b": 2, "o": 8}[body[1].lower()], body[2:]
    elif body[0] == "0":
        base = 8
    digits = digits.replace("_", "")
    if not digits or not all(c.isalnum() for c in digits):
        raise syntax
    try:
        value = int(digits, base)
    except ValueError:
        raise syntax from None
    value = -value if negative else value
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"strconv.ParseInt: parsing {quote_go(text)}: value out of range")
    return value


def _flag_display(flag: Flag) -> str:
    return f"-{flag.shorthand}, --{flag.name}" if flag.shorthand else f"--{flag.name}"


def _set(flag: Flag, value: str, values: dict[str, Any], changed: set[str]) -> None:
    if flag.kind == "bool":
        if value in _BOOL_TRUE:
            parsed: Any = True
        elif value in _BOOL_FALSE:
            parsed = False
        else:
            raise WlError(
                f"invalid argument {quote_go(value)} for {quote_go(_flag_display(flag))} flag: "
                f"strconv.ParseBool: parsing {quote_go(value)}: invalid syntax"
            )
    elif flag.kind == "int":
        try:
            parsed = parse_go_int(value)
        except ValueError as exc:
            name = quote_go(_flag_display(flag))
            raise WlError(f"invalid argument {quote_go(value)} for {name} flag: {exc}") from exc
    else:
        parsed = value
    values[flag.name] = parsed
    changed.add(flag.name)


def all_flags(cmd: Command) -> list[Flag]:
    return [*cmd.flags, *GLOBAL_FLAGS, HELP_FLAG]


def parse_flags(cmd: Command, argv: Sequence[str]) -> Parsed:
    """pflag parsing (interspersed flags, ``--`` terminator, shorthand groups)."""
    # A command's own flag shadows a persistent flag of the same name (join --local-db).
    flags: list[Flag] = []
    for f in all_flags(cmd):
        if all(f.name != g.name for g in flags):
            flags.append(f)
    by_name = {f.name: f for f in flags}
    by_short = {f.shorthand: f for f in flags if f.shorthand}
    values: dict[str, Any] = {f.name: f.default for f in flags}
    changed: set[str] = set()
    positional: list[str] = []
    args = list(argv)
    while args:
        s = args.pop(0)
        if len(s) < 2 or not s.startswith("-"):
            positional.append(s)
            continue
        if s == "--":
            positional.extend(args)
            break
        if s.startswith("--"):
            body = s[2:]
            if not body or body[0] in "-=":
                raise WlError(f"bad flag syntax: {s}")
            name, eq, inline = body.partition("=")
            flag = by_name.get(name)
            if flag is None:
                if name == "help":
                    raise HelpRequested(cmd)
                raise WlError(f"unknown flag: --{name}")
            if eq:
                value = inline
            elif flag.kind == "bool":
                value = "true"
            elif args:
                value = args.pop(0)
            else:
                raise WlError(f"flag needs an argument: --{name}")
            _set(flag, value, values, changed)
            continue
        shorts = s[1:]
        while shorts:
            current = shorts
            c, rest = shorts[0], shorts[1:]
            flag = by_short.get(c)
            if flag is None:
                raise WlError(f"unknown shorthand flag: {quote_rune(c)} in -{current}")
            if rest.startswith("="):
                value, shorts = rest[1:], ""
            elif flag.kind == "bool":
                value, shorts = "true", rest
            elif rest:
                value, shorts = rest, ""
            elif args:
                value, shorts = args.pop(0), ""
            else:
                raise WlError(f"flag needs an argument: {quote_rune(c)} in -{current}")
            _set(flag, value, values, changed)
    if values["help"]:
        raise HelpRequested(cmd)
    return Parsed(cmd, values, changed, positional)


def validate_args(cmd: Command, path: str, args: list[str]) -> None:
    """cobra's positional-argument validators."""
    if cmd.args is None:
        return
    rule, n = cmd.args
    if rule == "none" and args:
        raise WlError(f"unknown command {quote_go(args[0])} for {quote_go(path)}")
    if rule == "exact" and len(args) != n:
        raise WlError(f"accepts {n} arg(s), received {len(args)}")
    if rule == "max" and len(args) > n:
        raise WlError(f"accepts at most {n} arg(s), received {len(args)}")


def validate_required(parsed: Parsed) -> None:
    missing = sorted(n for n in parsed.command.required if n not in parsed.changed)
    if missing:
        raise WlError('required flag(s) "' + '", "'.join(missing) + '" not set')


def validate_groups(parsed: Parsed) -> None:
    group = parsed.command.exclusive
    set_flags = sorted(n for n in group if n in parsed.changed)
    if len(set_flags) > 1:
        raise WlError(
            f"if any flags in the group [{' '.join(group)}] are set none of the others can be; "
            f"[{' '.join(set_flags)}] were all set"
        )


def _takes_value(arg: str, known: dict[str, Flag], short: dict[str, Flag]) -> bool:
    # cobra's stripFlags: "--name" without "=" whose flag is not a bool (unknown flags
    # count as taking a value), or "-x" (length 2) whose shorthand is not a bool.
    if arg.startswith("--") and "=" not in arg:
        flag = known.get(arg[2:])
        return flag is None or flag.kind != "bool"
    if arg.startswith("-") and "=" not in arg and len(arg) == 2:
        flag = short.get(arg[1:])
        return flag is None or flag.kind != "bool"
    return False


def find_command(
    commands: Sequence[Command], argv: Sequence[str]
) -> tuple[Command | None, list[str]]:
    """cobra's ``Find``: the subcommand named by the first non-flag argument, and the
    arguments with that name removed. None when no subcommand matches (root command)."""
    root_flags = [*GLOBAL_FLAGS, HELP_FLAG]
    known = {f.name: f for f in root_flags}
    short = {f.shorthand: f for f in root_flags if f.shorthand}
    words: list[str] = []
    rest = list(argv)
    while rest:
        s = rest.pop(0)
        if s == "--":
            break
        if _takes_value(s, known, short):
            if len(rest) <= 1:
                break
            rest.pop(0)
            continue
        if s and not s.startswith("-"):
            words.append(s)
    if not words:
        return None, list(argv)
    target = next((c for c in commands if words[0] == c.name or words[0] in c.aliases), None)
    if target is None:
        return None, list(argv)
    remaining = list(argv)
    pos = 0
    while pos < len(remaining):
        s = remaining[pos]
        if s == "--":
            break
        if _takes_value(s, known, short):
            pos += 2
            continue
        if not s.startswith("-") and s == words[0]:
            del remaining[pos]
            break
        pos += 1
    return target, remaining
