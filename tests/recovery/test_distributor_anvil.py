"""The MerkleDistributor on anvil, funded with a real OpenZeppelin 4.9.6 token."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError

from breakglass.contracts.solc import compile_file
from breakglass.devchain import Anvil
from breakglass.nodepkgs import find_node_file
from breakglass.recovery import MerkleDistribution

OZ_TOKEN = Path("node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json")


def _deploy(w3: Web3, sender: str, abi: Any, bytecode: str, *args: Any) -> Any:
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor(*args).transact({"from": sender})
    )
    assert receipt["status"] == 1
    return w3.eth.contract(address=receipt["contractAddress"], abi=abi)


@pytest.fixture(scope="module")
def setup(anvil: Anvil) -> dict[str, Any]:
    w3 = Web3(Web3.HTTPProvider(anvil.http_url))
    admin = anvil.accounts[0]
    path = find_node_file(OZ_TOKEN)
    assert path is not None, "run npm install"
    built = json.loads(path.read_text())
    token = _deploy(w3, admin, built["abi"], built["bytecode"], "Acme USD", "aUSD")
    rng = random.Random(7)
    claims: dict[str, int] = {
        to_checksum_address(rng.randbytes(20)): rng.randrange(1, 10**24) for _ in range(19)
    }
    claims[to_checksum_address(rng.randbytes(20))] = 10**18  # two users with the same amount
    claims[next(iter(claims))] = 10**18
    tree = MerkleDistribution.build(claims)
    compiled = compile_file("MerkleDistributor.sol", node_imports=True)["MerkleDistributor"]
    distributor = _deploy(w3, admin, compiled.abi, compiled.bytecode, token.address, tree.root)
    token.functions.mint(distributor.address, tree.total).transact({"from": admin})
    return {
        "w3": w3,
        "payer": anvil.accounts[1],
        "admin": admin,
        "token": token,
        "distributor": distributor,
        "tree": tree,
        "claims": claims,
    }


def _claim(setup: dict[str, Any], account: str, amount: int, proof: list[str]) -> int:
    """Send a claim with a fixed gas limit; its receipt status."""
    w3: Web3 = setup["w3"]
    tx = setup["distributor"].functions.claim(account, amount, proof)
    sent = tx.transact({"from": setup["payer"], "gas": 300_000})
    return int(w3.eth.wait_for_transaction_receipt(sent)["status"])


def test_every_user_claims_exactly_once(setup: dict[str, Any]) -> None:
    token, distributor, tree = setup["token"], setup["distributor"], setup["tree"]
    claims = tree.claims()
    assert len(claims) == 20
    first = next(iter(claims))
    other = list(claims)[1]
    entry = claims[first]
    wrong = int(entry["amount"]) + 1
    # a wrong amount, and another address's proof, both fail before anything is claimed
    with pytest.raises(ContractLogicError):
        distributor.functions.claim(first, wrong, entry["proof"]).call()
    assert _claim(setup, first, wrong, entry["proof"]) == 0
    assert _claim(setup, other, int(entry["amount"]), entry["proof"]) == 0
    for account, claim in claims.items():
        assert _claim(setup, account, int(claim["amount"]), claim["proof"]) == 1
        assert token.functions.balanceOf(account).call() == setup["claims"][account]
        assert distributor.functions.isClaimed(account).call()
    assert token.functions.balanceOf(distributor.address).call() == 0
    # a replay fails, even with funds to pay it
    token.functions.mint(distributor.address, 10**30).transact(
        {"from": setup["w3"].eth.accounts[0]}
    )
    with pytest.raises(ContractLogicError):
        distributor.functions.claim(first, int(entry["amount"]), entry["proof"]).call()
    assert _claim(setup, first, int(entry["amount"]), entry["proof"]) == 0
    assert token.functions.balanceOf(first).call() == int(entry["amount"])
