"""``breakglass migrate snapshot``: users' positions at a block become a Merkle distribution
that a new contract (MerkleDistributor) on anvil pays out with the proofs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from breakglass import store
from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.incidents import timeline
from breakglass.scenario.vault import calldata
from breakglass.store.models import Incident

from .upgrade_scenario import UNIT, UpgradeScenario, deploy, plan_data, run_incident

pytestmark = [pytest.mark.e2e, pytest.mark.chain]


@pytest.fixture(scope="module")
def scenario(anvil: Anvil) -> Iterator[UpgradeScenario]:
    s = deploy(anvil)
    run_incident(s)
    yield s


def test_users_claim_their_snapshot_positions_from_a_new_contract(
    anvil: Anvil, scenario: UpgradeScenario, tmp_path: Path
) -> None:
    s = scenario
    plan = plan_data(anvil, s)
    plan["analysis"] = {
        "positions": [{"contract": "vault", "view": "balances(address)", "asset": s.token}]
    }
    (tmp_path / "breakglass.yaml").write_text(yaml.safe_dump(plan))
    url = f"sqlite:///{tmp_path / 'bg.db'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    now = datetime.now(UTC)
    with store.session_factory(engine).begin() as session:
        session.add(Incident(
            title="Vault drained", kind="exploit", severity="P1", status="contained",
            chains=["local"], contracts=["vault"], detected_at=now, updated_at=now,
        ))  # fmt: skip
    block = int(anvil.rpc("eth_blockNumber"), 16)
    expected = {u: s.call(s.vault, "balances(address)", u) for u in s.users}
    assert expected[s.users[0]] == 600 * UNIT  # deposited 1000, withdrew 400

    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "BREAKGLASS_DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "breakglass", "migrate", "snapshot", "1", "--block", str(block),
         "--out", "snap"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "snap" / "snapshot.json").read_text())
    positions = data["assets"][s.token]["positions"]
    assert {u: int(v) for u, v in positions.items()} == expected
    csv_rows = (tmp_path / "snap" / "snapshot.csv").read_text().splitlines()
    assert csv_rows[0] == "asset,address,amount" and len(csv_rows) == 1 + len(s.users)
    claims = json.loads((tmp_path / "snap" / s.token / "claims.json").read_text())
    root = data["assets"][s.token]["root"]
    total = int(data["assets"][s.token]["total"])

    # the new contract: a MerkleDistributor funded with the total
    admin = anvil.accounts[0].lower()
    build = compile_file("MerkleDistributor.sol", node_imports=True)["MerkleDistributor"]
    args = encode(["address", "bytes32"], [s.token, bytes.fromhex(root[2:])])
    distributor = s.deploy(admin, build.bytecode, args)
    s.send(admin, calldata("mint(address,uint256)", distributor, total), s.token)
    for user in s.users:
        claim = next(v for k, v in claims.items() if k.lower() == user)
        before = s.balance(user)
        proof = [bytes.fromhex(p[2:]) for p in claim["proof"]]
        data_hex = (
            "0x"
            + (
                keccak(text="claim(address,uint256,bytes32[])")[:4]
                + encode(["address", "uint256", "bytes32[]"], [user, int(claim["amount"]), proof])
            ).hex()
        )
        s.send(admin, data_hex, distributor)
        assert s.balance(user) - before == expected[user]
    assert s.balance(distributor) == 0
    with store.session_factory(engine)() as session:
        [event] = [e for e in timeline(session, 1) if e.data.get("kind") == "migration-snapshot"]
        assert event.data["assets"][s.token]["root"] == root and event.block_number == block
    engine.dispose()
