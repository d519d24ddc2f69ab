"""The static status page: only public updates, every hostile text escaped in HTML, JSON and
Atom, files replaced atomically, and the API serving the same content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.api import create_app
from breakglass.incidents import comms, service
from breakglass.plan import load_plan
from breakglass.plan.loader import LoadedPlan
from breakglass.report.status import ATOM_NS, public_content, render_status_page, write_atomically

HOSTILE = "<script>alert(1)</script> ]]> & \"quoted\" 'single'"
SECRETS = ("INTERNAL-TITLE", "SECRET-NOTE", "SECRET-TASK", "SECRET-SUMMARY", "mallory")
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
A = f"{{{ATOM_NS}}}"
PLAN = """
protocol: Acme & <Lending>
people:
  mallory: {name: Mallory}
roles:
  incident_lead: [mallory]
"""


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedPlan:
    (tmp_path / "breakglass.yaml").write_text(PLAN)
    return load_plan(tmp_path / "breakglass.yaml")


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'status.db'}"
    store.upgrade(url)
    return store.session_factory(store.make_engine(url))


@pytest.fixture
def populated(loaded: LoadedPlan, sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """One incident with hostile public updates and secret internals; one undisclosed."""
    with sessions() as s, s.begin():
        incident = service.open_incident(
            s,
            loaded.plan,
            title="INTERNAL-TITLE drain by 0xbad",
            kind="exploit",
            severity="P1",
            chains=[],
            contracts=[],
            detected_at=T0,
            summary="SECRET-SUMMARY",
            actor="mallory",
        )
        service.add_note(s, incident.id, "SECRET-NOTE <b>", actor="mallory", at=T0)
        service.add_task(
            s,
            incident.id,
            "SECRET-TASK",
            owner="mallory",
            due_at=None,
            kind="corrective",
            actor="mallory",
        )
        comms.publish_update(
            s,
            incident.id,
            "investigating",
            HOSTILE,
            f"body {HOSTILE}",
            actor="mallory",
            at=T0 + timedelta(minutes=5),
        )
        comms.publish_update(
            s,
            incident.id,
            "identified",
            "Root cause found",
            "Pool paused.\nFunds safe.",
            actor="mallory",
            at=T0 + timedelta(minutes=30),
        )
        service.open_incident(
            s,
            loaded.plan,
            title="INTERNAL-TITLE undisclosed",
            kind="manual",
            severity="P4",
            chains=[],
            contracts=[],
            detected_at=T0,
        )
    return sessions


def _render(loaded: LoadedPlan, sessions: sessionmaker[Session], out: Path) -> list[Path]:
    with sessions() as s:
        updates, incidents = public_content(s)
        return render_status_page(loaded.plan.protocol, updates, incidents, out, plan=loaded.plan)


def test_writes_three_files_and_no_temporaries(
    loaded: LoadedPlan, populated: sessionmaker[Session], tmp_path: Path
) -> None:
    out = tmp_path / "site" / "status"
    paths = _render(loaded, populated, out)
    assert [p.name for p in paths] == ["index.html", "status.json", "feed.atom"]
    assert sorted(p.name for p in out.iterdir()) == ["feed.atom", "index.html", "status.json"]
    _render(loaded, populated, out)  # re-rendering replaces in place
    assert sorted(p.name for p in out.iterdir()) == ["feed.atom", "index.html", "status.json"]


def test_html_escapes_and_has_no_script(
    loaded: LoadedPlan, populated: sessionmaker[Session], tmp_path: Path
) -> None:
    _render(loaded, populated, tmp_path)
    html = (tmp_path / "index.html").read_text()
    assert "<script" not in html
    assert "]]>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; ]]&gt; &amp; &#34;quoted&#34;" in html
    assert "Acme &amp; &lt;Lending&gt; status" in html
    assert "Root cause found" in html and "identified" in html
    for secret in SECRETS:
        assert secret not in html


def test_json_round_trips_hostile_text_and_stays_inert(
    loaded: LoadedPlan, populated: sessionmaker[Session], tmp_path: Path
) -> None:
    _render(loaded, populated, tmp_path)
    raw = (tmp_path / "status.json").read_text()
    assert "<" not in raw and ">" not in raw and "&" not in raw
    doc = json.loads(raw)
    assert doc["protocol"] == "Acme & <Lending>"
    assert doc["status"] == "incident"
    [incident] = doc["incidents"]  # the undisclosed incident is not there
    assert incident["status"] == "identified"
    assert [u["title"] for u in incident["updates"]] == ["Root cause found", HOSTILE]
    assert incident["updates"][1]["body"] == f"body {HOSTILE}"
    assert set(incident["updates"][0]) == {"id", "status", "title", "body", "published_at"}
    for secret in SECRETS:
        assert secret not in raw


def test_atom_is_valid_and_escaped(
    loaded: LoadedPlan, populated: sessionmaker[Session], tmp_path: Path
) -> None:
    _render(loaded, populated, tmp_path)
    raw = (tmp_path / "feed.atom").read_bytes()
    assert b"<script" not in raw and b"]]>" not in raw
    feed = ET.fromstring(raw)
    assert feed.tag == f"{A}feed"
    assert feed.findtext(f"{A}id", "").startswith("urn:uuid:")
    assert feed.findtext(f"{A}updated") == "2026-11-23T12:30:00Z"
    assert feed.findtext(f"{A}title") == "Acme & <Lending> status"
    assert feed.findtext(f"{A}author/{A}name") == "Acme & <Lending>"
    entries = feed.findall(f"{A}entry")
    assert [e.findtext(f"{A}title") for e in entries] == [
        "[identified] Root cause found",
        f"[investigating] {HOSTILE}",
    ]
    for entry in entries:
        assert entry.findtext(f"{A}id", "").startswith("urn:uuid:")
        assert entry.findtext(f"{A}updated")
    assert entries[1].findtext(f"{A}content") == f"body {HOSTILE}"
    assert len({e.findtext(f"{A}id") for e in entries}) == 2
    for secret in SECRETS:
        assert secret.encode() not in raw


def test_control_characters_cannot_break_the_feed(
    loaded: LoadedPlan, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as s, s.begin():
        incident = service.open_incident(
            s,
            loaded.plan,
            title="t",
            kind="manual",
            severity="P3",
            chains=[],
            contracts=[],
            detected_at=T0,
        )
        comms.publish_update(s, incident.id, "investigating", "a\x01b\x0c", "c\x1bd", actor="x")
    _render(loaded, sessions, tmp_path)
    feed = ET.fromstring((tmp_path / "feed.atom").read_bytes())
    assert feed.findtext(f"{A}entry/{A}title") == "[investigating] ab"
    assert json.loads((tmp_path / "status.json").read_text())["incidents"][0]["title"] == "ab"


def test_empty_page_is_operational(
    loaded: LoadedPlan, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as s:
        updates, incidents = public_content(s)
    render_status_page(loaded.plan.protocol, updates, incidents, tmp_path, now=T0)
    doc = json.loads((tmp_path / "status.json").read_text())
    assert doc == {
        "protocol": "Acme & <Lending>",
        "status": "operational",
        "updated_at": "2026-11-23T12:00:00Z",
        "incidents": [],
    }
    assert "No ongoing incidents." in (tmp_path / "index.html").read_text()
    feed = ET.fromstring((tmp_path / "feed.atom").read_bytes())
    assert feed.findall(f"{A}entry") == []


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "index.html"
    target.write_text("old")

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_api_serves_the_same_public_content(
    loaded: LoadedPlan, populated: sessionmaker[Session], tmp_path: Path
) -> None:
    _render(loaded, populated, tmp_path)
    with TestClient(create_app(loaded, populated)) as client:
        for path, name in (
            ("/status", "index.html"),
            ("/status.json", "status.json"),
            ("/feed.atom", "feed.atom"),
        ):
            response = client.get(path)
            assert response.status_code == 200
            assert response.content == (tmp_path / name).read_bytes(), path
        assert client.get("/status").headers["content-type"].startswith("text/html")
        assert client.get("/feed.atom").headers["content-type"].startswith("application/atom+xml")


@pytest.mark.e2e
def test_cli_renders_the_page(
    loaded: LoadedPlan, populated: sessionmaker[Session], tmp_path: Path
) -> None:
    url = str(populated.kw["bind"].url)
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": url, "NO_COLOR": "1", "COLUMNS": "200"}
    out = tmp_path / "public"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "breakglass",
            "status",
            "render",
            "--out",
            str(out),
            "--plan",
            str(loaded.file),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        str(out / n) for n in ("index.html", "status.json", "feed.atom")
    ]
    assert "2 public updates of 1 incident\n" in result.stderr
    assert json.loads((out / "status.json").read_text())["incidents"][0]["status"] == "identified"


ANSWERS_PLAN = """
protocol: Demo Lending
people:
  alice: {name: Alice}
roles:
  incident_lead: [alice]
chains:
  mainnet:
    chain_id: 1
    rpc: ["https://rpc.example"]
    explorer: https://etherscan.io
contracts:
  pool: {chain: mainnet, address: "0x663f3ad617193148711d28f5334ee4ed070166d0"}
communication:
  update_cadence: 30m
"""


def test_the_page_answers_users_first(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    (tmp_path / "plan.yaml").write_text(ANSWERS_PLAN)
    plan = load_plan(tmp_path / "plan.yaml")
    posted = T0 + timedelta(minutes=5, seconds=7, microseconds=123456)
    with sessions() as s, s.begin():
        incident = service.open_incident(
            s, plan.plan, title="INTERNAL-TITLE", kind="exploit", severity="P1",
            chains=["mainnet"], contracts=["pool"], detected_at=T0,
        )  # fmt: skip
        comms.publish_update(
            s, incident.id, "investigating", "Pool drained", "We are on it.", actor="alice",
            at=posted,
        )  # fmt: skip
    out = tmp_path / "page"
    _render(plan, sessions, out)
    doc = json.loads((out / "status.json").read_text())
    (entry,) = doc["incidents"]
    assert entry["funds_safe"].startswith("Not confirmed yet")
    assert entry["what_to_do"].startswith("Do not interact with the affected contracts")
    assert entry["chains"] == ["mainnet"]
    address = "0x663F3Ad617193148711d28f5334ee4eD070166d0"  # checksummed, as the plan keeps it
    link = f"https://etherscan.io/address/{address}"
    assert entry["contracts"] == [
        {"name": "pool", "chain": "mainnet", "address": address, "link": link}
    ]
    assert entry["updated_at"] == "2026-11-23T12:05:07Z"  # no microseconds
    assert entry["next_update_at"] == "2026-11-23T12:35:07Z"  # the plan's 30m cadence
    html = (out / "index.html").read_text()
    assert "Are funds safe?" in html and "What should I do?" in html
    assert f'<a href="{link}"><code>{address}</code></a>' in html
    assert "updated 2026-11-23 12:05 UTC" in html and "by <time" in html
    assert "2026-11-23 12:35 UTC" in html
    assert ".123456" not in html
    feed = ET.fromstring((out / "feed.atom").read_bytes())
    summary = feed.findtext(f"{A}entry/{A}summary") or ""
    assert "Are funds safe? Not confirmed yet" in summary
    assert f"pool {address} (mainnet)" in summary
    assert "Next update by 2026-11-23 12:35 UTC" in summary

    with sessions() as s, s.begin():
        service.transition(s, incident.id, "triaged", actor="alice", at=T0 + timedelta(minutes=6))
        service.transition(s, incident.id, "contained", actor="alice", at=T0 + timedelta(minutes=7))
    _render(plan, sessions, out)
    (entry,) = json.loads((out / "status.json").read_text())["incidents"]
    assert entry["funds_safe"].startswith("The attack is contained")
    assert entry["funds_safe"].endswith("Losses, if any, are being measured.")
    with sessions() as s, s.begin():  # the team says what was lost: the page no longer
        comms.publish_update(  # says it is being measured under that update
            s, incident.id, "monitoring", "Losses measured", "110,000 dUSD lost.",
            actor="alice", at=T0 + timedelta(minutes=8),
        )  # fmt: skip
    _render(plan, sessions, out)
    (entry,) = json.loads((out / "status.json").read_text())["incidents"]
    assert entry["funds_safe"].startswith("The attack is contained")
    assert "being measured" not in entry["funds_safe"]
    assert "being measured" not in (out / "index.html").read_text()
    with sessions() as s, s.begin():  # the lead's promised time wins over the cadence
        service.get_incident(s, incident.id).next_update_at = T0 + timedelta(minutes=50)
    _render(plan, sessions, out)
    (entry,) = json.loads((out / "status.json").read_text())["incidents"]
    assert entry["next_update_at"] == "2026-11-23T12:50:00Z"
    with sessions() as s, s.begin():
        comms.publish_update(
            s, incident.id, "resolved", "Resolved", "Done.", actor="alice",
            at=T0 + timedelta(hours=2),
        )  # fmt: skip
    _render(plan, sessions, out)
    (entry,) = json.loads((out / "status.json").read_text())["incidents"]
    assert entry["funds_safe"] == "Yes. The incident is resolved."
    assert entry["next_update_at"] is None
    assert "none planned: the incident is resolved" in (out / "index.html").read_text()
