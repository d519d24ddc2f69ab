"""Evidence: affected addresses, fund movements with exact amounts, the attacker."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from breakglass.incidents import (
    IncidentError,
    add_attacker_record,
    add_fund_movement,
    affected_addresses,
    attacker_records,
    fund_movements,
    open_incident,
    set_address_status,
    set_recovery_status,
)
from breakglass.plan.models import Plan

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POOL = "0x" + "Aa" * 20
ATTACKER = "0x" + "ee" * 20
MIXER = "0x" + "cc" * 20


def _incident(session: Session, plan: Plan) -> int:
    return open_incident(
        session,
        plan,
        title="drain",
        kind="exploit",
        severity="P1",
        chains=["local"],
        contracts=["pool"],
        detected_at=T0,
    ).id


def test_affected_addresses(session: Session, plan: Plan) -> None:
    incident = _incident(session, plan)
    set_address_status(session, incident, "local", POOL, "at-risk", note="holds 10M")
    set_address_status(session, incident, "local", POOL.lower(), "paused")  # same address
    set_address_status(session, incident, "local", ATTACKER, "needs-review")
    rows = affected_addresses(session, incident)
    assert [(r.address, r.status, r.note) for r in rows] == [
        (POOL.lower(), "paused", "holds 10M"),
        (ATTACKER, "needs-review", ""),
    ]
    with pytest.raises(
        IncidentError,
        match="unknown address status 'lost'; expected one of: "
        "at-risk, impacted, paused, saved, needs-review, uncertain",
    ):
        set_address_status(session, incident, "local", POOL, "lost")


def test_fund_movements_keep_exact_amounts(session: Session, plan: Plan) -> None:
    incident = _incident(session, plan)
    exact = "1234567890.123456789012345678"
    move = add_fund_movement(
        session,
        incident,
        chain="local",
        origin=POOL,
        tx_hash="0x01",
        asset="USDC",
        amount=exact,
        destination=MIXER,
        destination_kind="mixer",
        usd_value=1.5e9,
    )
    add_fund_movement(
        session,
        incident,
        chain="local",
        origin=ATTACKER,
        tx_hash="0x02",
        asset="ETH",
        amount=Decimal("1E+3"),
        destination=ATTACKER,
    )
    session.commit()
    session.expire_all()
    rows = fund_movements(session, incident)
    assert [(r.amount, r.destination_kind, r.recovery_status) for r in rows] == [
        (exact, "mixer", "not-recovered"),
        ("1000", "unknown", "not-recovered"),
    ]
    assert set_recovery_status(session, move.id, "frozen").recovery_status == "frozen"
    with pytest.raises(IncidentError, match="is a float"):
        add_fund_movement(
            session,
            incident,
            chain="local",
            origin=POOL,
            tx_hash="0x03",
            asset="ETH",
            amount=0.1,  # type: ignore[arg-type]
            destination=MIXER,
        )
    with pytest.raises(IncidentError, match="not a decimal number"):
        add_fund_movement(
            session,
            incident,
            chain="local",
            origin=POOL,
            tx_hash="0x03",
            asset="ETH",
            amount="lots",
            destination=MIXER,
        )
    with pytest.raises(IncidentError, match="unknown destination kind 'dex'"):
        add_fund_movement(
            session,
            incident,
            chain="local",
            origin=POOL,
            tx_hash="0x03",
            asset="ETH",
            amount="1",
            destination=MIXER,
            destination_kind="dex",
        )
    with pytest.raises(IncidentError, match="no fund movement #999"):
        set_recovery_status(session, 999, "recovered")


def test_attacker_records(session: Session, plan: Plan) -> None:
    incident = _incident(session, plan)
    add_attacker_record(session, incident, "address", ATTACKER, note="EOA")
    add_attacker_record(session, incident, "funding", "Tornado Cash 10 ETH pool")
    assert [(r.kind, r.value) for r in attacker_records(session, incident)] == [
        ("address", ATTACKER),
        ("funding", "Tornado Cash 10 ETH pool"),
    ]
    with pytest.raises(IncidentError, match="unknown attacker record kind"):
        add_attacker_record(session, incident, "vibe", "bad")


def test_a_reanalysis_replaces_only_what_an_analysis_wrote(session: Session, plan: Plan) -> None:
    from breakglass.incidents.evidence import (  # noqa: PLC0415
        AnalysedAddress,
        AnalysedAttacker,
        AnalysedMovement,
        replace_analysed_evidence,
    )

    incident = _incident(session, plan)
    move = AnalysedMovement("local", POOL, "0x" + "01" * 32, "USDC", "10", ATTACKER)

    def analyse(*victims: str) -> None:
        replace_analysed_evidence(
            session,
            incident,
            attackers=[AnalysedAttacker("address", ATTACKER, "EOA")],
            movements=[move],
            affected=[AnalysedAddress("local", v, "impacted") for v in victims],
            at=T0,
        )

    gone = "0x" + "dd" * 20
    analyse(POOL, MIXER, gone)
    add_attacker_record(session, incident, "tag", "Lazarus")
    set_address_status(session, incident, "local", MIXER, "needs-review", note="a person's word")
    analyse(POOL)  # the second run finds the pool again, and neither the mixer nor ``gone``
    analyse(POOL)

    attackers = {(r.kind, r.provenance) for r in attacker_records(session, incident)}
    assert attackers == {("address", "analysis"), ("tag", "person")}
    statuses = {r.address: (r.status, r.provenance) for r in affected_addresses(session, incident)}
    assert statuses == {
        POOL.lower(): ("impacted", "analysis"),
        MIXER: ("needs-review", "person"),
    }
    assert [m.provenance for m in fund_movements(session, incident)] == ["analysis"]
    with pytest.raises(IncidentError, match="unknown address status"):
        replace_analysed_evidence(
            session,
            incident,
            attackers=[],
            movements=[],
            affected=[AnalysedAddress("local", POOL, "fine")],
        )
