"""``--help`` output in cobra's layout (Usage / Aliases / Flags / Global Flags)."""

from __future__ import annotations

from collections.abc import Sequence

from .flags import GLOBAL_FLAGS, HELP_FLAG, Command, Flag


def _flag_usages(flags: Sequence[Flag], command_name: str) -> str:
    lines: list[tuple[str, str]] = []
    for flag in sorted(flags, key=lambda f: f.name):
        left = f"  -{flag.shorthand}, --{flag.name}" if flag.shorthand else f"      --{flag.name}"
        if flag.kind != "bool":
            left += f" {flag.kind}"
        usage = flag.usage.replace("{name}", command_name)
        if flag.kind == "string" and flag.default != "":
            usage += f' (default "{flag.default}")'
        elif flag.kind == "int" and flag.default != 0:
            usage += f" (default {flag.default})"
        lines.append((left, usage))
    width = max(len(left) for left, _ in lines)
    return "\n".join(f"{left.ljust(width)}   {usage}" for left, usage in lines)


def command_help(cmd: Command) -> str:
    """The help page of one subcommand."""
    own = [f for f in cmd.flags if f.name not in {g.name for g in GLOBAL_FLAGS}] + [HELP_FLAG]
    shadowed = {f.name for f in cmd.flags}
    inherited = [g for g in GLOBAL_FLAGS if g.name not in shadowed]
    use = cmd.use if "[flags]" in cmd.use else f"{cmd.use} [flags]"
    parts = [cmd.short, "", "Usage:", f"  wl {use}"]
    if cmd.aliases:
        parts += ["", "Aliases:", f"  {', '.join((cmd.name, *cmd.aliases))}"]
    if any(f.name == "local-db" for f in cmd.flags):
        own.append(next(f for f in cmd.flags if f.name == "local-db"))
    parts += ["", "Flags:", _flag_usages(own, cmd.name)]
    if inherited:
        parts += ["", "Global Flags:", _flag_usages(inherited, cmd.name)]
    return "\n".join(parts) + "\n"


def root_help(commands: Sequence[Command]) -> str:
    """The help page of ``wl`` itself."""
    visible = sorted(commands, key=lambda c: c.name)
    pad = max(len(c.name) for c in visible)
    listing = "\n".join(f"  {c.name.ljust(pad)} {c.short}" for c in visible)
    return (
        "Wasteland — federation protocol for Gas Towns\n\n"
        "Usage:\n  wl [flags]\n  wl [command]\n\n"
        f"Available Commands:\n{listing}\n\n"
        f"Flags:\n{_flag_usages([*GLOBAL_FLAGS, HELP_FLAG], 'wl')}\n\n"
        'Use "wl [command] --help" for more information about a command.\n'
    )
