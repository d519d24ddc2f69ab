"""The post-mortem: built from the incident store, every section in md, html and pdf, hostile
text escaped, the team's notes file never overwritten, action items feeding the plan, the
draft → in-review → published status, and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
import yaml
from PIL import ImageStat
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from breakglass import store
from breakglass.analysis.assets import AssetInfo
from breakglass.cli.postmortem import app as postmortem_app
from breakglass.incidents import comms, evidence, service
from breakglass.plan.models import Plan
from breakglass.report import regulatory
from breakglass.report.postmortem import (
    SECTIONS,
    PostmortemError,
    open_plan_changes,
    set_postmortem_status,
    write_postmortem,
)
from breakglass.store.models import Distribution, Postmortem, Task, UserLoss

HOSTILE = "<script>alert(1)</script> & <b>bold</b>"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POOL = "0x" + "aa" * 20
ATTACKER = "0x" + "ee" * 20
TOKEN = "0x" + "11" * 20
USER = "0x" + "22" * 20
TX = "0x" + "ab" * 32
PLAN_YAML = """
protocol: Acme Lending
people: {alice: {name: Alice}, bob: {name: Bob}}
roles: {incident_lead: [alice], scribe: [bob]}
chains: {mainnet: {chain_id: 1, rpc: ["http://127.0.0.1:8545"]}}
contracts: {pool: {chain: mainnet, address: "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}
compensation_policy:
  decision_owner: incident_lead
  timeframe: 30 days
  contract_flaw: {covered: true, coverage: 1}
regulatory: {regimes: [gdpr]}
"""


@pytest.fixture
def plan() -> Plan:
    return Plan.model_validate(yaml.safe_load(PLAN_YAML))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'pm.db'}"
    store.upgrade(url)
    return url


@pytest.fixture
def sessions(db_url: str) -> sessionmaker[Session]:
    return store.session_factory(store.make_engine(db_url))


@pytest.fixture
def incident_id(plan: Plan, sessions: sessionmaker[Session]) -> int:
    """An exploit that was detected, contained and recovered, with evidence and losses."""
    with sessions() as s, s.begin():
        incident = service.open_incident(
            s,
            plan,
            title=f"Pool drain {HOSTILE}",
            kind="exploit",
            severity="P1",
            chains=["mainnet"],
            contracts=["pool"],
            detected_at=T0,
            started_at=T0 - timedelta(minutes=3),
            summary="The lending pool was drained through a price manipulation.",
            authored=True,  # opened by hand: a person wrote the title and summary
        )
        iid = incident.id
        service.transition(s, iid, "triaged", actor="alice", at=T0 + timedelta(minutes=2))
        service.transition(s, iid, "contained", actor="alice", at=T0 + timedelta(minutes=9))
        service.add_note(s, iid, f"note {HOSTILE}", actor="bob", at=T0 + timedelta(minutes=4))
        service.add_task(
            s, iid, "Rotate the guardian key", owner="carol", due_at=None, kind="corrective",
            actor="alice",
        )  # fmt: skip
        evidence.set_address_status(s, iid, "mainnet", POOL, "impacted", note="drained")
        evidence.add_fund_movement(
            s, iid, chain="mainnet", origin=POOL, tx_hash=TX, asset=TOKEN, amount="1000",
            destination=ATTACKER, destination_kind="unknown", usd_value=1000.0,
        )  # fmt: skip
        evidence.add_fund_movement(
            s, iid, chain="mainnet", origin=ATTACKER, tx_hash=TX, asset=TOKEN, amount="400",
            destination="0x" + "33" * 20, destination_kind="exchange",
            recovery_status="frozen",
        )  # fmt: skip
        evidence.add_attacker_record(s, iid, "address", ATTACKER, note="EOA")
        evidence.set_funds_at_risk(s, iid, 250000.0)
        s.add(
            UserLoss(
                incident_id=iid, chain="mainnet", address=USER, asset=TOKEN, amount="1000",
                usd_value=1000.0, detail={},
            )
        )  # fmt: skip
        s.add(
            Distribution(
                incident_id=iid, chain="mainnet", token=TOKEN, root="0x" + "00" * 32,
                total="1000", tree={}, created_at=T0 + timedelta(days=2),
            )
        )  # fmt: skip
        comms.publish_update(
            s, iid, "investigating", "We are investigating", f"body {HOSTILE}", actor="bob",
            at=T0 + timedelta(minutes=6),
        )  # fmt: skip
        regulatory.record_filing(s, iid, "gdpr", "notification", T0 + timedelta(hours=20))
        service.transition(s, iid, "eradicated", actor="alice", at=T0 + timedelta(hours=5))
        service.transition(s, iid, "recovered", actor="alice", at=T0 + timedelta(hours=30))
    return iid


def _write(sessions: sessionmaker[Session], iid: int, fmt: str, out: Path, plan: Plan) -> Path:
    with sessions() as s, s.begin():
        path, _ = write_postmortem(s, iid, fmt, out, plan=plan, now=T0 + timedelta(days=3))  # type: ignore[arg-type]
    return path


def test_markdown_has_every_section_and_the_facts(
    plan: Plan, sessions: sessionmaker[Session], incident_id: int, tmp_path: Path
) -> None:
    text = _write(sessions, incident_id, "md", tmp_path, plan).read_text()
    for heading in SECTIONS:
        assert f"## {heading}" in text
    assert "**draft**" in text
    assert "| time to detect | 3 min 00 s |" in text
    assert "| time to contain | 9 min 00 s |" in text
    assert TX in text and "| 2026-03-01 12:04:00 |" in text
    assert "| mainnet | " + TOKEN + " | 1 | 1000 | $1,000.00 | 1400 | 0 | 400 |" in text
    assert "matches the policy" in text  # 1000 lost, entitled and distributed
    assert "We are investigating" in text
    assert "| gdpr | notification to " in text
    assert "Rotate the guardian key" in text
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_impact_reads_in_the_token_unit_once_known(
    plan: Plan, sessions: sessionmaker[Session], incident_id: int, tmp_path: Path
) -> None:
    units = {("mainnet", TOKEN): AssetInfo("dUSD", 2)}
    with sessions() as s, s.begin():
        path, _ = write_postmortem(
            s, incident_id, "md", tmp_path, plan=plan, now=T0 + timedelta(days=3), units=units
        )
    text = path.read_text()
    assert "| mainnet | dUSD | 1 | 10 dUSD | $1,000.00 | 14 dUSD | 0 dUSD | 4 dUSD |" in text
    assert TOKEN + " | 1 |" not in text


def test_html_escapes_hostile_text_and_draws_charts(
    plan: Plan, sessions: sessionmaker[Session], incident_id: int, tmp_path: Path
) -> None:
    html = _write(sessions, incident_id, "html", tmp_path, plan).read_text()
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in html
    assert html.count("<svg") == 2  # the timeline and the fund flow
    assert "Incident timeline (UTC)" in html and "Fund flow" in html


def test_pdf_page_is_drawn_and_has_the_text(
    plan: Plan, sessions: sessionmaker[Session], incident_id: int, tmp_path: Path
) -> None:
    path = _write(sessions, incident_id, "pdf", tmp_path, plan)
    pdf = pdfium.PdfDocument(str(path))
    image = pdf[0].render(scale=1).to_pil().convert("L")
    assert ImageStat.Stat(image).var[0] > 50  # pixel variance: not a blank page
    image.save(tmp_path / "page1.png")
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    flat = " ".join(text.split())
    assert "Pool drain <script>alert(1)</script>" in flat  # shown literally, not as markup
    for heading in SECTIONS:
        assert heading in flat
    assert "Incident timeline (UTC)" in flat


def test_notes_are_created_once_and_survive_regeneration(
    plan: Plan, sessions: sessionmaker[Session], incident_id: int, tmp_path: Path
) -> None:
    _write(sessions, incident_id, "md", tmp_path, plan)
    notes = tmp_path / f"postmortem-{incident_id}.yaml"
    template = notes.read_text()
    assert "five_whys:" in template and "went_well: []" in template
    assert "\n# Post-mortem" not in template.split("\n", 1)[1]  # the title stays on one line
    written = {
        "summary": f"Summary by people {HOSTILE}",
        "root_cause": "An oracle read a spot price.",
        "five_whys": ["the price moved", "it was a spot price", "", "no review caught it"],
        "went_well": ["Paused within ten minutes"],
        "went_wrong": ["Paging took two minutes"],
        "lucky": ["The attacker's second transaction reverted"],
        "plan_changes": ["Add a stale-oracle rule"],
        "action_items": [
            {"title": "Add TWAP", "owner": "alice", "due": "2026-04-01",
             "kind": "preventative", "plan_section": "playbooks"},
            {"title": "Review oracles", "owner": "bob"},
        ],
    }  # fmt: skip
    notes.write_text(yaml.safe_dump(written))
    before = notes.read_text()
    for fmt in ("md", "html", "md"):
        report = _write(sessions, incident_id, fmt, tmp_path, plan)
    assert notes.read_text() == before
    text = report.read_text()
    assert "Summary by people &lt;script&gt;" in text
    assert "1. the price moved" in text and "3. no review caught it" in text
    assert "Paused within ten minutes" in text and "second transaction reverted" in text
    assert "| " + "playbooks" in text and "Add TWAP" in text
    with sessions() as s:
        titles = s.scalars(select(Task.title).where(Task.source == "post-mortem")).all()
        assert sorted(titles) == ["Review oracles", "[plan:playbooks] Add TWAP"]  # no duplicates
        changes = open_plan_changes(s)
        assert [(c.section, c.title, c.owner) for c in changes] == [
            ("playbooks", "Add TWAP", "alice")
        ]
        task_id = changes[0].task_id
    with sessions() as s, s.begin():
        service.set_task_status(s, task_id, "done", actor="alice")
    with sessions() as s:
        assert open_plan_changes(s) == []


def test_bad_notes_are_reported(
    plan: Plan, sessions: sessionmaker[Session], incident_id: int, tmp_path: Path
) -> None:
    notes = tmp_path / f"postmortem-{incident_id}.yaml"
    notes.write_text("action_items: [{title: x, plan_section: nowhere}]\n")
    with pytest.raises(PostmortemError, match="not a plan section"):
        _write(sessions, incident_id, "md", tmp_path, plan)
    notes.write_text("went_well: [unclosed\n")
    with pytest.raises(PostmortemError, match="not valid YAML"):
        _write(sessions, incident_id, "md", tmp_path, plan)


def test_status_goes_draft_review_published(
    sessions: sessionmaker[Session], incident_id: int
) -> None:
    at = T0 + timedelta(days=4)
    with sessions() as s, s.begin():
        with pytest.raises(PostmortemError, match="from draft to published"):
            set_postmortem_status(s, incident_id, "published", now=at)
        assert set_postmortem_status(s, incident_id, "in-review", now=at).status == "in-review"
        row = set_postmortem_status(s, incident_id, "published", now=at + timedelta(hours=1))
        assert row.published_at == at + timedelta(hours=1)
        with pytest.raises(PostmortemError, match="use one of"):
            set_postmortem_status(s, incident_id, "final", now=at)
    with sessions() as s:
        rows = s.scalars(select(Postmortem)).all()
        assert [(r.incident_id, r.status) for r in rows] == [(incident_id, "published")]


def test_cli_writes_each_format_and_moves_the_status(
    db_url: str, incident_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BREAKGLASS_DATABASE_URL", db_url)
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(PLAN_YAML)
    out = tmp_path / "reports"
    runner = CliRunner()
    for fmt in ("md", "html", "pdf"):
        args = [str(incident_id), "--format", fmt, "--out", str(out), "--plan", str(plan_file)]
        result = runner.invoke(postmortem_app, args)
        assert result.exit_code == 0, result.output
        assert (out / f"postmortem-{incident_id}.{fmt}").exists()
    assert (out / f"postmortem-{incident_id}.pdf").read_bytes().startswith(b"%PDF")
    result = runner.invoke(
        postmortem_app, [str(incident_id), "--out", str(out), "--status", "in-review"]
    )
    assert result.exit_code == 0, result.output
    assert "**draft** (in-review:" in (out / f"postmortem-{incident_id}.md").read_text()
    result = runner.invoke(postmortem_app, ["999", "--out", str(out)])
    assert result.exit_code != 0


def test_html_draws_a_stored_tx_analysis_with_render_svg(
    plan: Plan,
    sessions: sessionmaker[Session],
    incident_id: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from breakglass.analysis import render  # noqa: PLC0415

    drawn = "<?xml version='1.0' encoding='utf-8'?>\n<svg><text>FLOW-OF-TX</text></svg>\n"
    monkeypatch.setattr(render, "render_svg", lambda analysis, units=None: drawn)
    with sessions() as s, s.begin():
        path, _ = write_postmortem(
            s,
            incident_id,
            "html",
            tmp_path,
            plan=plan,
            analyses=[object()],  # type: ignore[list-item]
        )
    html = path.read_text()
    assert "<svg><text>FLOW-OF-TX</text></svg>" in html
    assert "<?xml" not in html
    assert "Fund flow</text>" not in html  # the analysis replaces the movements diagram
