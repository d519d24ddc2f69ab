"""``incident show`` names each milestone as the status that reaches it, so a word it shows
is one ``incident transition`` takes: no "resolved" milestone beside a refused "resolved"."""

from __future__ import annotations

import re

from .test_incident_edit import Run, run  # noqa: F401 - the fixture


def test_milestones_are_statuses_transition_takes(run: Run) -> None:  # noqa: F811
    milestones = re.findall(r"^\W*(\w[\w ]*?)\s+│", run("show", "1").stdout, re.M)
    assert "recovered" in milestones and "resolved" not in milestones, milestones

    refused = run("transition", "1", "resolved", "--as", "alice")
    assert refused.returncode != 0
    assert "resolved when it reaches recovered" in refused.stdout + refused.stderr

    assert run("transition", "1", "eradicated", "--as", "alice").returncode == 0
    moved = run("transition", "1", "recovered", "--as", "alice")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    row = [line for line in run("show", "1").stdout.splitlines() if "recovered" in line]
    assert any(re.search(r"recovered\W+\d{4}-\d\d-\d\d", line) for line in row), row
