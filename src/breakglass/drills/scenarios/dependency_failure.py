"""``dependency-failure``: the price feed a lending pool relies on stops updating.

A :file:`SettableFeed.sol` (Chainlink ``AggregatorV3Interface``) prices dETH at 2,000 dUSD
for :file:`DrillFeedLendingPool.sol`, which never checks the answer's age. The feed goes
silent while dETH falls to 200 elsewhere; the attacker posts cheap dETH at the stale price and
borrows the pool dry. ``oracle-stale`` (a preparation signal) and ``large-outflow`` pause it.
Tokens are real OpenZeppelin ``ERC20PresetMinterPauser`` builds.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode

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

__all__ = ["DependencyFailure"]

POOL_CASH = 300_000 * UNIT
ATTACKER_ETH = 200 * UNIT  # bought at 200 dUSD after the crash the feed missed
BORROW = 60_000 * UNIT
BORROWS = 5
MAX_AGE_S = 3600
SILENCE_S = 2 * MAX_AGE_S


class DependencyFailure(DrillScenario):
    """A stale Chainlink-style feed lets the attacker borrow against overvalued collateral."""

    name = "dependency-failure"
    title = "Upstream price feed stopped updating"
    summary = (
        "The dETH/USD feed stopped updating two hours ago at 2,000 while dETH trades at 200. "
        "DrillFeedLendingPool does not check updatedAt; the attacker posts 200 dETH and "
        "borrows 300,000 dUSD over five blocks."
    )
    goals = (
        "oracle-stale fires as soon as the feed is older than its heartbeat",
        "the pool is paused before the attacker's first borrow",
        "the pool keeps its cash",
    )
    tabletop = {
        "discovery": ("oracle-stale: the dETH/USD feed has not updated for two hours.",),
        "gathering": ("The oracle provider's status page says 'degraded'.",),
        "analysis": ("dETH fell 90% on every exchange in the same two hours.",),
        "action": ("Pause borrowing now, or wait for the provider's fix?",),
        "reflection": ("Which other dependencies could fail the same way?",),
    }

    def deploy(self, anvil: Anvil) -> Deployment:
        chain = SetupChain(anvil)
        admin, guardian, attacker = (a.lower() for a in anvil.accounts[:3])
        token = bytecode(artifact(OZ.format("ERC20PresetMinterPauser")))
        usd = chain.deploy(admin, token, encode(["string", "string"], ["Drill USD", "dUSD"]))
        eth = chain.deploy(admin, token, encode(["string", "string"], ["Drill ETH", "dETH"]))
        feed_code = compile_file("SettableFeed.sol")["SettableFeed"]
        feed = chain.deploy(
            admin,
            feed_code.bytecode,
            encode(["uint8", "string", "int256"], [8, "dETH / USD", 2000 * 10**8]),
        )
        pool_code = compile_file("DrillFeedLendingPool.sol", node_imports=True)
        pool = chain.deploy(
            admin,
            pool_code["DrillFeedLendingPool"].bytecode,
            encode(["address"] * 5, [usd, eth, feed, admin, guardian]),
        )
        chain.send(admin, calldata("mint(address,uint256)", admin, POOL_CASH), usd)
        chain.send(admin, calldata("approve(address,uint256)", pool, POOL_CASH), usd)
        chain.send(admin, calldata("supply(uint256)", POOL_CASH), pool)
        chain.send(admin, calldata("mint(address,uint256)", attacker, ATTACKER_ETH), eth)
        chain.send(attacker, calldata("approve(address,uint256)", pool, 2**255), eth)
        return Deployment(
            addresses={"usd": usd, "eth": eth, "feed": feed, "pool": pool},
            guardian=guardian,
            guardian_key=anvil.private_keys[1],
            attacker=attacker,
        )

    def plan_fragment(self, anvil: Anvil, deployment: Deployment) -> dict[str, Any]:
        a = deployment.addresses
        return {
            "contracts": {
                "pool": pausable(a["pool"]),
                "feed": {"chain": "local", "address": a["feed"]},
                "usd": {"chain": "local", "address": a["usd"]},
            },
            "rules": [
                {
                    "id": "feed-stale",
                    "rule": "oracle-stale",
                    "contracts": ["feed"],
                    "severity": "critical",
                    "params": {"max_age": f"{MAX_AGE_S}s"},
                },
                {
                    "id": "drain",
                    "rule": "large-outflow",
                    "contracts": ["pool"],
                    "severity": "critical",
                    "params": {"token": a["usd"], "threshold": 50_000},
                },
            ],
            "playbooks": [pause_playbook("pool", ["feed-stale", "drain"])],
        }

    def attack(self, anvil: Anvil, deployment: Deployment) -> list[AttackStep]:
        a, attacker = deployment.addresses, deployment.attacker

        def silence(chain: Anvil) -> list[str]:
            # The feed misses its heartbeats: two hours pass without a new round.
            chain.rpc("evm_increaseTime", [SILENCE_S])
            data = calldata("approve(address,uint256)", a["pool"], 2**255)
            return [attacker_send(chain, attacker, a["eth"], data, gas=100_000)]

        def post(chain: Anvil) -> list[str]:
            data = calldata("depositCollateral(uint256)", ATTACKER_ETH)
            return [attacker_send(chain, attacker, a["pool"], data, gas=300_000)]

        def borrow(chain: Anvil) -> list[str]:
            data = calldata("borrow(uint256)", BORROW)
            return [attacker_send(chain, attacker, a["pool"], data, gas=300_000)]

        steps = [
            AttackStep("the feed misses its heartbeat (2 h silent)", silence, exploit=True),
            AttackStep("post 200 dETH at the stale price", post),
        ]
        steps += [
            AttackStep(f"borrow 60,000 dUSD ({i + 1}/{BORROWS})", borrow) for i in range(BORROWS)
        ]
        return steps

    def value_at_risk(self, anvil: Anvil, deployment: Deployment) -> int | None:
        a = deployment.addresses
        return balance_of(anvil, a["usd"], a["pool"])

    def contained(self, anvil: Anvil, deployment: Deployment) -> bool:
        return paused(anvil, deployment.addresses["pool"])
