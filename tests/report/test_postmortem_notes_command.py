"""The notes file names the command that reads it back: written under ``demo/postmortem/``, it
says ``--out demo/postmortem``; a bare ``breakglass postmortem 1`` run from the repository
would read (and create) ``./postmortem-1.yaml`` and leave the team's notes out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from breakglass.report.postmortem_notes import notes_path, write_notes_template

pytestmark = pytest.mark.unit


def _command(path: Path) -> str:
    line = next(x for x in path.read_text(encoding="utf-8").splitlines() if "`breakglass" in x)
    return line.split("`")[1]


def test_notes_in_another_directory_name_it_in_the_command(tmp_path: Path) -> None:
    path = notes_path(tmp_path / "demo" / "post mortem", 1)
    assert write_notes_template(path, 1, "Pool drained")
    assert _command(path) == f"breakglass postmortem 1 --out '{tmp_path / 'demo' / 'post mortem'}'"


def test_notes_in_the_current_directory_need_no_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = notes_path(Path(), 2)
    assert write_notes_template(path, 2, "Pool drained")
    assert _command(path) == "breakglass postmortem 2"
    assert os.path.exists(tmp_path / "postmortem-2.yaml")
