"""The PDF's impact table has the columns of the HTML and Markdown ones: "moved" beside the
movements' recovered, frozen, partly recovered and unrecovered, and the sentence saying what
each is. Without them, the demo's PDF read "lost 110,000 dUSD … unrecovered 1,019,198 dUSD"
(every hop of the attacker's flash swap), as if ten times the loss were gone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
import yaml

from breakglass import store
from breakglass.analysis.assets import AssetInfo
from breakglass.incidents import evidence, service
from breakglass.plan.models import Plan
from breakglass.report.postmortem import write_postmortem
from breakglass.store.models import UserLoss

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKEN, USER, POOL, ATTACKER = ("0x" + c * 40 for c in "1234")
PLAN = """
protocol: Acme Lending
people: {alice: {name: Alice}}
roles: {incident_lead: [alice]}
chains: {mainnet: {chain_id: 1, rpc: ["http://127.0.0.1:9"]}}
contracts: {pool: {chain: mainnet, address: "0x3333333333333333333333333333333333333333"}}
"""


def test_the_pdf_impact_table_says_what_moved_and_what_each_column_is(tmp_path: Path) -> None:
    plan = Plan.model_validate(yaml.safe_load(PLAN))
    url = f"sqlite:///{tmp_path / 'pdf.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as s, s.begin():
        iid = service.open_incident(
            s, plan, title="Pool drain", kind="exploit", severity="P1", chains=["mainnet"],
            contracts=["pool"], detected_at=T0,
        ).id  # fmt: skip
        for amount in (400, 100, 400):  # a flash swap in and out, and the 100 taken
            evidence.add_fund_movement(
                s, iid, chain="mainnet", origin=POOL, tx_hash="0x" + "ab" * 32, asset=TOKEN,
                amount=str(amount * 10**6), destination=ATTACKER, destination_kind="unknown",
                recovery_status="not-recovered",
            )  # fmt: skip
        s.add(UserLoss(incident_id=iid, chain="mainnet", address=USER, asset=TOKEN,
                       amount=str(100 * 10**6), usd_value=None, detail={}))  # fmt: skip
        units = {("mainnet", TOKEN): AssetInfo("USDC", 6)}
        path, _notes = write_postmortem(s, iid, "pdf", tmp_path, plan=plan, now=T0, units=units)
    pdf = pdfium.PdfDocument(str(path))
    try:
        text = " ".join(" ".join(p.get_textpage().get_text_range().split()) for p in pdf)
    finally:
        pdf.close()
    assert "moved" in text.split()
    assert "partly recovered" in text
    assert "moved what left in the recorded fund movements" in text
    assert "900 USDC" in text  # moved: every hop, beside lost 100 USDC
