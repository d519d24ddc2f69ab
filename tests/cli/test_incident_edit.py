"""``incident edit`` and ``incident show``: the lead's title and summary replace the generated
ones; until then readers see a generated title, not the alert's; the time to contain is given
once, in one format."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from breakglass import store
from breakglass.incidents import service
from breakglass.plan.models import Plan

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PLAN = """
protocol: Acme Lending
people: {alice: {name: Alice}, bob: {name: Bob}}
roles: {incident_lead: [alice, bob]}
chains: {mainnet: {chain_id: 1, rpc: ["http://127.0.0.1:9"]}}
contracts:
  pool: {chain: mainnet, address: "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
"""


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """``breakglass incident ARGS`` as a user runs it, on a database with one incident the
    desk opened from an alert (title and summary not written by a person)."""
    url = f"sqlite:///{tmp_path / 'edit.db'}"
    store.upgrade(url)
    plan = Plan.model_validate(yaml.safe_load(PLAN))
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as s, s.begin():
        incident = service.open_incident(
            s, plan, title="110,000 dUSD left pool to 0x663f…6602", kind="large-outflow",
            severity="P1", chains=["mainnet"], contracts=["pool"], detected_at=T0,
            started_at=T0 - timedelta(seconds=2),
            summary="The net outflow of an ERC-20 token from a watched contract.",
        )  # fmt: skip
        service.transition(s, incident.id, "contained", actor="alice", at=T0 + timedelta(seconds=9))
    (tmp_path / "breakglass.yaml").write_text(PLAN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    env |= {"BREAKGLASS_DATABASE_URL": url, "COLUMNS": "200", "NO_COLOR": "1",
            "BREAKGLASS_PLAN": str(tmp_path / "breakglass.yaml")}  # fmt: skip

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "breakglass", "incident", *args],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        return done

    return invoke


def test_show_generates_a_title_until_the_lead_writes_one(run: Run) -> None:
    shown = run("show", "1")
    assert shown.returncode == 0, shown.stderr
    first = shown.stdout.splitlines()[0]
    assert (
        first
        == "incident #1 [P1] contained: Acme Lending pool drained; contained 9.0 s after detection"
    )
    assert "first alert: 110,000 dUSD left pool to 0x663f…6602" in shown.stdout
    assert "The net outflow of an ERC-20 token" not in shown.stdout  # not the rule's text
    contain = [line for line in shown.stdout.splitlines() if "time to contain" in line]
    assert len(contain) == 1 and re.search(r"time to contain\W+9\.0 s\b", contain[0]), contain

    refused = run("edit", "1", "--as", "bob", "--title", "x")
    assert refused.returncode == 2
    assert "only the incident lead (alice)" in refused.stderr
    empty = run("edit", "1", "--as", "alice", "--title", "  ")
    assert empty.returncode == 2 and "cannot be empty" in empty.stderr
    nothing = run("edit", "1", "--as", "alice")
    assert nothing.returncode == 2 and "a new title, a new summary, or both" in nothing.stderr

    title = "Acme pool drained through an oracle; paused in 9 s"
    summary = "An attacker moved the oracle's price and borrowed against it."
    edited = run("edit", "1", "--as", "alice", "--title", title, "--summary", summary)
    assert edited.returncode == 0, edited.stderr
    shown = run("show", "1", "--detail")
    assert shown.stdout.splitlines()[0] == f"incident #1 [P1] contained: {title}"
    assert "first alert:" not in shown.stdout and summary in shown.stdout
    assert "title and summary written by alice" in shown.stdout  # the edit is on the timeline


def test_a_title_typed_at_open_is_the_authors(run: Run) -> None:
    opened = run("open", "--title", "Bridge paused by hand", "--severity", "P2", "--kind",
                 "manual", "--chain", "mainnet", "--as", "alice")  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    shown = run("show", "2")
    assert shown.stdout.splitlines()[0] == "incident #2 [P2] detected: Bridge paused by hand"


def test_show_only_reads(run: Run, tmp_path: Path) -> None:
    """``show`` writes nothing, even with a step phase recorded that the timeline does not
    show yet: bringing it there is the timeline consumer's job, as the monitor runs it."""
    from sqlalchemy import func, select  # noqa: PLC0415

    from breakglass.store.models import IncidentRun, ResponseRecord, TimelineEvent  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'edit.db'}"
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as s, s.begin():
        s.add(IncidentRun(incident_id=1, run_id=7))
        s.add(
            ResponseRecord(
                event_id="phase:7:1:broadcast", kind="phase", run_id=7, step_id=1,
                trigger="alert:drain", playbook="contain", chain="mainnet", position=0,
                action="pause", summary="pause pool as guardian", phase="broadcast",
                at=T0 + timedelta(seconds=3), detail={"tx_hash": "0x" + "12" * 32},
            )
        )  # fmt: skip

    def rows() -> int:
        with sessions() as s:
            return int(s.scalar(select(func.count()).select_from(TimelineEvent)) or 0)

    before = rows()
    assert run("show", "1").returncode == 0
    assert rows() == before
