"""A real OpenZeppelin 4.9.6 pausable token on the module's anvil, a migrated database and
a plan writer, for the containment tests."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from eth_utils.crypto import keccak
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.nodepkgs import find_node_file
from breakglass.plan.loader import LoadedPlan, load_plan


def _load(name: str) -> ModuleType:
    module_name = f"breakglass_tests_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            module_name, Path(__file__).with_name(f"{name}.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


safe_chain = _load("safe_chain")
kit = _load("kit")

OZ_BUILD = Path("node_modules/@openzeppelin/contracts/build/contracts")
PAUSER_ROLE = "0x" + keccak(text="PAUSER_ROLE").hex()

# anvil's accounts: 0 deploys and administers, 1 is the guardian (holds PAUSER_ROLE),
# 2 is a key without the role, 3-5 own the Safe, 9 pays for odd jobs.
GUARDIAN, INTRUDER = 1, 2


class Token:
    """A deployed ``ERC20PresetMinterPauser``; ``pauser`` gets ``PAUSER_ROLE``."""

    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil
        self.w3 = Web3(Web3.HTTPProvider(anvil.http_url))
        self.admin_key = anvil.private_keys[0]
        path = find_node_file(OZ_BUILD / "ERC20PresetMinterPauser.json")
        assert path is not None, "run npm install"
        built = json.loads(path.read_text())
        self.abi = built["abi"]
        self.address = safe_chain.deploy_artifact(
            self.w3, self.admin_key, built, "Acme USD", "aUSD"
        )
        self.contract = self.w3.eth.contract(address=self.address, abi=self.abi)

    def grant_pauser(self, account: str) -> None:
        data = self.contract.encode_abi("grantRole", [PAUSER_ROLE, account])
        safe_chain.send(self.w3, self.admin_key, {"to": self.address, "data": data})

    def set_paused(self, paused: bool) -> None:
        data = self.contract.encode_abi("pause" if paused else "unpause", [])
        safe_chain.send(self.w3, self.admin_key, {"to": self.address, "data": data})

    def paused(self) -> bool:
        return bool(self.contract.functions.paused().call())

    def nonce(self, account: str) -> int:
        return int(self.w3.eth.get_transaction_count(Web3.to_checksum_address(account)))


@pytest.fixture(scope="module")
def token(anvil: Anvil) -> Token:
    deployed = Token(anvil)
    deployed.grant_pauser(anvil.accounts[GUARDIAN])
    return deployed


@pytest.fixture
def fresh_chain(anvil: Anvil) -> Iterator[Anvil]:
    """Every change a test makes to the chain is undone after it."""
    snapshot = anvil.rpc("evm_snapshot", [])
    yield anvil
    anvil.rpc("evm_revert", [snapshot])


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    return store.session_factory(store.make_engine(url))


PlanWriter = Callable[..., LoadedPlan]


@pytest.fixture
def write_plan(tmp_path: Path, anvil: Anvil, token: Token) -> PlanWriter:
    """Write a plan around the token; ``body`` adds sections (playbooks, more signers)."""

    def write(body: str, *, contracts: str = "", **values: Any) -> LoadedPlan:
        head = f"""
        version: 1
        protocol: Test Protocol
        people:
          alice: {{name: Alice}}
          bob: {{name: Bob}}
          carol: {{name: Carol}}
        roles:
          incident_lead: [alice]
          pauser: {{members: [bob], handles: [pause, unpause]}}
        chains:
          local: {{chain_id: 31337, block_time: 1, rpc: ["{anvil.http_url}"]}}
        contracts:
          token:
            chain: local
            address: "{token.address}"
            pause: {{function: "pause()", check: "paused()", unpause: "unpause()"}}
        """
        extra = textwrap.indent(textwrap.dedent(contracts), "  ")
        text = textwrap.dedent(head) + extra + textwrap.dedent(body).format(**values)
        path = tmp_path / "breakglass.yaml"
        path.write_text(text)
        return load_plan(path)

    return write


def key_env(anvil: Anvil, **names: int) -> dict[str, str]:
    """Environment variables holding anvil keys, e.g. ``key_env(anvil, GUARDIAN_KEY=1)``."""
    return {name: anvil.private_keys[index] for name, index in names.items()}


SAFE_OWNERS = (3, 4, 5)


@pytest.fixture(scope="module")
def pausing_safe(anvil: Anvil, token: Token) -> str:
    """A real Safe 1.4.1, 2 of anvil accounts 3-5, that holds the token's PAUSER_ROLE."""
    owners = [anvil.accounts[i] for i in SAFE_OWNERS]
    address: str = safe_chain.deploy_safe(anvil.http_url, anvil.private_keys[9], owners, 2)
    token.grant_pauser(address)
    return address
