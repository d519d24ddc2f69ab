"""Our Merkle trees against the npm ``@openzeppelin/merkle-tree`` 1.0.8 itself."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from breakglass.nodepkgs import find_node_file
from breakglass.recovery import MerkleDistribution, RecoveryError, verify_proof

# For each case: the root of StandardMerkleTree.of(values), the root and proofs of
# StandardMerkleTree.load(our dump), and whether our dump equals the package's dump.
_SCRIPT = """
const { StandardMerkleTree } = require(process.argv[1]);
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = cases.map(({ values, dump }) => {
  const made = StandardMerkleTree.of(values, ["address", "uint256"]);
  const loaded = StandardMerkleTree.load(dump);
  return {
    root: made.root,
    loadedRoot: loaded.root,
    sameDump: JSON.stringify(made.dump()) === JSON.stringify(dump),
    proofs: values.map((v) => made.getProof(v)),
    verified: values.every((v) =>
      StandardMerkleTree.verify(made.root, ["address", "uint256"], v, loaded.getProof(v))),
  };
});
process.stdout.write(JSON.stringify(out));
"""


def _node_tree(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    package = find_node_file(Path("node_modules/@openzeppelin/merkle-tree/package.json"))
    node = shutil.which("node")
    if package is None or node is None:
        pytest.fail("node and @openzeppelin/merkle-tree are needed: run npm install")
    done = subprocess.run(
        [node, "-e", _SCRIPT, str(package.parent)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def _values(size: int, seed: int, *, same_amount: bool = False) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    values: list[tuple[str, int]] = []
    for _ in range(size):
        account = to_checksum_address(rng.randbytes(20))
        amount = 10**18 if same_amount else rng.randrange(1, 2**128)
        values.append((account, amount))
    return values


CASES = {
    "1 leaf": _values(1, 1),
    "2 leaves": _values(2, 2),
    "3 leaves": _values(3, 3),
    "4 leaves": _values(4, 4),
    "5 leaves": _values(5, 5),
    "7 leaves": _values(7, 7),
    "20 leaves": _values(20, 20),
    "20 equal amounts": _values(20, 21, same_amount=True),
    "33 leaves, max uint": [*_values(32, 33), (to_checksum_address("0x" + "f" * 40), 2**256 - 1)],
}


def test_roots_proofs_and_dumps_match_the_npm_package() -> None:
    trees = {name: MerkleDistribution.build(values) for name, values in CASES.items()}
    cases = [
        {"values": [[a, str(n)] for a, n in CASES[name]], "dump": tree.dump()}
        for name, tree in trees.items()
    ]
    for name, tree, theirs in zip(trees, trees.values(), _node_tree(cases), strict=True):
        assert theirs["root"] == tree.root_hex, name
        assert theirs["loadedRoot"] == tree.root_hex, name
        assert theirs["sameDump"], name
        assert theirs["verified"], name
        claims = tree.claims()
        for (account, amount), proof in zip(CASES[name], theirs["proofs"], strict=True):
            assert claims[to_checksum_address(account)]["proof"] == proof, name
            assert claims[to_checksum_address(account)]["amount"] == str(amount)
            assert verify_proof(tree.root, account, amount, [bytes.fromhex(p[2:]) for p in proof])


def test_dump_round_trips_and_tampering_is_caught() -> None:
    tree = MerkleDistribution.build(CASES["5 leaves"])
    assert MerkleDistribution.load(json.loads(json.dumps(tree.dump()))) == tree
    tampered = tree.dump()
    tampered["values"][0]["value"][1] = "1"
    with pytest.raises(RecoveryError, match="does not match"):
        MerkleDistribution.load(tampered)


def test_bad_input_is_refused() -> None:
    account = "0x" + "1" * 40
    with pytest.raises(RecoveryError, match="at least one"):
        MerkleDistribution.build([])
    with pytest.raises(RecoveryError, match="twice"):
        MerkleDistribution.build([(account, 1), (account.upper().replace("0X", "0x"), 2)])
    with pytest.raises(RecoveryError, match="uint256"):
        MerkleDistribution.build([(account, -1)])
    assert not verify_proof(MerkleDistribution.build([(account, 1)]).root, account, 2, [])
