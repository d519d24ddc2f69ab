"""The PDF post-mortem as a reader gets it, rendered to PNG and its text extracted: a title
page, contents, page numbers, whole words in every table, no Python reprs; and the demo's
post-mortem (a real chain, real contracts) with every section, its funds at risk, lost and
saved in dUSD and a timeline of fewer than 15 rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
import yaml
from PIL import ImageStat
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.analysis.assets import AssetInfo
from breakglass.demo.run import DemoResult, run_demo
from breakglass.incidents import comms, evidence, service
from breakglass.plan.models import Plan
from breakglass.report import regulatory
from breakglass.report.postmortem import SECTIONS, postmortem_document, write_postmortem
from breakglass.report.postmortem_notes import load_notes, notes_path
from breakglass.store.models import Distribution, UserLoss

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKEN, USER, TX = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "ab" * 32
POOL, ATTACKER = "0x" + "aa" * 20, "0x" + "ee" * 20
PLAN = """
protocol: Acme Lending
people: {alice: {name: Alice}, bob: {name: Bob}}
roles: {incident_lead: [alice], scribe: [bob]}
chains: {mainnet: {chain_id: 1, rpc: ["http://127.0.0.1:8545"], explorer: "https://etherscan.io"}}
contracts: {pool: {chain: mainnet, address: "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}
compensation_policy:
  decision_owner: incident_lead
  timeframe: 30 days
  contract_flaw: {covered: true, coverage: 1}
regulatory: {regimes: [gdpr, sec-8k]}
"""


@pytest.fixture
def plan() -> Plan:
    return Plan.model_validate(yaml.safe_load(PLAN))


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'pdf.db'}"
    store.upgrade(url)
    return store.session_factory(store.make_engine(url))


@pytest.fixture
def incident_id(plan: Plan, sessions: sessionmaker[Session]) -> int:
    """A drain, contained and recovered, with a loss per user, fund movements, a distribution,
    a public update, a GDPR filing, and words long enough to be broken in narrow columns."""
    with sessions() as s, s.begin():
        iid = service.open_incident(
            s, plan, title="Pool drain <script>alert(1)</script>", kind="exploit",
            severity="P1", chains=["mainnet"], contracts=["pool"], detected_at=T0,
            started_at=T0 - timedelta(minutes=3), authored=True,
            summary="The lending pool was drained through a price manipulation.",
        ).id  # fmt: skip
        service.transition(s, iid, "triaged", actor="alice", at=T0 + timedelta(minutes=2))
        service.transition(s, iid, "contained", actor="alice", at=T0 + timedelta(minutes=9))
        service.add_task(
            s, iid, "Rotate the guardian key and review every multisig signer", owner="bob",
            due_at=T0 + timedelta(days=7), kind="corrective", actor="alice",
        )  # fmt: skip
        for destination, status in ((ATTACKER, "not-recovered"), ("0x" + "33" * 20, "frozen")):
            evidence.add_fund_movement(
                s, iid, chain="mainnet", origin=POOL, tx_hash=TX, asset=TOKEN,
                amount="250000000", destination=destination, destination_kind="exchange",
                recovery_status=status,
            )  # fmt: skip
        evidence.add_attacker_record(s, iid, "address", ATTACKER, note="funded via a mixer")
        s.add(UserLoss(incident_id=iid, chain="mainnet", address=USER, asset=TOKEN,
                       amount="500000000", usd_value=500.0, detail={}))  # fmt: skip
        s.add(
            Distribution(
                incident_id=iid,
                chain="mainnet",
                token=TOKEN,
                root="0x" + "0" * 64,
                total="500000000",
                tree={},
                created_at=T0 + timedelta(days=2),
            )
        )
        comms.publish_update(
            s, iid, "investigating", "We are investigating", "Deposits are paused.",
            actor="bob", at=T0 + timedelta(minutes=6),
        )  # fmt: skip
        regulatory.record_filing(s, iid, "gdpr", "notification", T0 + timedelta(hours=20))
        service.transition(s, iid, "eradicated", actor="alice", at=T0 + timedelta(hours=5))
        service.transition(s, iid, "recovered", actor="alice", at=T0 + timedelta(hours=30))
    return iid


pytestmark = pytest.mark.chain

REPRS = ("True", "False", "None", "['", "[]", "{'")


def _pages(path: Path, out: Path) -> list[str]:
    """Each page's text; each page is also rendered to ``out/page-N.png`` and must not be
    blank."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        texts = []
        for index in range(len(pdf)):
            page = pdf[index]
            image = page.render(scale=1.3).to_pil()
            image.save(out / f"page-{index + 1}.png")
            assert ImageStat.Stat(image.convert("L")).var[0] > 20, f"page {index + 1} is blank"
            texts.append(page.get_textpage().get_text_range())
        return texts
    finally:
        pdf.close()


def _no_orphaned_heading(pages: list[str]) -> None:
    """No page ends with a heading: the heading moves to the page of what it heads."""
    headings = {*SECTIONS, "5 whys", "Written policy", "Public updates", "Users who lost funds",
                "Plan changes"}  # fmt: skip
    for number, text in enumerate(pages, start=1):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        body = [ln for ln in lines if not re.search(r"page \d+ of \d+", ln)]
        assert body and body[-1] not in headings, f"page {number} ends with a heading"


def _cell_words(document: dict[str, Any]) -> set[str]:
    """Every word of every table cell the document holds (the PDF's tables come from these)."""
    words: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if not str(key).endswith("_url"):
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            words.update(w.strip(".,;:()“”\"'") for w in value.split())

    for key in ("timeline", "impact", "response", "times", "recovery", "disclosure", "filings",
                "action_items", "references"):  # fmt: skip
        walk(document[key])
    return {w for w in words if len(w) >= 5 and w.isalpha()}


def test_pdf_has_a_title_page_contents_page_numbers_and_whole_words(
    plan: Plan, sessions: sessionmaker[Session], incident_id: int, tmp_path: Path
) -> None:
    now = T0.replace(day=4)
    units = {("mainnet", TOKEN): AssetInfo("USDC", 6)}
    with sessions() as s, s.begin():
        path, notes = write_postmortem(
            s, incident_id, "pdf", tmp_path, plan=plan, now=now, units=units
        )
        document = postmortem_document(
            s, incident_id, load_notes(notes), plan=plan, now=now, units=units
        )
    assert notes == notes_path(tmp_path, incident_id)
    pages = _pages(path, tmp_path)
    assert len(pages) >= 4
    title = " ".join(pages[0].split())
    assert "Confidential: draft for the response team" in title
    assert "DRAFT" in title and "Alice" in title and "P1" in title
    assert "Pool drain <script>alert(1)</script>" in title  # shown literally
    contents = " ".join(pages[1].split())
    assert contents.startswith("Contents")
    for heading in SECTIONS:
        assert re.search(re.escape(heading) + r" \d+", contents), heading
    for number, text in enumerate(pages[1:], start=2):
        assert f"page {number} of {len(pages)}" in text
    _no_orphaned_heading(pages)
    flat = "\n".join(pages)
    tokens = {w.strip(".,;:()“”\"'") for w in flat.split()}
    broken = sorted(w for w in _cell_words(document) if w not in tokens)
    assert not broken, f"words broken across lines in the PDF: {broken}"
    for word in ("unrecovered", "distributed", "users"):
        assert word in tokens
    for repr_text in REPRS:
        assert repr_text not in flat, repr_text
    words = " ".join(flat.split())
    assert "notification to " in words  # gdpr: filed
    assert "sec-8k" in words and "not applicable: its clock never started" in words
    assert "500 USDC" in words and "$500.00" in words


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoResult]:
    yield run_demo(tmp_path_factory.mktemp("demo"), say=lambda _line: None)


def test_the_demos_postmortem_has_every_section_in_dusd(demo: DemoResult, tmp_path: Path) -> None:
    pdf, html_path = demo.paths.get("postmortem_pdf"), demo.paths.get("postmortem_html")
    assert pdf is not None and html_path is not None, demo.notes
    pages = _pages(pdf, tmp_path)
    _no_orphaned_heading(pages)
    flat = " ".join(" ".join(pages).split())
    for heading in SECTIONS:
        assert heading in flat, heading
    assert "Demo Lending pool drained through price manipulation" in flat
    assert "440,000 dUSD" in flat  # funds at risk, in tokens
    assert re.search(r"(109,999\.99|110,000) dUSD", flat)  # lost
    assert re.search(r"330,000(\.01)? dUSD", flat)  # saved
    assert "not applicable: A demo on a local chain" in flat  # the plan's regulatory reason
    for repr_text in REPRS:
        assert repr_text not in flat, repr_text
    html = html_path.read_text()
    section = html[html.index('<section id="timeline">') : html.index('<section id="root-cause">')]
    rows = section.count("<tr>") - 1  # less the header
    assert 3 <= rows < 15, rows
    assert "status=" not in section and "people=" not in section  # not a debug log


@pytest.mark.browser
def test_the_demos_html_postmortem_fits_a_phone(demo: DemoResult, tmp_path: Path) -> None:
    """Wide tables scroll inside their own box and long addresses wrap: the page itself is
    never wider than a 390 px phone."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    html = demo.paths.get("postmortem_html")
    assert html is not None, demo.notes
    chromium = Path("/usr/bin/chromium")
    if not chromium.is_file():
        pytest.fail(f"this test needs Chromium at {chromium}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(html.as_uri())
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=str(tmp_path / "postmortem-phone.png"), full_page=True)
            assert page.locator("nav a").count() == len(SECTIONS)  # the contents link them all
        finally:
            browser.close()
