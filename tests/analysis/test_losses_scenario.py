"""Losses of a LossyVault drained with flash swaps, checked to the wei against the scenario."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from breakglass.analysis.assets import format_amount
from breakglass.analysis.incident import (
    IncidentAnalysis,
    analyze_incident,
    store_incident_analysis,
)
from breakglass.analysis.loss_report import losses_csv, losses_json
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.plan.models import Plan

from .scenario import UNIT, LossScenario, deploy, incident_store, plan_data, run_attack

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def scenario(anvil: Anvil) -> LossScenario:
    built = deploy(anvil)
    run_attack(built)
    return built


@pytest.fixture(scope="module")
def plan(anvil: Anvil, scenario: LossScenario) -> Plan:
    return Plan.model_validate(plan_data(anvil, scenario))


async def _analyze(anvil: Anvil, plan: Plan, scenario: LossScenario) -> IncidentAnalysis:
    pool = EndpointPool([Endpoint(anvil.http_url)], chain="local")
    try:
        return await analyze_incident(
            pool, plan, scenario.exploit_txs, containment_block=scenario.containment_block
        )
    finally:
        await pool.aclose()


@pytest.fixture(scope="module")
def analysis(anvil: Anvil, plan: Plan, scenario: LossScenario) -> Iterator[IncidentAnalysis]:
    yield asyncio.run(_analyze(anvil, plan, scenario))


def _value(scenario: LossScenario, user: str, block: int) -> int:
    tag = hex(block)
    price = scenario.chain.call(scenario.vault, "pricePerShare()", block=tag)
    return scenario.shares(user, tag) * price // UNIT


def test_scenario_is_an_attack(scenario: LossScenario) -> None:
    blocks = {
        int(scenario.chain.anvil.rpc("eth_getTransactionReceipt", [h])["blockNumber"], 16)
        for h in scenario.exploit_txs
    }
    assert len(blocks) == len(scenario.exploit_txs) >= 3
    profit = scenario.wallet(scenario.profit_to)
    assert profit > 50_000 * UNIT  # the attacker made real money with borrowed capital


def test_losses_match_ground_truth(scenario: LossScenario, analysis: IncidentAnalysis) -> None:
    before, after = scenario.first_exploit_block - 1, scenario.containment_block
    expected = {}
    for user in scenario.users:
        value_before, value_after = _value(scenario, user, before), _value(scenario, user, after)
        paid, got = scenario.paid_mid[user], scenario.received_mid[user]
        expected[user] = max(0, value_before + paid - value_after - got)
    found = {loss.address: loss.amount for loss in analysis.losses}
    assert {loss.asset for loss in analysis.losses} == {scenario.token}
    assert found == expected
    assert all(expected[u] > 0 for u in scenario.users[6:])  # holders through the attack lost
    by_user = {loss.address: loss for loss in analysis.losses}
    assert by_user[scenario.users[0]].received == scenario.received_mid[scenario.users[0]]
    assert by_user[scenario.users[3]].paid_in == scenario.paid_mid[scenario.users[3]]
    assert by_user[scenario.users[4]].after == 0
    assert sum(found.values()) >= scenario.wallet(scenario.profit_to)


def test_attacker_cluster_is_excluded(scenario: LossScenario, analysis: IncidentAnalysis) -> None:
    members = analysis.cluster.members
    assert members[scenario.attacker].kind == "sender"
    assert members[scenario.exploiter].kind == "contract"
    assert members[scenario.profit_to].kind == "recipient"
    assert scenario.pair not in analysis.cluster  # the repaid flash lender is a counterparty
    assert scenario.vault not in analysis.cluster
    losers = {loss.address for loss in analysis.losses}
    assert losers.isdisjoint(members)
    assert losers == set(scenario.users)


def test_evidence_rows(scenario: LossScenario, analysis: IncidentAnalysis) -> None:
    status = {row.address: row.status for row in analysis.affected}
    assert status[scenario.vault] == "impacted"
    assert all(status[u] == "impacted" for u in scenario.users[6:])
    to_exploiter = [m for m in analysis.movements if m.destination == scenario.exploiter]
    assert to_exploiter and all(m.origin == scenario.vault for m in to_exploiter)
    assert {m.destination_kind for m in analysis.movements} == {"unknown"}
    assert any(m.destination == scenario.profit_to for m in analysis.movements)


def test_outputs(analysis: IncidentAnalysis) -> None:
    rows = orjson.loads(losses_json(analysis.losses))
    assert [int(r["amount"]) for r in rows] == [x.amount for x in analysis.losses]
    lines = losses_csv(analysis.losses).splitlines()
    assert lines[0].startswith("address,asset,amount")
    assert len(lines) == len(analysis.losses) + 1


def test_store_is_idempotent(
    tmp_path: Path, plan: Plan, scenario: LossScenario, analysis: IncidentAnalysis
) -> None:
    from sqlalchemy import func, select  # noqa: PLC0415

    from breakglass.store.models import (  # noqa: PLC0415
        AffectedAddress,
        AttackerRecord,
        FundMovement,
        UserLoss,
    )

    counts: list[tuple[Any, ...]] = []
    with incident_store(tmp_path, plan) as (sessions, incident_id):
        for _ in range(2):
            with sessions.begin() as session:
                store_incident_analysis(session, incident_id, analysis)
            with sessions.begin() as session:
                models = (UserLoss, AttackerRecord, FundMovement, AffectedAddress)
                counts.append(
                    tuple(session.scalar(select(func.count()).select_from(m)) for m in models)
                )
        with sessions.begin() as session:
            amounts = {r.address: int(r.amount) for r in session.scalars(select(UserLoss))}
    assert counts[0] == counts[1]
    assert counts[0][0] == len(analysis.losses)
    assert amounts == {x.address: x.amount for x in analysis.losses}


def test_cli(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    anvil: Anvil,
    plan: Plan,
    scenario: LossScenario,
    analysis: IncidentAnalysis,
) -> None:
    """``analyze incident`` stores the losses; ``analyze losses`` prints them, exactly."""
    from datetime import UTC, datetime  # noqa: PLC0415

    import yaml  # noqa: PLC0415
    from typer.testing import CliRunner  # noqa: PLC0415

    from breakglass import store  # noqa: PLC0415
    from breakglass.cli.analyze_incident import app  # noqa: PLC0415
    from breakglass.incidents import open_incident  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("BREAKGLASS_DATABASE_URL", url)
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(yaml.safe_dump(plan_data(anvil, scenario)), encoding="utf-8")
    store.upgrade(url)
    engine = store.make_engine(url)
    try:
        with store.session_factory(engine).begin() as session:
            incident_id = open_incident(
                session, plan, title="drain", kind="exploit", severity="P1",
                chains=["local"], contracts=["vault"], detected_at=datetime.now(UTC),
            ).id  # fmt: skip
    finally:
        engine.dispose()
    runner = CliRunner()
    tx_args = [arg for h in scenario.exploit_txs for arg in ("--tx", h)]
    block = str(scenario.containment_block)
    args = ["incident", str(incident_id), "--plan", str(plan_file), *tx_args]
    result = runner.invoke(app, [*args, "--containment-block", block])
    assert result.exit_code == 0, result.output
    assert scenario.attacker in result.output
    result = runner.invoke(app, ["losses", str(incident_id), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = orjson.loads(result.output)
    assert {r["address"]: int(r["amount"]) for r in rows} == {
        x.address: x.amount for x in analysis.losses
    }
    result = runner.invoke(app, ["losses", str(incident_id), "--format", "csv"])
    assert result.output.splitlines()[1:] == losses_csv(analysis.losses).splitlines()[1:]
    assert runner.invoke(app, ["losses", str(incident_id)]).exit_code == 0
    # The table reads in the token's unit, from its symbol() and decimals() on the chain.
    total = sum(x.amount for x in analysis.losses)
    whole = format_amount(total, decimals=18, symbol="USD")
    assert whole.endswith(" USD") and "," in whole
    result = runner.invoke(app, ["losses", str(incident_id), "--plan", str(plan_file)])
    assert result.exit_code == 0, result.output
    assert whole in result.output and str(total) in result.output
    from breakglass.cli.incident import app as incident_app  # noqa: PLC0415

    shown = runner.invoke(incident_app, ["show", str(incident_id), "--plan", str(plan_file)])
    assert shown.exit_code == 0, shown.output
    assert whole in shown.output  # the headline's "lost", in the token's unit
    assert str(len({x.address for x in analysis.losses})) in shown.output


def test_reanalysis_keeps_what_people_entered(
    tmp_path: Path, plan: Plan, scenario: LossScenario, analysis: IncidentAnalysis
) -> None:
    """A re-analysis replaces its own evidence rows only: an attacker record, a fund
    movement and an address status that people entered or changed survive it, and are not
    repeated beside it."""
    from sqlalchemy import select  # noqa: PLC0415

    from breakglass.incidents import evidence  # noqa: PLC0415
    from breakglass.store.models import AffectedAddress, FundMovement  # noqa: PLC0415

    mixer = "0x" + "cc" * 20
    with incident_store(tmp_path, plan) as (sessions, incident_id):
        with sessions.begin() as session:
            store_incident_analysis(session, incident_id, analysis)
        with sessions.begin() as session:
            analysed = len(evidence.attacker_records(session, incident_id))
            evidence.add_attacker_record(session, incident_id, "tag", "Lazarus", note="SEAL 911")
            evidence.add_fund_movement(
                session, incident_id, chain="local", origin=scenario.exploiter,
                tx_hash="0x" + "ab" * 32, asset="ETH", amount="5", destination=mixer,
                destination_kind="mixer",
            )  # fmt: skip
            # a person's word on an address the analysis found, and on one it did not
            evidence.set_address_status(
                session, incident_id, "local", scenario.vault, "paused", note="paused by hand"
            )
            evidence.set_address_status(session, incident_id, "local", mixer, "needs-review")
            frozen = next(
                m
                for m in evidence.fund_movements(session, incident_id)
                if m.provenance == "analysis"
            )
            evidence.set_recovery_status(session, frozen.id, "frozen")
            frozen_id, frozen_to = frozen.id, frozen.destination
        with sessions.begin() as session:
            store_incident_analysis(session, incident_id, analysis)
        with sessions.begin() as session:
            attackers = evidence.attacker_records(session, incident_id)
            assert ("tag", "Lazarus", "person") in {
                (r.kind, r.value, r.provenance) for r in attackers
            }
            assert len(attackers) == analysed + 1
            moves = evidence.fund_movements(session, incident_id)
            people = {m.destination for m in moves if m.provenance == "person"}
            assert people == {mixer, frozen_to}
            kept = session.get(FundMovement, frozen_id)
            assert kept is not None and kept.recovery_status == "frozen"
            assert len(moves) == len(analysis.movements) + 1  # the frozen one not repeated
            status = {
                r.address: (r.status, r.provenance)
                for r in session.scalars(select(AffectedAddress))
            }
            assert status[scenario.vault] == ("paused", "person")
            assert status[mixer] == ("needs-review", "person")
            others = [v for a, v in status.items() if a not in (scenario.vault, mixer)]
            assert others and all(p == "analysis" for _, p in others)


def test_a_deployment_on_another_chain_is_analysed_from_its_own_start_block(
    anvil: Anvil, scenario: LossScenario, analysis: IncidentAnalysis
) -> None:
    """The vault declared with deployments, home on another chain whose heights are far
    higher (``analysis.from_block`` is that chain's, past every deposit here): analysed on
    the local chain, it is found at its local address and searched from its local
    ``from_block``, so the losses are the single-chain ones to the wei."""
    data = plan_data(anvil, scenario)
    data["chains"]["home"] = {"chain_id": anvil.chain_id + 1, "rpc": ["http://127.0.0.1:9/"]}
    data["contracts"]["vault"] = {
        "deployments": {
            "home": {"address": "0x" + "77" * 20, "from_block": 19_000_000},
            "local": {"address": scenario.vault, "from_block": 1},
        }
    }
    data["analysis"]["from_block"] = scenario.containment_block
    moved = Plan.model_validate(data)

    async def run() -> IncidentAnalysis:
        pool = EndpointPool([Endpoint(anvil.http_url)], chain="local")
        try:
            return await analyze_incident(
                pool,
                moved,
                scenario.exploit_txs,
                containment_block=scenario.containment_block,
                chain="local",
            )
        finally:
            await pool.aclose()

    found = asyncio.run(run())
    assert found.victims == analysis.victims
    assert {x.address: x.amount for x in found.losses} == {
        x.address: x.amount for x in analysis.losses
    }
