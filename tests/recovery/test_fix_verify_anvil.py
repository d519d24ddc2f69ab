"""Fix verification on a fork of a real chain: a vulnerable vault behind OpenZeppelin's
TransparentUpgradeableProxy, drained by one exploit transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from breakglass.devchain import Anvil
from breakglass.plan.loader import LoadedPlan, load_plan
from breakglass.recovery.fix import Incident, verify_fix
from breakglass.recovery.fix_report import FixReport
from breakglass.recovery.fixspec import load_fix

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
def scenario(anvil: Anvil) -> Iterator[UpgradeScenario]:
    s = deploy(anvil)
    run_incident(s)
    yield s


@pytest.fixture(scope="module")
def loaded(
    anvil: Anvil, scenario: UpgradeScenario, tmp_path_factory: pytest.TempPathFactory
) -> LoadedPlan:
    path = tmp_path_factory.mktemp("plan") / "breakglass.yaml"
    path.write_text(yaml.safe_dump(plan_data(anvil, scenario)), encoding="utf-8")
    return load_plan(path)


def _fix(tmp_path: Path, contract: str, **extra: Any) -> Path:
    builds = vault_builds()
    write_artifact(builds["UpgradeableVault"], tmp_path / "V1.json")
    write_artifact(builds[contract], tmp_path / "V2.json")
    spec = {
        "name": contract,
        "regression_blocks": 5,
        "steps": [
            {"deploy": {"name": "impl", "artifact": "V2.json"}},
            {
                "upgrade": {
                    "proxy": "vault",
                    "implementation": "@impl",
                    "previous_artifact": "V1.json",
                }
            },
        ],
        **extra,
    }
    path = tmp_path / "fix.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _verify(anvil: Anvil, s: UpgradeScenario, loaded: LoadedPlan, path: Path) -> FixReport:
    spec, digest = load_fix(path)
    return verify_fix(
        url=anvil.http_url,
        chain="local",
        incident=Incident(1, (s.exploit_tx,), frozenset({s.attacker})),
        spec=spec,
        digest=digest,
        spec_dir=path.parent,
        watched={"vault": s.vault, "proxy_admin": s.proxy_admin},
        loaded=loaded,
    )


def test_the_fix_that_closes_the_bug_passes(
    anvil: Anvil, scenario: UpgradeScenario, loaded: LoadedPlan, tmp_path: Path
) -> None:
    report = _verify(anvil, scenario, loaded, _fix(tmp_path, "UpgradeableVaultFixed"))

    assert report.verdict == "passed", report.reasons
    [exploit] = report.exploits
    assert exploit.taken_without_fix == {scenario.token: 3_000 * UNIT}
    assert not exploit.with_fix.success and exploit.taken_with_fix == {}
    # every honest deposit and the withdrawal, unchanged, with their exact amounts
    replayed = {r.tx_hash: r for r in report.regressions}
    assert set(scenario.honest_txs) <= set(replayed)
    assert all(r.same for r in report.regressions)
    withdraw = replayed[scenario.honest_txs[-1]].with_fix
    assert withdraw.changes[scenario.vault] == {scenario.token: -400 * UNIT}
    [upgrade] = report.upgrades
    assert upgrade.layout_compared and upgrade.problems() == []
    assert upgrade.invariants == [("solvent: totalAssets() >= totalDeposits()", True, True)]
    assert report.implementations["impl"]["codehash"].startswith("0x")


def test_a_wrong_fix_fails_with_the_exploit_still_taking_funds(
    anvil: Anvil, scenario: UpgradeScenario, loaded: LoadedPlan, tmp_path: Path
) -> None:
    report = _verify(anvil, scenario, loaded, _fix(tmp_path, "UpgradeableVaultWrongFix"))

    assert report.verdict == "failed"
    [exploit] = report.exploits
    assert exploit.with_fix.success
    assert exploit.taken_with_fix == {scenario.token: 3_000 * UNIT}
    assert any("still takes" in r and scenario.exploit_tx in r for r in report.reasons)


def test_a_storage_layout_clash_fails(
    anvil: Anvil, scenario: UpgradeScenario, loaded: LoadedPlan, tmp_path: Path
) -> None:
    report = _verify(anvil, scenario, loaded, _fix(tmp_path, "UpgradeableVaultClash"))

    assert report.verdict == "failed"
    assert any("`token` was address, the new code reads `fee`" in r for r in report.reasons)


def test_without_layouts_the_key_views_and_invariants_catch_the_clash(
    anvil: Anvil, scenario: UpgradeScenario, loaded: LoadedPlan, tmp_path: Path
) -> None:
    path = _fix(tmp_path, "UpgradeableVaultClash", checks=["token()", "owner()"])
    write_artifact(vault_builds()["UpgradeableVaultClash"], tmp_path / "V2.json", layout=False)

    report = _verify(anvil, scenario, loaded, path)

    assert report.verdict == "failed"
    [upgrade] = report.upgrades
    assert not upgrade.layout_compared
    assert any("view token() read" in p for p in upgrade.problems())
    assert any("invariant solvent" in p for p in upgrade.problems())


def test_a_fix_that_changes_honest_withdrawals_needs_review(
    anvil: Anvil, scenario: UpgradeScenario, loaded: LoadedPlan, tmp_path: Path
) -> None:
    report = _verify(anvil, scenario, loaded, _fix(tmp_path, "UpgradeableVaultFeeFix"))

    assert report.verdict == "needs-review"
    assert all(e.stopped for e in report.exploits)
    [changed] = [r for r in report.regressions if not r.same]
    assert changed.tx_hash == scenario.honest_txs[-1]  # the withdrawal; deposits are unchanged
    user = scenario.users[0]
    assert changed.without_fix.changes[user] == {scenario.token: 400 * UNIT}
    assert changed.with_fix.changes[user] == {scenario.token: 396 * UNIT}
    assert report.reasons == [f"{changed.tx_hash} behaves differently with the fix"]
