"""``breakglass import defender``: a Defender-as-code file written for this test
(tests/importers/defender: block monitors with event, function and transaction conditions,
alert-threshold, risk-category, severity-level, each notification kind, a relayer with its
policy) becomes a plan that loads, and the Safe batch it writes really hands PAUSER_ROLE of a
real OpenZeppelin token on anvil to the new signer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from breakglass.detect.setup import rule_problems
from breakglass.devchain import Anvil
from breakglass.importers.defender import import_defender
from breakglass.importers.report import ImportError_, write_result
from breakglass.importers.safe_grant import PAUSER_ROLE
from breakglass.plan.loader import load_plan

SOURCE = Path(__file__).with_name("defender")
SAFE = "0x4444444444444444444444444444444444444444"


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "defender"
    shutil.copytree(SOURCE, root)
    return root / "serverless.yml"


def test_monitors_channels_and_relayers_become_a_plan(tmp_path: Path) -> None:
    result = import_defender(_copy(tmp_path), grant_on=["vault-withdrawals"], safe=SAFE)
    plan_path = tmp_path / "plan" / "breakglass.yaml"
    write_result(result, plan_path)
    loaded = load_plan(plan_path)
    assert rule_problems(loaded) == []
    plan = loaded.plan
    rules = {rule.id: rule for rule in plan.rules}
    # alert-threshold (3 in 600 s): each event condition counts its matches in a window.
    withdrawals = rules["vault-withdrawals-window-1"]
    assert withdrawals.rule == "window"
    assert withdrawals.params == {
        "event": "Withdrawn(address indexed account, uint256 amount)",
        "where": "(amount > 500000 and lower(account) != "
        "'0x3333333333333333333333333333333333333333')",
        "measure": "count",
        "seconds": 600,
        "threshold": 2,  # reported when the count exceeds 2, i.e. at the third match
    }
    assert "where" not in rules["vault-withdrawals-window-2"].params  # RoleGranted, no expression
    assert withdrawals.severity == "high"
    assert "FINANCIAL" in (withdrawals.description or "")
    assert rules["vault-withdrawals-call-1"].params == {
        "function": "setLimit(uint256 limit)",
        "where": "limit >= 1000000",  # `$0` is the first parameter
    }
    gas = rules["gas-spikes-tx"]
    assert gas.params["where"] == "(tx.gas_price > 100000000000 and tx.value == 0)"
    assert gas.severity == "low" and gas.enabled is False
    assert plan.chains["sepolia"].chain_id == 11155111
    assert str(plan.chains["sepolia"].gas.max_fee_gwei) == "150"
    assert plan.signers["guard-relayer"].type == "keystore"
    assert str(plan.channels["ops-pd"].url) == "pagerduty-events://${DEFENDER_OPS_PD_KEY}"
    assert str(plan.channels["ops-telegram"].url) == "tgram://${ACME_TELEGRAM_BOT}/-4242"
    notes = "\n".join(result.report.notes)
    for said in ("alert-threshold (3 in 600s): each event condition counts",
                 "alert-threshold (3 in 600s): function and transaction conditions alert",
                 "FORTA monitors are not imported"):  # fmt: skip
        assert said in notes
    # Policies breakglass has no field for are reported with what the user must do.
    assert "among the ones Defender allowed (0x1111111111111111111111111111111111111111)" in notes
    assert "make a private relay (e.g. Flashbots Protect) the first rpc endpoint" in notes
    variables = {s.variable for s in result.report.secrets}
    assert {"DEFENDER_OPS_SLACK_URL", "DEFENDER_OPS_PD_KEY", "ACME_TELEGRAM_BOT",
            "SEPOLIA_RPC_URL", "GUARD_RELAYER_KEYSTORE_PASSWORD"} <= variables  # fmt: skip
    batch = json.loads((plan_path.parent / "safe-grant-pauser.json").read_text())
    assert batch["chainId"] == "11155111" and batch["meta"]["createdFromSafeAddress"] == SAFE
    [grant] = batch["transactions"]
    assert grant["to"] == "0x2222222222222222222222222222222222222222"
    assert grant["contractInputsValues"]["role"] == PAUSER_ROLE


def test_problems_are_all_reported(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    text = path.read_text()
    text = text.replace("network: 'sepolia'\n      risk-category: 'TECHNICAL'",
                        "network: 'nowhere'\n      risk-category: 'TECHNICAL'")  # fmt: skip
    text = text.replace("'setLimit(uint256)'", "'setCap(uint256)'")
    text = text.replace("${self:resources.notifications.ops-pd}",
                        "${self:resources.notifications.ops-pager}")  # fmt: skip
    text = text.replace("      confirm-level: 1\n", "      confirm-level: 1\n      colour: red\n")
    path.write_text(text)
    with pytest.raises(ImportError_) as caught:
        import_defender(path, grant_on=["no-such-contract"])
    problems = "\n".join(str(p) for p in caught.value.report.problems)
    for expected in (
        "gas-spikes.network: unknown network 'nowhere'",
        "setCap(uint256) is not in the ABI",
        "broken reference ${self:resources.notifications.ops-pager}",
        "vault-withdrawals.colour: unknown field",
        "--grant-on: no imported contract no-such-contract",
    ):
        assert expected in problems, problems


@pytest.mark.chain
def test_the_safe_batch_grants_the_pause_role(anvil: Anvil, tmp_path: Path) -> None:
    import importlib.util  # noqa: PLC0415
    import sys  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location(
        "breakglass_tests_respond_conftest", Path(__file__).parents[1] / "respond" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    respond = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(respond)
    token = respond.Token(anvil)
    new_signer = anvil.accounts[7]
    source = _copy(tmp_path)
    source.write_text(source.read_text().replace(
        "0x2222222222222222222222222222222222222222", token.address))  # fmt: skip
    result = import_defender(source, grant_on=["vault-withdrawals"], new_signer=new_signer)
    [grant] = result_batch(result)["transactions"]
    assert grant["to"].lower() == token.address.lower()
    values = grant["contractInputsValues"]
    assert not token.contract.functions.hasRole(values["role"], new_signer).call()
    # What the Safe executes: the builder's call, here sent by the token's admin.
    data = token.contract.encode_abi(grant["contractMethod"]["name"],
                                     [values["role"], values["account"]])  # fmt: skip
    respond.safe_chain.send(token.w3, anvil.private_keys[0], {"to": token.address, "data": data})
    assert token.contract.functions.hasRole(PAUSER_ROLE, new_signer).call()
    pause = token.contract.encode_abi("pause", [])
    respond.safe_chain.send(token.w3, anvil.private_keys[7], {"to": token.address, "data": pause})
    assert token.paused()


def result_batch(result: Any) -> dict[str, Any]:
    return dict(json.loads(result.files["safe-grant-pauser.json"]))
