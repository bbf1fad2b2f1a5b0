"""A spare control server's wait for its wasteland (the local runtime's standby)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from wl_control_server import server


def test_the_assignment_sets_the_wasteland_and_moves_into_its_work_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(server.STANDBY_ENV, "1")
    for key in server.ASSIGNABLE:  # recorded, so the assignment is undone afterwards
        monkeypatch.setenv(key, "")
    work = tmp_path / "w1"
    work.mkdir()
    line = json.dumps({"WASTELAND_ID": "w1", "UPSTREAM": "hop/wl-commons", "WORK_DIR": str(work)})

    assert server.await_assignment(io.StringIO(line + "\n"))

    assert os.environ["WASTELAND_ID"] == "w1"
    assert os.environ["UPSTREAM"] == "hop/wl-commons"
    assert server.STANDBY_ENV not in os.environ
    assert Path.cwd() == work
    assert server.ControlSettings().wasteland_id == "w1"


def test_a_closed_stdin_ends_the_spare() -> None:
    assert not server.await_assignment(io.StringIO(""))


@pytest.mark.parametrize(
    "line",
    ["not json", '["WASTELAND_ID"]', '{"DOLTHUB_TOKEN": "x"}', '{"WASTELAND_ID": 3}'],
)
def test_anything_but_the_assignable_settings_is_refused(
    line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOLTHUB_TOKEN", "")
    monkeypatch.delenv("DOLTHUB_TOKEN")
    with pytest.raises(SystemExit):
        server.await_assignment(io.StringIO(line + "\n"))
    assert "DOLTHUB_TOKEN" not in os.environ
