"""``${finding.*}`` in playbook steps: filled from the alert, type-checked at plan check
against each triggering rule's declared finding fields; names in address arguments and
``verify`` with arguments, resolved on the chain the step acts on."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode
from eth_utils.crypto import keccak

from breakglass.errors import PlanError
from breakglass.plan import load_plan
from breakglass.plan.models import CallStep, PauseStep, Plan
from breakglass.respond.actions.contract import ContractAction
from breakglass.respond.templates import (
    field_uses,
    step_action,
    template_problems,
)

pytestmark = pytest.mark.unit

EXAMPLE = Path("examples/plans/multichain.yaml")
ROLE = "0x" + keccak(text="MINTER_ROLE").hex()
ACCOUNT = "0x00000000000000000000000000000000deadbeef"
OPERATION = "0x" + "ab" * 32


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(EXAMPLE).plan


def _step(plan: Plan, playbook: str, index: int) -> Any:
    found = plan.playbook(playbook)
    assert found is not None
    return found.steps[index]


def test_revoke_takes_the_role_and_account_from_the_alert(plan: Plan) -> None:
    context = {"role": ROLE, "account": ACCOUNT, "chain": "arbitrum"}
    action = step_action(
        plan, _step(plan, "unknown-role", 0), "unknown-role", chain="arbitrum", context=context
    )
    assert isinstance(action, ContractAction)
    assert action.chain == "arbitrum"
    assert action.to.lower() == "0x7777777777777777777777777777777777777777"  # risk_roles there
    role, account = decode(["bytes32", "address"], action.data[4:])
    assert ("0x" + role.hex(), account.lower()) == (ROLE, ACCOUNT)


def test_cancel_takes_the_operation_from_the_alert(plan: Plan) -> None:
    step = _step(plan, "veto", 0)
    action = step_action(plan, step, "veto", chain="ethereum", context={"operation_id": OPERATION})
    assert isinstance(action, ContractAction)
    assert action.data[:4] == keccak(text="cancel(bytes32)")[:4]
    assert "0x" + action.data[4:].hex() == OPERATION


def test_a_step_without_its_alert_says_why(plan: Plan) -> None:
    with pytest.raises(PlanError, match="takes its value from an alert"):
        step_action(plan, _step(plan, "veto", 0), "veto")
    with pytest.raises(PlanError, match="the alert has no field 'operation_id'"):
        step_action(plan, _step(plan, "veto", 0), "veto", context={"id": OPERATION})


def test_names_and_verify_arguments_resolve_on_the_step_chain(plan: Plan) -> None:
    step = _step(plan, "exploit", 1)  # _setBorrowPaused(cdai, true), verify [cdai]
    cdai = {"ethereum": "0x5d3a536e4d6dbd6114cc1ead35777bab948e3643", "arbitrum": "0x" + "44" * 20}
    for chain, address in cdai.items():
        action = step_action(plan, step, "exploit", chain=chain, context={})
        assert isinstance(action, ContractAction)
        assert action.chain == chain
        market, paused = decode(["address", "bool"], action.data[4:])
        assert (market.lower(), paused) == (address, True)
        assert action.verify is not None and action.done_when is action.verify
        (verified,) = decode(["address"], action.verify.data[4:])
        assert verified.lower() == address
    # a contract deployed on one chain only acts there, whatever the alert's chain
    pause_ceth = PauseStep(action="pause", contract="ceth", signer="guardian")
    assert step_action(plan, pause_ceth, "x", chain="arbitrum").chain == "ethereum"
    pause_comptroller = _step(plan, "exploit", 0)
    assert step_action(plan, pause_comptroller, "x", chain="arbitrum").chain == "arbitrum"


def test_messages_interpolate_fields(plan: Plan) -> None:
    page = step_action(
        plan, _step(plan, "exploit", 2), "exploit", context={"title": "drain", "chain": "arb"}
    )
    assert page.summary.startswith("page")
    assert getattr(page, "message", None) == "drain on arb"


def test_the_example_type_checks(plan: Plan) -> None:
    assert [p for pb in plan.playbooks for p in template_problems(plan, pb)] == []


PLAN = """\
protocol: T
chains: {local: {chain_id: 31337, rpc: ["http://127.0.0.1:8545"]}}
contracts:
  roles: {chain: local, address: "0x1111111111111111111111111111111111111111"}
  timelock: {chain: local, address: "0x2222222222222222222222222222222222222222"}
signers: {guardian: {type: env, key: "${GUARDIAN_KEY}"}}
rules:
  - {id: granted, rule: role-granted, contracts: [roles]}
  - {id: scheduled, rule: timelock-scheduled, contracts: [timelock]}
playbooks:
  - id: respond
    on: [ON]
    steps:
      - STEP
"""


@pytest.mark.parametrize(
    ("on", "step", "message"),
    [
        (
            "granted",
            '{action: revoke-role, contract: roles, signer: guardian, role: "${finding.role}", '
            'account: "${finding.acount}"}',
            "rule granted (role-granted) has no finding field 'acount'; did you mean 'account'?",
        ),
        (
            "granted, scheduled",
            '{action: call, contract: timelock, signer: guardian, function: "cancel(bytes32)", '
            'args: ["${finding.operation_id}"]}',
            "rule granted (role-granted) has no finding field 'operation_id'",
        ),
        (
            "granted",
            '{action: call, contract: timelock, signer: guardian, function: "cancel(bytes32)", '
            'args: ["${finding.account}"]}',
            "${finding.account} of rule granted is address, the argument takes bytes32",
        ),
        (
            "granted",
            '{action: notify, channel: x, message: "${finding.account} ${env.HOME}"}',
            "only ${finding.<field>} may be used",
        ),
    ],
)
def test_plan_check_catches_fields_the_rules_do_not_report(
    tmp_path: Path, on: str, step: str, message: str
) -> None:
    path = tmp_path / "plan.yaml"
    text = PLAN.replace("ON", on).replace("STEP", step)
    if "channel: x" in step:
        text += "channels: {x: 'json://127.0.0.1:9/hook'}\n"
    path.write_text(textwrap.dedent(text))
    plan = load_plan(path).plan
    playbook = plan.playbooks[0]
    problems = [m for _, m in template_problems(plan, playbook)]
    assert any(message in p for p in problems), problems


def test_field_uses_know_the_type_each_place_takes(plan: Plan) -> None:
    uses = field_uses(_step(plan, "unknown-role", 0))
    assert [(u.field, u.abi_type) for u in uses] == [("role", "bytes32"), ("account", "address")]


def test_a_step_pinned_to_a_chain_without_the_contract_is_refused(plan: Plan) -> None:
    pinned = PauseStep(action="pause", contract="ceth", signer="guardian", chain="arbitrum")
    with pytest.raises(PlanError, match="'ceth' is not deployed on chain 'arbitrum'"):
        step_action(plan, pinned, "x")
    on_arbitrum = PauseStep(action="pause", contract="cdai", signer="guardian", chain="arbitrum")
    assert step_action(plan, on_arbitrum, "x", chain="ethereum").chain == "arbitrum"


def test_an_address_argument_naming_nothing_there_says_why(plan: Plan) -> None:
    step = CallStep(
        action="call",
        contract="comptroller",
        signer="guardian",
        function="_setBorrowPaused(address,bool)",
        args=["cdia", True],
    )
    with pytest.raises(PlanError, match=r"'cdia' is neither an address .* did you mean 'cdai'"):
        step_action(plan, step, "x", chain="ethereum")
    on_arbitrum = step.model_copy(update={"args": ["ceth", True]})
    with pytest.raises(PlanError, match="contract 'ceth' is not deployed on chain 'arbitrum'"):
        step_action(plan, on_arbitrum, "x", chain="arbitrum")


def test_a_dry_run_forks_every_chain_a_step_may_act_on() -> None:
    """The comptroller is deployed on Ethereum and Arbitrum: a dry run of the playbook
    that pauses it on the alert's chain forks both, not just the home chain."""
    from breakglass.respond.service import _chains_of  # noqa: PLC0415

    assert _chains_of(load_plan(EXAMPLE), "exploit") == {"ethereum", "arbitrum"}
