"""Restore on anvil with a real Safe 1.4.1 and MultiSendCallOnly: the verified fix and the
unpause go out as one gated Safe transaction; it refuses to run until every gate holds, then
upgrades and unpauses, and the incident reaches ``recovered``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_utils.crypto import keccak
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner
from web3 import Web3

from breakglass import store
from breakglass.cli.restore import app as restore_app
from breakglass.devchain import Anvil
from breakglass.incidents import add_fund_movement, get_incident, publish_update, timeline
from breakglass.plan.loader import LoadedPlan, load_plan
from breakglass.recovery.fix import IMPLEMENTATION_SLOT
from breakglass.recovery.fix_service import run_fix_verification
from breakglass.recovery.fixspec import load_fix
from breakglass.recovery.fork import RemoteChain
from breakglass.recovery.restore import gate_fix_verified
from breakglass.recovery.restore_service import (
    approve_restore,
    plan_restore,
    run_restore,
    sign_restore,
)
from breakglass.scenario.vault import calldata
from breakglass.store.models import Incident

from ..respond.safe_chain import deploy_artifact, deploy_safe, safe_artifact
from .upgrade_scenario import (
    UNIT,
    UpgradeScenario,
    deploy,
    plan_data,
    run_incident,
    vault_builds,
    write_artifact,
)

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def world(anvil: Anvil) -> Iterator[dict[str, Any]]:
    key = anvil.private_keys[0]
    owners = [anvil.accounts[7], anvil.accounts[8]]
    safe = deploy_safe(anvil.http_url, key, owners, 2).lower()
    w3 = Web3(Web3.HTTPProvider(anvil.http_url))
    multisend = deploy_artifact(
        w3, key, safe_artifact("libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json")
    ).lower()
    s = deploy(anvil, owner=safe)
    run_incident(s)
    anvil.rpc("anvil_impersonateAccount", [safe])
    anvil.rpc("anvil_setBalance", [safe, hex(10**20)])
    s.send(safe, calldata("pause()"), s.vault)
    anvil.rpc("anvil_stopImpersonatingAccount", [safe])
    yield {"scenario": s, "safe": safe, "multisend": multisend}


def _plan(anvil: Anvil, world: dict[str, Any], path: Path, *, allow: bool = True) -> LoadedPlan:
    s: UpgradeScenario = world["scenario"]
    data = plan_data(anvil, s)
    data["people"] = {"alice": {"name": "Alice"}, "bob": {"name": "Bob"}}
    data["roles"] = {"incident_lead": ["alice"], "comms": ["bob"]}
    data["signers"] = {
        "admin_safe": {
            "type": "safe",
            "chain": "local",
            "address": world["safe"],
            "threshold": 2,
            "delegatecall_allowed": [world["multisend"]] if allow else [],
        },
        "owner1": {"type": "env", "key": "${OWNER1_KEY}", "address": anvil.accounts[7].lower()},
        "owner2": {"type": "env", "key": "${OWNER2_KEY}", "address": anvil.accounts[8].lower()},
        "runner": {"type": "env", "key": "${RUNNER_KEY}", "address": anvil.accounts[9].lower()},
    }
    data["restore"] = {
        "safe": "admin_safe",
        "approvals": ["incident_lead"],
        "multisend": world["multisend"],
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_plan(path)


def _fix(tmp_path: Path, *, live: str | None) -> Path:
    builds = vault_builds()
    write_artifact(builds["UpgradeableVault"], tmp_path / "V1.json")
    write_artifact(builds["UpgradeableVaultFixed"], tmp_path / "V2.json")
    deploy_step: dict[str, Any] = {"name": "impl", "artifact": "V2.json"}
    if live:
        deploy_step["address"] = live
    spec = {
        "name": "close emergencyWithdraw",
        "regression_blocks": 5,
        "steps": [
            {"deploy": deploy_step},
            {"upgrade": {"proxy": "vault", "implementation": "@impl",
                         "previous_artifact": "V1.json"}},
        ],
    }  # fmt: skip
    path = tmp_path / "fix.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_the_cli_proposes_the_batch_and_will_not_run_it_before_the_gates(
    anvil: Anvil, world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s: UpgradeScenario = world["scenario"]
    for name, index in (("OWNER1_KEY", 7), ("OWNER2_KEY", 8), ("RUNNER_KEY", 9)):
        monkeypatch.setenv(name, anvil.private_keys[index])
    _plan(anvil, world, tmp_path / "breakglass.yaml")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store.upgrade(url)
    now = datetime.now(UTC)
    with store.session_factory(store.make_engine(url)).begin() as session:
        session.add(Incident(
            title="Vault drained", kind="exploit", severity="P1", status="contained",
            chains=["local"], contracts=["vault"], detected_at=now, updated_at=now,
        ))  # fmt: skip
    live = s.deploy(s.anvil.accounts[0].lower(), vault_builds()["UpgradeableVaultFixed"].bytecode)
    fix = _fix(tmp_path, live=live)
    env = {"BREAKGLASS_DATABASE_URL": url, "COLUMNS": "200", "NO_COLOR": "1"}
    common = ["--fix", str(fix), "--plan", str(tmp_path / "breakglass.yaml")]

    _plan(anvil, world, tmp_path / "breakglass.yaml", allow=False)
    unlisted = CliRunner().invoke(restore_app, ["plan", "1", *common], env=env)
    assert unlisted.exit_code != 0
    assert "delegatecall_allowed" in str(unlisted.exception)
    _plan(anvil, world, tmp_path / "breakglass.yaml")

    planned = CliRunner().invoke(
        restore_app, ["plan", "1", *common, "--out", str(tmp_path / "safe-tx.json")], env=env
    )
    assert planned.exit_code == 0, planned.output
    assert "unpause() on vault" in planned.output and "gated" in planned.output
    exported = json.loads((tmp_path / "safe-tx.json").read_text())
    assert exported["to"].lower() == world["multisend"] and exported["operation"] == 1

    refused = CliRunner().invoke(
        restore_app, ["run", "1", *common, "--executor", "runner"], env=env
    )
    assert refused.exit_code == 1
    assert "fix verified: does not hold (this fix was never verified" in refused.output
    assert "signatures: 0 of 2" in refused.output
    assert s.call(s.vault, "paused()") == 1


def test_restore_waits_for_every_gate_then_upgrades_unpauses_and_recovers(
    anvil: Anvil, world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s: UpgradeScenario = world["scenario"]
    for name, index in (("OWNER1_KEY", 7), ("OWNER2_KEY", 8), ("RUNNER_KEY", 9)):
        monkeypatch.setenv(name, anvil.private_keys[index])
    loaded = _plan(anvil, world, tmp_path / "breakglass.yaml")
    url = f"sqlite:///{tmp_path / 'bg.db'}"
    store.upgrade(url)
    sessions: sessionmaker[Session] = store.session_factory(store.make_engine(url))
    now = datetime.now(UTC)
    with sessions.begin() as session:
        row = Incident(
            title="Vault drained", kind="exploit", severity="P1", status="contained",
            chains=["local"], contracts=["vault"], detected_at=now, updated_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
        incident = row.id
        add_fund_movement(
            session, incident, chain="local", origin=s.vault, tx_hash=s.exploit_tx,
            asset=s.token, amount=3_000 * UNIT, destination=s.attacker,
        )  # fmt: skip

    # the fix is verified, then the same bytecode is deployed on the chain
    spec, digest = load_fix(_fix(tmp_path, live=None))
    with sessions.begin() as session:
        report = run_fix_verification(
            session, loaded=loaded, incident_id=incident, spec=spec, digest=digest,
            spec_path=tmp_path / "fix.yaml",
        )  # fmt: skip
    assert report.verdict == "passed", report.reasons
    live = s.deploy(s.anvil.accounts[0].lower(), vault_builds()["UpgradeableVaultFixed"].bytecode)
    spec, digest_live = load_fix(_fix(tmp_path, live=live))
    assert digest_live == digest

    proposal = plan_restore(sessions, loaded=loaded, incident_id=incident, spec=spec, digest=digest)
    assert [c.label for c in proposal.calls] == [
        f"upgrade {s.vault} to {live}",
        "unpause() on vault",
    ]
    assert proposal.service_json["to"].lower() == world["multisend"]
    assert proposal.service_json["operation"] == 1
    for owner in ("owner1", "owner2"):
        sign_restore(sessions, loaded=loaded, incident_id=incident, signer=owner)

    # signed by both owners, but the vault is short, nobody approved, no public update
    blocked = run_restore(
        sessions, loaded=loaded, incident_id=incident, spec=spec, digest=digest, executor="runner"
    )
    assert blocked.tx_hash is None and blocked.signatures == (2, 2)
    failing = {g.name for g in blocked.gates if not g.ok}
    assert failing == {"invariants hold", "approved by incident_lead", "public update drafted"}
    assert s.call(s.vault, "paused()") == 1

    # make the vault whole, approve, draft the public update: every gate holds
    s.send(s.anvil.accounts[0].lower(), calldata("mint(address,uint256)", s.vault, 3_000 * UNIT),
           s.token)  # fmt: skip
    with sessions.begin() as session:
        with pytest.raises(Exception, match="none of the roles"):
            approve_restore(session, plan=loaded.plan, incident_id=incident, person="bob")
        approve_restore(session, plan=loaded.plan, incident_id=incident, person="alice")
        publish_update(session, incident, "monitoring", "Fix deployed", "Deposits reopen.",
                       actor="bob")  # fmt: skip

    done = run_restore(
        sessions, loaded=loaded, incident_id=incident, spec=spec, digest=digest, executor="runner"
    )

    assert all(g.ok for g in done.gates) and done.tx_hash and done.missing == []
    assert done.status == "recovered"
    assert s.call(s.vault, "paused()") == 0
    slot = anvil.rpc("eth_getStorageAt", [s.vault, hex(IMPLEMENTATION_SLOT), "latest"])
    assert "0x" + slot[-40:] == live
    drain = {"from": s.attacker, "to": s.vault,
             "data": calldata("emergencyWithdraw(address,uint256)", s.attacker, UNIT)}  # fmt: skip
    with pytest.raises(Exception, match="not owner"):
        anvil.rpc("eth_call", [drain, "latest"])
    with sessions() as session:
        assert get_incident(session, incident).status == "recovered"
        summaries = [e.summary for e in timeline(session, incident)]
    assert any("Restore gate invariants hold: does not hold" in t for t in summaries)
    assert any("Restore executed in" in t for t in summaries)


def test_the_gate_refuses_code_that_is_not_the_verified_bytecode(
    anvil: Anvil, world: dict[str, Any], tmp_path: Path
) -> None:
    s: UpgradeScenario = world["scenario"]
    builds = vault_builds()
    admin = s.anvil.accounts[0].lower()
    fixed = s.deploy(admin, builds["UpgradeableVaultFixed"].bytecode)
    wrong = s.deploy(admin, builds["UpgradeableVaultWrongFix"].bytecode)
    code = anvil.rpc("eth_getCode", [fixed, "latest"])
    verified = "0x" + keccak(bytes.fromhex(code[2:])).hex()
    spec, digest = load_fix(_fix(tmp_path, live=wrong))
    report = {"fix": {"sha256": digest}, "verdict": "passed",
              "implementations": {"impl": {"codehash": verified}}}  # fmt: skip
    remote = RemoteChain(anvil.http_url)
    try:
        gate = gate_fix_verified(spec=spec, digest=digest, reports=[report], remote=remote)
        assert not gate.ok and f"the code at {wrong} is not the verified impl" in gate.detail
        spec_ok, _ = load_fix(_fix(tmp_path, live=fixed))
        assert gate_fix_verified(spec=spec_ok, digest=digest, reports=[report], remote=remote).ok
        other = gate_fix_verified(spec=spec, digest="other", reports=[report], remote=remote)
        assert not other.ok and "never verified" in other.detail
        failed = {**report, "verdict": "failed"}
        assert not gate_fix_verified(
            spec=spec_ok, digest=digest, reports=[failed], remote=remote
        ).ok
    finally:
        remote.close()
