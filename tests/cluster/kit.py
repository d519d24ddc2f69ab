"""Chains for the cluster tests: a real OpenZeppelin pausable token per anvil, a plan that
watches a holder of it on each chain and pauses the token when the holder is drained."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from breakglass.devchain import Anvil
from breakglass.nodepkgs import find_node_file
from breakglass.store.models import AlertRecord, IncidentAlert

HOLDER, GUARDIAN, THIEF = 6, 1, 8
PAUSE = "0x8456cb59"  # pause()
PAUSER_ROLE = "0x" + keccak(text="PAUSER_ROLE").hex()
_OZ = Path("node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json")


def send(w3: Web3, key: str, tx: dict[str, Any]) -> Any:
    """Sign ``tx`` with ``key``, send it and return its receipt (asserting success)."""
    sender = Account.from_key(key)
    full = {
        "from": sender.address,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "chainId": w3.eth.chain_id,
        "gas": 5_000_000,
        "gasPrice": w3.eth.gas_price * 2,
        **tx,
    }
    signed = sender.sign_transaction(full)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30
    )
    assert receipt["status"] == 1, receipt
    return receipt


class Token:
    """``ERC20PresetMinterPauser`` on ``anvil``; the guardian account may pause it."""

    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil
        self.w3 = Web3(Web3.HTTPProvider(anvil.http_url))
        path = find_node_file(_OZ)
        assert path is not None, "run npm install"
        built = json.loads(path.read_text())
        factory = self.w3.eth.contract(abi=built["abi"], bytecode=built["bytecode"])
        data = factory.constructor("Acme USD", "aUSD").data_in_transaction
        receipt = send(self.w3, anvil.private_keys[0], {"data": data})
        self.address = str(receipt["contractAddress"])
        self.contract = self.w3.eth.contract(address=self.address, abi=built["abi"])
        self.call("grantRole", PAUSER_ROLE, anvil.accounts[GUARDIAN])
        self.call("mint", anvil.accounts[HOLDER], 10**27)

    def call(self, function: str, *args: Any, key: int = 0) -> Any:
        data = self.contract.encode_abi(function, list(args))
        return send(self.w3, self.anvil.private_keys[key], {"to": self.address, "data": data})

    def drain(self) -> str:
        """The holder sends 5,000 aUSD to the thief (the exploit); the transaction's hash."""
        receipt = self.call("transfer", self.anvil.accounts[THIEF], 5 * 10**21, key=HOLDER)
        return str(receipt["transactionHash"].to_0x_hex())

    def paused(self) -> bool:
        return bool(self.contract.functions.paused().call())

    def unpause(self) -> None:
        self.call("unpause")

    def nonce(self, account: str) -> int:
        return int(self.w3.eth.get_transaction_count(Web3.to_checksum_address(account)))


def pauses(anvil: Anvil, token: str, first: int) -> list[tuple[int, int]]:
    """(block, nonce) of every ``pause()`` the guardian sent to ``token`` since ``first``."""
    w3 = Web3(Web3.HTTPProvider(anvil.http_url))
    guardian = anvil.accounts[GUARDIAN].lower()
    found = []
    for number in range(first, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            to = (tx["to"] or "").lower()
            if tx["from"].lower() == guardian and to == token.lower():
                assert tx["input"].to_0x_hex().startswith(PAUSE)
                found.append((number, int(tx["nonce"])))
    return found


def write_plan(
    path: Path,
    chains: dict[str, tuple[Anvil, Token]],
    *,
    respond: bool,
    hook: str | None = None,
) -> Path:
    """A plan watching the holder on every chain of ``chains``, with a pause playbook;
    with ``hook`` (a ``json://`` URL), alice is paged and the ``ops`` channel posted there."""
    chain_lines = "".join(
        f'  {name}: {{chain_id: {a.chain_id}, block_time: 1, rpc: ["{a.http_url}"]}}\n'
        for name, (a, _) in chains.items()
    )
    holder = next(iter(chains.values()))[0].accounts[HOLDER]
    guardian = next(iter(chains.values()))[0].accounts[GUARDIAN]
    tokens = "".join(f'      {name}: "{t.address}"\n' for name, (_, t) in chains.items())
    playbooks = textwrap.dedent(
        """\
        playbooks:
          - id: contain
            on: [drain]
            steps:
              - {action: pause, contract: market, signer: guardian, verify: "paused()"}
        """
    )
    text = (
        textwrap.dedent(
            """\
            version: 1
            protocol: Acme Lending
            people:
              alice: {name: Alice%s}
              bob: {name: Bob}
            roles:
              incident_lead: [alice]
              pauser: {members: [bob], handles: [pause, unpause]}
            """
            % (f', page: "{hook}/page/alice"' if hook else "")
        )
        + (f'channels:\n  ops: {{url: "{hook}/ops", max_per_minute: 1000}}\n' if hook else "")
        + "chains:\n"
        + chain_lines
        + "contracts:\n"
        + "  pool:\n    deployments:\n"
        + "".join(f'      {name}: "{holder}"\n' for name in chains)
        + '  market:\n    pause: {function: "pause()", check: "paused()", unpause: "unpause()"}\n'
        + "    deployments:\n"
        + tokens
        + "signers:\n"
        + f'  guardian: {{type: env, key: "${{GUARDIAN_KEY}}", address: "{guardian}"}}\n'
        + textwrap.dedent(
            """\
            rules:
              - id: drain
                rule: large-outflow
                contracts: [pool]
                severity: critical
                params: {token: market, threshold: 1000, decimals: 18}
            """
        )
        + (playbooks if respond else "")
    )
    path.write_text(text)
    return path


def incident_opened(sessions: sessionmaker[Session], tx_hash: str) -> bool:
    """Whether the alert on transaction ``tx_hash`` reached the incident desk."""
    with sessions() as session:
        alert = session.scalars(
            select(AlertRecord).where(AlertRecord.tx_hash == tx_hash)
        ).one_or_none()
        if alert is None:
            return False
        found = select(IncidentAlert).where(IncidentAlert.alert_id == alert.id)
        return session.scalars(found).one_or_none() is not None
