"""Governance rules on real OpenZeppelin 4.9.6 bytecode on anvil: a TimelockController from
the npm build, and a Governor compiled from the npm sources. Each rule has a transaction it
must flag and one it must not."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3

from breakglass.contracts import compile_file
from breakglass.detect import Detector
from breakglass.detect.setup import rule_detector
from breakglass.detect.traces import selector_of
from breakglass.devchain import Anvil

pytestmark = pytest.mark.chain

ZERO32 = b"\0" * 32


def detector(kind: str, targets: list[tuple[str, str]], **params: Any) -> Detector:
    return rule_detector(kind, targets, chain="local", params=params)


def later(anvil: Anvil, seconds: int) -> None:
    anvil.rpc("evm_increaseTime", [seconds])
    anvil.rpc("evm_mine")


def test_timelock_scheduled(token: Any, evaluate: Any) -> None:
    anvil = token.anvil
    admin = anvil.accounts[0]
    built = token.artifact("TimelockController")
    timelock = token.at(
        token.deploy(admin, "TimelockController", 60, [admin], [admin], admin), built["abi"]
    )
    address = str(timelock.address).lower()
    watch = [("timelock", address)]
    rule = detector("timelock-scheduled", watch)
    privileged = detector("timelock-scheduled", watch, only_selectors=["upgradeTo(address)"])
    elsewhere = detector("timelock-scheduled", watch, only_targets=["0x" + "12" * 20])
    assert {e["name"] for e in built["abi"] if e["type"] == "event"} >= {
        "CallScheduled",
        "CallExecuted",
        "Cancelled",
    }

    data = timelock.encode_abi("updateDelay", args=[120])
    call = [timelock.address, 0, data, ZERO32, ZERO32]
    receipt = token.call(admin, "schedule", *call, 60, contract=timelock)
    (finding,) = evaluate(rule, receipt)
    assert finding.data["target"] == address
    assert finding.data["selector"] == selector_of("updateDelay(uint256)")
    assert finding.data["delay"] == 60
    assert finding.title == f"timelock timelock scheduled {finding.data['selector']} on timelock"
    assert evaluate(privileged, receipt) == []  # not a privileged selector
    assert evaluate(elsewhere, receipt) == []  # not a watched target

    later(anvil, 61)
    receipt = token.call(admin, "execute", *call, contract=timelock)
    (finding,) = evaluate(rule, receipt)
    assert finding.data["event"] == "CallExecuted"
    assert evaluate(privileged, receipt) == []

    upgrade = Web3().eth.contract(abi=[_UPGRADE_TO]).encode_abi("upgradeTo", args=[admin])
    salt = b"\1" * 32
    receipt = token.call(
        admin, "schedule", timelock.address, 0, upgrade, ZERO32, salt, 120, contract=timelock
    )
    (finding,) = evaluate(privileged, receipt)
    assert finding.title == "timelock timelock scheduled upgradeTo(address) on timelock"
    operation = finding.data["id"]
    assert evaluate(elsewhere, receipt) == []
    receipt = token.call(admin, "cancel", operation, contract=timelock)
    (finding,) = evaluate(privileged, receipt)
    assert finding.data == {
        "event": "Cancelled",
        "id": operation,
        "calls": [[address, selector_of("upgradeTo(address)")]],
    }
    assert evaluate(elsewhere, receipt) == []  # the cancelled call was not to a watched target


_UPGRADE_TO = {
    "type": "function",
    "name": "upgradeTo",
    "inputs": [{"type": "address", "name": "implementation"}],
    "outputs": [],
    "stateMutability": "nonpayable",
}


def test_governance_proposal(token: Any, evaluate: Any) -> None:
    """A proposal's whole life on a real OpenZeppelin 4.9.6 Governor with an ERC20Votes token
    and a TimelockController, compiled from the npm sources."""
    anvil = token.anvil
    admin, voter = anvil.accounts[0], anvil.accounts[7]
    built = compile_file("MiniGovernor.sol", node_imports=True)
    votes = _deploy(token, built["VotesToken"])
    timelock = _deploy(token, built["TimelockController"], 60, [], [ZERO_ADDRESS], admin)
    governor = _deploy(token, built["MiniGovernor"], votes.address, timelock.address)
    for role in ("PROPOSER_ROLE", "CANCELLER_ROLE"):
        role_id = Web3.keccak(text=role)
        token.call(admin, "grantRole", role_id, governor.address, contract=timelock)
    token.call(admin, "transfer", voter, 100 * 10**18, contract=votes)
    token.call(voter, "delegate", voter, contract=votes)
    address = str(governor.address).lower()
    rule = detector("governance-proposal", [("dao", address)])
    unwatched = detector("governance-proposal", [("other", "0x" + "12" * 20)])

    call = timelock.encode_abi("updateDelay", args=[30])
    proposal = ([timelock.address], [0], [call])
    description = "Shorten the delay"
    receipt = token.call(voter, "propose", *proposal, description, contract=governor)
    (finding,) = evaluate(rule, receipt)
    proposal_id = finding.data["proposalId"]
    assert finding.data["event"] == "ProposalCreated"
    assert finding.data["proposer"] == voter.lower()
    assert finding.data["description"] == description
    target = str(timelock.address).lower()
    assert finding.data["calls"] == [
        {"target": target, "value": 0, "function": selector_of("updateDelay(uint256)")}
    ]
    assert evaluate(unwatched, receipt) == []

    anvil.rpc("evm_mine")
    anvil.rpc("evm_mine")
    receipt = token.call(voter, "castVote", proposal_id, 1, contract=governor)
    assert evaluate(rule, receipt) == []  # a vote is not a stage of the proposal
    for _ in range(4):
        anvil.rpc("evm_mine")
    digest = Web3.keccak(text=description)
    receipt = token.call(voter, "queue", *proposal, digest, contract=governor)
    (finding,) = evaluate(rule, receipt)
    assert finding.data["event"] == "ProposalQueued"
    assert finding.data["eta"] > 0
    assert finding.data["calls"][0]["target"] == target

    later(anvil, 61)
    receipt = token.call(voter, "execute", *proposal, digest, contract=governor)
    (finding,) = evaluate(rule, receipt)
    assert finding.title.startswith(f"governor dao: proposal {proposal_id} executed")
    assert evaluate(unwatched, receipt) == []

    receipt = token.call(voter, "propose", *proposal, "Again", contract=governor)
    (created,) = evaluate(rule, receipt)
    again = Web3.keccak(text="Again")
    receipt = token.call(voter, "cancel", *proposal, again, contract=governor)
    (finding,) = evaluate(rule, receipt)
    assert finding.data["event"] == "ProposalCanceled"
    assert finding.data["proposalId"] == created.data["proposalId"]


ZERO_ADDRESS = "0x" + "00" * 20


def _deploy(token: Any, built: Any, *args: Any) -> Any:
    factory = Web3().eth.contract(abi=built.abi, bytecode=built.bytecode)
    data = factory.constructor(*args).data_in_transaction
    receipt = token.send(token.anvil.accounts[0], None, data)
    return token.at(receipt["contractAddress"], built.abi)
