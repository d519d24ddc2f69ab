"""Exploits sent to the mempool, for mempool pre-execution tests and benchmarks.

Two single-transaction drains on a local anvil, each with honest traffic of the same protocol:

* ``reentrancy``: :file:`GuardedEtherVault.sol` (OpenZeppelin ``AccessControl`` + ``Pausable``)
  holds 10 ETH from each of up to seven users; ``GuardedVaultReenterer.attack`` deposits
  1 ETH and withdraws it 60 times from inside the vault's payment. Honest users deposit and
  withdraw their own.
* ``flash-swap``: the demo's lending pool priced by a real Uniswap V2 pair (``@uniswap/v2-core``
  bytecode, :mod:`breakglass.demo.protocol`); ``DemoAttacker.attack`` flash-swaps 400,000
  dUSD, pumps the oracle pair and borrows 110,000 dUSD against inflated collateral. Honest
  suppliers withdraw 1 dUSD at a time and users move dUSD between them.

The attacker bids a 30 gwei max fee and a 2 gwei tip, as in the reaction benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from eth_abi.abi import encode
from eth_account import Account
from eth_utils.address import to_checksum_address

from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.scenario.setup import SetupChain
from breakglass.scenario.vault import calldata

__all__ = [
    "Call",
    "MempoolScenario",
    "deploy_flash_swap",
    "deploy_reentrancy",
    "honest_raw",
    "plan_yaml",
    "rpc_batch",
    "sign_calls",
    "sign_tx",
]

ETHER = 10**18
GWEI = 10**9
GUARDIAN_ENV = "PREEXEC_GUARDIAN_KEY"


def sign_tx(
    key: str,
    *,
    chain_id: int,
    nonce: int,
    to: str,
    data: str,
    value: int = 0,
    gas: int = 300_000,
    max_fee_gwei: Decimal = Decimal(30),
    tip_gwei: Decimal = Decimal(2),
) -> tuple[str, str]:
    """An EIP-1559 transaction signed with ``key``: (raw ``0x`` hex, transaction hash)."""
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": to_checksum_address(to),
        "data": data,
        "value": value,
        "gas": gas,
        "maxFeePerGas": int(max_fee_gwei * GWEI),
        "maxPriorityFeePerGas": int(tip_gwei * GWEI),
    }
    signed = Account.sign_transaction(tx, key)
    return "0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex()


@dataclass(frozen=True, slots=True)
class MempoolScenario:
    """A deployed protocol, its pause, its exploit transaction and its honest users."""

    kind: Literal["reentrancy", "flash-swap"]
    chain_id: int
    target: str  # the contract paused, whose funds are at risk
    asset: str | None  # the token at risk; None for ether
    guardian: str
    guardian_key: str
    attacker: str
    attacker_key: str
    exploit_to: str
    exploit_data: str
    exploit_value: int
    exploit_gas: int
    rules: str  # the plan's rules, YAML
    honest: tuple[Call, ...]  # the honest calls of the protocol's users

    def sign_exploit(
        self, nonce: int, *, max_fee_gwei: Decimal = Decimal(30), tip_gwei: Decimal = Decimal(2)
    ) -> tuple[str, str]:
        return sign_tx(
            self.attacker_key,
            chain_id=self.chain_id,
            nonce=nonce,
            to=self.exploit_to,
            data=self.exploit_data,
            value=self.exploit_value,
            gas=self.exploit_gas,
            max_fee_gwei=max_fee_gwei,
            tip_gwei=tip_gwei,
        )

    def at_risk(self, anvil: Anvil, block: str = "latest") -> int:
        """The target's balance of the asset at risk, in base units."""
        if self.asset is None:
            return int(anvil.rpc("eth_getBalance", [self.target, block]), 16)
        call = {"to": self.asset, "data": calldata("balanceOf(address)", self.target)}
        return int(anvil.rpc("eth_call", [call, block]), 16)

    def paused(self, anvil: Anvil) -> bool:
        call = {"to": self.target, "data": calldata("paused()")}
        return int(anvil.rpc("eth_call", [call, "latest"]), 16) == 1


def deploy_reentrancy(anvil: Anvil, *, users: int = 10) -> MempoolScenario:
    """The guarded ether vault, ``users`` deposits of 10 ETH and the attacker's contract
    (automine on)."""
    chain = SetupChain(anvil)
    accounts = [a.lower() for a in anvil.accounts]
    keys = anvil.private_keys
    deployer, guardian, attacker = accounts[0], accounts[1], accounts[2]
    built = compile_file("GuardedEtherVault.sol", node_imports=True)
    vault = chain.deploy(
        deployer, built["GuardedEtherVault"].bytecode, encode(["address"], [guardian])
    )
    depositors = [(keys[i], accounts[i]) for i in range(3, min(3 + users, len(accounts)))]
    for _, user in depositors:
        anvil.rpc(
            "eth_sendTransaction",
            [{"from": user, "to": vault, "data": calldata("deposit()"), "value": hex(10 * ETHER)}],
        )
    reenterer = chain.deploy(
        attacker, built["GuardedVaultReenterer"].bytecode, encode(["address"], [vault])
    )
    honest = tuple(
        (key, vault, calldata("deposit()"), ETHER // 100) for key, _ in depositors
    ) + tuple((key, vault, calldata("withdraw()"), 0) for key, _ in depositors)
    rules = """\
  - id: vault-reentered
    rule: reentrancy
    contracts: [vault]
    severity: critical
  - id: vault-drained
    rule: large-outflow
    contracts: [vault]
    severity: critical
    params: {native: true, threshold: 20, symbol: ETH}
"""
    return MempoolScenario(
        kind="reentrancy",
        chain_id=anvil.chain_id,
        target=vault,
        asset=None,
        guardian=guardian,
        guardian_key=keys[1],
        attacker=attacker,
        attacker_key=keys[2],
        exploit_to=reenterer,
        exploit_data=calldata("attack(uint256)", 60),
        exploit_value=ETHER,
        exploit_gas=3_000_000,
        rules=rules,
        honest=honest,
    )


def deploy_flash_swap(anvil: Anvil) -> MempoolScenario:
    """The demo's lending protocol and its flash-swap attacker (automine on)."""
    # The demo modules are imported here: the reentrancy scenario does not need them.
    from breakglass.demo.attack import CHUNK, FLASH, STAKE, Attacker  # noqa: PLC0415
    from breakglass.demo.protocol import deploy_protocol, user_keys  # noqa: PLC0415

    protocol = deploy_protocol(anvil)
    attacker = Attacker(anvil, protocol)
    attacker.prepare()
    suppliers = user_keys()[:6]
    users = protocol.users
    honest = tuple(
        (key, protocol.pool, calldata("withdraw(uint256)", ETHER), 0) for key in suppliers
    ) + tuple(
        (key, protocol.usd, calldata("transfer(address,uint256)", users[(i + 1) % 6], ETHER), 0)
        for i, key in enumerate(suppliers)
    )
    rules = f"""\
  - id: pool-drained
    rule: large-outflow
    contracts: [pool]
    severity: critical
    params: {{token: "{protocol.usd}", threshold: 50000, symbol: dUSD}}
"""
    return MempoolScenario(
        kind="flash-swap",
        chain_id=anvil.chain_id,
        target=protocol.pool,
        asset=protocol.usd,
        guardian=protocol.guardian,
        guardian_key=protocol.guardian_key,
        attacker=protocol.attacker,
        attacker_key=protocol.attacker_key,
        exploit_to=attacker.contract,
        exploit_data=calldata("attack(uint256,uint256,uint256)", FLASH, STAKE, CHUNK),
        exploit_value=0,
        exploit_gas=1_500_000,
        rules=rules,
        honest=honest,
    )


def plan_yaml(
    anvil: Anvil,
    scenario: MempoolScenario,
    *,
    mempool: bool = True,
    ordering: str = "priority-fee",
    confirm: str = "alongside",
    extra_mempool: str = "",
    gas: str = "{max_priority_fee_gwei: 50, max_fee_gwei: 500}",
) -> str:
    """A plan whose critical rules pause the target through the guardian (key from
    ``$PREEXEC_GUARDIAN_KEY``), with mempool pre-execution on or off."""
    asset = f'  asset: {{chain: local, address: "{scenario.asset}"}}\n' if scenario.asset else ""
    name = "vault" if scenario.kind == "reentrancy" else "pool"
    rules = [line.split(": ", 1)[1] for line in scenario.rules.splitlines() if "- id: " in line]
    return f"""\
protocol: Mempool {scenario.kind}
chains:
  local:
    chain_id: {scenario.chain_id}
    rpc: [{{url: "{anvil.http_url}", ws: "{anvil.ws_url}"}}]
    gas: {gas}
    ordering: {ordering}
    mempool: {{enabled: {str(mempool).lower()}, confirm: {confirm}{extra_mempool}}}
contracts:
  {name}:
    chain: local
    address: "{scenario.target}"
    pause: {{function: "pause()", check: "paused()", unpause: "unpause()"}}
{asset}signers:
  guardian: {{type: env, key: "${{{GUARDIAN_ENV}}}", address: "{scenario.guardian}"}}
rules:
{scenario.rules}playbooks:
  - id: contain
    on: [{", ".join(rules)}]
    steps:
      - {{action: pause, contract: {name}, signer: guardian, mode: auto, verify: "paused()"}}
"""


Call = tuple[str, str, str, int]
"""(private key, to, calldata, value) of one transaction to sign."""


def sign_calls(anvil: Anvil, calls: Iterable[Call], *, gas: int = 200_000) -> list[str]:
    """Sign ``calls`` in order at 20 gwei max fee and 1 gwei tip, each sender's nonces
    following its pending count on ``anvil``."""
    nonces: dict[str, int] = {}
    raws: list[str] = []
    for key, to, data, value in calls:
        address = Account.from_key(key).address.lower()
        if address not in nonces:
            nonces[address] = int(anvil.rpc("eth_getTransactionCount", [address, "pending"]), 16)
        raw, _ = sign_tx(
            key,
            chain_id=anvil.chain_id,
            nonce=nonces[address],
            to=to,
            data=data,
            value=value,
            gas=gas,
            max_fee_gwei=Decimal(20),
            tip_gwei=Decimal(1),
        )
        nonces[address] += 1
        raws.append(raw)
    return raws


def honest_raw(anvil: Anvil, scenario: MempoolScenario, count: int) -> list[str]:
    """``count`` signed honest transactions, cycling through the scenario's honest calls."""
    honest = scenario.honest
    return sign_calls(anvil, (honest[index % len(honest)] for index in range(count)))


def rpc_batch(anvil: Anvil, calls: list[tuple[str, list[Any]]]) -> None:
    """Send JSON-RPC ``calls`` to ``anvil`` in one HTTP batch (answers ignored)."""
    import httpx  # noqa: PLC0415

    body = [
        {"jsonrpc": "2.0", "id": index, "method": method, "params": params}
        for index, (method, params) in enumerate(calls)
    ]
    httpx.post(anvil.http_url, json=body, timeout=30).raise_for_status()
