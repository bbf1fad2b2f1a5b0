"""Argument and flag errors: exit 1, ``wl: <cobra/pflag text>`` on stderr, no DoltHub calls."""

# ruff: noqa: E501 - expected values are the real CLI's error texts, verbatim.

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import WlRunner, write_config
from .fakehub import FakeHub

NOT_JOINED_HINT = (
    "\n  Hint: Run 'wl join <org/db>' to join a wasteland, or 'wl create <org/db>' to start one.\n"
)


@pytest.mark.parametrize(
    ("argv", "stderr"),
    [
        (["blorp"], 'wl: unknown command "blorp"\n'),
        (["claim"], "wl: accepts 1 arg(s), received 0\n"),
        (["claim", "a", "b"], "wl: accepts 1 arg(s), received 2\n"),
        (["status"], "wl: accepts 1 arg(s), received 0\n"),
        (["done"], "wl: accepts 1 arg(s), received 0\n"),
        (["done", "w-abc"], 'wl: required flag(s) "evidence" not set\n'),
        (["accept", "w-abc"], 'wl: required flag(s) "quality" not set\n'),
        (["accept", "w-abc", "--quality", "0"], "wl: invalid quality 0: must be 1-5\n"),
        (["accept", "w-abc", "--quality", "6"], "wl: invalid quality 6: must be 1-5\n"),
        (
            ["accept", "w-abc", "--quality", "3", "--reliability", "9"],
            "wl: invalid reliability 9: must be 1-5\n",
        ),
        (
            ["accept", "w-abc", "--quality", "3", "--severity", "bad"],
            'wl: invalid severity "bad": must be one of leaf, branch, root\n',
        ),
        (["post"], 'wl: required flag(s) "title" not set\n'),
        (
            ["post", "--title", "t", "--type", "invalid"],
            'wl: invalid type "invalid": must be one of feature, bug, design, rfc, docs\n',
        ),
        (
            ["post", "--title", "t", "--effort", "huge"],
            'wl: invalid effort "huge": must be one of trivial, small, medium, large, epic\n',
        ),
        (["post", "--title", "t", "--priority", "9"], "wl: invalid priority 9: must be 0-4\n"),
        (
            ["post", "--title", "t", "--priority", "x"],
            'wl: invalid argument "x" for "--priority" flag: strconv.ParseInt: parsing "x": invalid syntax\n',
        ),
        (["post", "--title"], "wl: flag needs an argument: --title\n"),
        (["post", "-d"], "wl: flag needs an argument: 'd' in -d\n"),
        (["browse", "extra"], 'wl: unknown command "extra" for "wl browse"\n'),
        (
            ["browse", "--json=maybe"],
            'wl: invalid argument "maybe" for "--json" flag: strconv.ParseBool: parsing "maybe": invalid syntax\n',
        ),
        (["browse", "-x"], "wl: unknown shorthand flag: 'x' in -x\n"),
        (["browse", "--bogus"], "wl: unknown flag: --bogus\n"),
        (["sync", "extra"], 'wl: unknown command "extra" for "wl sync"\n'),
        (["version", "x"], 'wl: unknown command "x" for "wl version"\n'),
        (["join", "a", "b"], "wl: accepts at most 1 arg(s), received 2\n"),
        (
            ["join", "badformat"],
            "wl: invalid upstream path \"badformat\": expected format 'org/database'\n",
        ),
        (
            ["join", "--github-local", "/tmp", "--remote-base", "/tmp"],
            "wl: if any flags in the group [remote-base git-remote github github-local] are set "
            "none of the others can be; [github-local remote-base] were all set\n",
        ),
        (
            ["--color", "bogus", "version"],
            'wl: invalid --color value "bogus": must be always, auto, or never\n',
        ),
        (["update", "w-abc"], "wl: at least one field must be provided to update\n"),
        (
            ["claim", "w-abc"],
            "wl: loading wasteland config: rig has not joined a wasteland (run 'wl join <upstream>')\n"
            + NOT_JOINED_HINT,
        ),
        (
            ["sync"],
            "wl: loading wasteland config: rig has not joined a wasteland (run 'wl join <upstream>')\n"
            + NOT_JOINED_HINT,
        ),
    ],
)
def test_argument_errors(wl: WlRunner, hub: FakeHub, argv: list[str], stderr: str) -> None:
    result = wl(*argv)
    assert (result.code, result.out, result.err) == (1, "", stderr)
    assert hub.calls == []


def test_checks_run_in_cobra_order(wl: WlRunner) -> None:
    # Positional args are validated before --color, --color before required flags.
    assert wl("done", "--color", "x").err == "wl: accepts 1 arg(s), received 0\n"
    assert wl("done", "w-1", "--color", "x").err.startswith("wl: invalid --color value")
    # Flag values are validated before the config is loaded.
    assert (
        wl("post", "--title", "t", "--priority", "7").err == "wl: invalid priority 7: must be 0-4\n"
    )


def test_flags_may_precede_the_command(wl: WlRunner) -> None:
    assert wl("--color", "never", "version").out == "wl dev (commit: unknown, built: unknown)\n"
    assert wl("--wasteland", "x/y", "version").code == 0


def test_version_and_help(wl: WlRunner, hub: FakeHub) -> None:
    assert wl("version").out == "wl dev (commit: unknown, built: unknown)\n"
    root = wl()
    assert root.code == 0
    assert "Usage:" in root.out
    assert "claim" in root.out
    claim_help = wl("claim", "--help")
    assert claim_help.code == 0
    assert "wl claim <wanted-id> [flags]" in claim_help.out
    assert "--no-push" in claim_help.out
    assert wl("help", "browse").out == wl("browse", "-h").out
    assert hub.calls == []


def test_show_is_an_alias_of_status(wl: WlRunner) -> None:
    assert wl("show").err == "wl: accepts 1 arg(s), received 0\n"


def test_ambiguous_wastelands(wl: WlRunner, wl_env: Path) -> None:
    write_config(wl_env, "hop/wl-commons")
    write_config(wl_env, "acme/board")
    result = wl("browse")
    assert result.code == 1
    assert result.err == (
        "wl: loading wasteland config: multiple wastelands joined; use --wasteland to select one:\n"
        "  - acme/board\n  - hop/wl-commons\n\n"
        "\n  Hint: Use --wasteland <org/db> to select which wasteland.\n"
    )


def test_explicit_wasteland_not_joined(wl: WlRunner, wl_env: Path) -> None:
    write_config(wl_env, "hop/wl-commons")
    result = wl("--wasteland", "x/y", "sync")
    assert result.err == (
        "wl: loading wasteland config: loading config for x/y: rig has not joined a wasteland\n"
        + NOT_JOINED_HINT
    )
    bad = wl("--wasteland", "nope", "sync")
    assert bad.err == (
        'wl: loading wasteland config: loading config for nope: invalid upstream path "nope": '
        "expected format 'org/database'\n\n  Hint: Run 'wl doctor' to check your setup.\n"
    )


def test_remote_mode_needs_token(
    wl: WlRunner, joined: Path, monkeypatch: pytest.MonkeyPatch, hub: FakeHub
) -> None:
    monkeypatch.delenv("DOLTHUB_TOKEN")
    result = wl("claim", "w-open000001")
    assert result.code == 1
    assert result.err == (
        "wl: DOLTHUB_TOKEN required for remote mode\n\n"
        "Get your token from https://www.dolthub.com/settings/tokens\n"
    )
    assert hub.calls == []
