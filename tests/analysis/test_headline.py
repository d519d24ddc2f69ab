"""An incident's headline figures, from what is stored, in the tokens' units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from breakglass import store
from breakglass.analysis.assets import AssetInfo
from breakglass.analysis.headline import NOT_MEASURED, headline_figures, span_text
from breakglass.incidents import evidence, service
from breakglass.plan import load_plan
from breakglass.store.models import UserLoss

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "0x" + "11" * 20
PLAN = "protocol: Demo Lending\npeople:\n  alice: {name: Alice}\nroles:\n  incident_lead: [alice]\n"


def test_headline_figures(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    plan = load_plan(tmp_path / "plan.yaml").plan
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as s, s.begin():
        bare = service.open_incident(
            s, plan, title="quiet", kind="manual", severity="P4", chains=[], contracts=[],
            detected_at=T0,
        ).id  # fmt: skip
        iid = service.open_incident(
            s, plan, title="drain", kind="exploit", severity="P1", chains=["local"],
            contracts=[], detected_at=T0, started_at=T0 - timedelta(seconds=12),
        ).id  # fmt: skip
        service.transition(s, iid, "triaged", actor="alice", at=T0 + timedelta(seconds=20))
        service.transition(s, iid, "contained", actor="alice", at=T0 + timedelta(seconds=24))
        for user, amount in (("0x" + "a1" * 20, 100_000 * 10**18), ("0x" + "a2" * 20, 10**22)):
            s.add(
                UserLoss(
                    incident_id=iid, chain="local", address=user, asset=TOKEN,
                    amount=str(amount), usd_value=amount / 10**18, detail={},
                )
            )  # fmt: skip
        evidence.add_fund_movement(
            s, iid, chain="local", origin="0x" + "bb" * 20, tx_hash="0x" + "cc" * 32,
            asset=TOKEN, amount=str(25 * 10**17), destination="0x" + "dd" * 20,
            destination_kind="exchange", recovery_status="frozen",
        )  # fmt: skip
        evidence.set_funds_at_risk(s, iid, 440_000.0)
    with sessions() as s:
        units = {("local", TOKEN): AssetInfo("dUSD", 18)}
        figures = dict(headline_figures(s, incident_id=iid, units=units).rows())
        quiet = dict(headline_figures(s, incident_id=bare).rows())
    assert figures == {
        "funds at risk": "$440,000.00",
        "lost": "110,000 dUSD ($110,000.00)",
        "funds saved": NOT_MEASURED,  # at risk only in USD: what was saved of it is unknown
        "recovered or frozen": "2.5 dUSD",
        "users affected": "2",
        "time to detect": "12 s",
        "time to contain": "24 s",
        "time to recover": NOT_MEASURED,
    }
    assert set(quiet.values()) == {NOT_MEASURED}


def test_one_duration_format() -> None:
    assert span_text(None) == NOT_MEASURED
    assert span_text(timedelta(milliseconds=154)) == "0.2 s"  # a fast pause is not "0s"
    assert span_text(timedelta(seconds=12)) == "12 s"
    assert span_text(timedelta(minutes=4, seconds=5)) == "4 min 05 s"
    assert span_text(timedelta(hours=2, minutes=4, seconds=59)) == "2 h 04 min"
    assert span_text(timedelta(days=3, hours=2)) == "3 d 02 h"
