"""A deployed OpenZeppelin ERC20PresetMinterPauser on the module's anvil, and helpers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from breakglass import store
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.detect import Detector, Finding, StateReader
from breakglass.devchain import Anvil
from breakglass.ingest import BlockFetcher
from breakglass.nodepkgs import find_node_file

ARTIFACT = Path("node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json")


def artifact(name: str) -> dict[str, Any]:
    """An OpenZeppelin 4.9.6 build artefact (ABI and bytecode) from node_modules."""
    path = find_node_file(ARTIFACT.with_name(f"{name}.json"))
    assert path is not None, "run npm install"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


class Token:
    """A deployed ERC20PresetMinterPauser and helpers to act on it from anvil's accounts."""

    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil
        self.w3 = Web3()
        deployer = anvil.accounts[0]
        self.abi = artifact("ERC20PresetMinterPauser")["abi"]
        self.address = self.deploy(deployer, "ERC20PresetMinterPauser", "Acme USD", "aUSD")
        self.contract = self.at(self.address, self.abi)

    artifact = staticmethod(artifact)

    def deploy(self, sender: str, name: str, *args: Any) -> str:
        built = artifact(name)
        factory = self.w3.eth.contract(abi=built["abi"], bytecode=built["bytecode"])
        receipt = self.send(sender, None, factory.constructor(*args).data_in_transaction)
        self.last_receipt = receipt
        return str(receipt["contractAddress"]).lower()

    def at(self, address: str, abi: list[dict[str, Any]]) -> Any:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)

    def send(self, sender: str, to: str | None, data: str) -> dict[str, Any]:
        tx: dict[str, Any] = {"from": sender, "data": data, "gas": hex(6_000_000)}
        if to is not None:
            tx["to"] = to
        tx_hash = self.anvil.rpc("eth_sendTransaction", [tx])
        for _ in range(100):  # automine answers before the receipt is stored
            receipt = self.anvil.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
            time.sleep(0.02)
        assert receipt is not None and receipt["status"] == "0x1", receipt
        return receipt

    def call(self, sender: str, fn: str, *args: Any, contract: Any = None) -> dict[str, Any]:
        target = contract or self.contract
        data = target.encode_abi(fn, args=list(args))
        return self.send(sender, str(target.address), data)


@pytest.fixture(scope="module")
def token(anvil: Anvil) -> Token:
    return Token(anvil)


@pytest.fixture(scope="module")
def make_token(anvil: Anvil) -> Any:
    """Deploys a fresh token on each call."""
    return lambda: Token(anvil)


@pytest.fixture
def evaluate(anvil: Anvil) -> Iterator[Any]:
    """Evaluate a detector on the block of a receipt: fetched by its spec, state read at it."""
    loop = asyncio.new_event_loop()
    pool = EndpointPool([Endpoint(anvil.http_url)])

    def run(detector: Detector, receipt: dict[str, Any]) -> list[Finding]:
        async def go() -> list[Finding]:
            fetcher = BlockFetcher(pool, detector.fetch_spec())
            block = await fetcher.fetch("local", await fetcher.header_by_hash(receipt["blockHash"]))
            state = await StateReader(pool).read(block.hash, detector.state_calls())
            return detector.evaluate(block, state)

        return loop.run_until_complete(go())

    yield run
    loop.run_until_complete(pool.aclose())
    loop.close()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A migrated SQLite database of the test's own."""
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    yield store.session_factory(engine)
    engine.dispose()
