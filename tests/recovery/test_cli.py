"""``breakglass recover compute|distribution`` as a user runs them, on a SQLite database."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from breakglass import store
from breakglass.recovery import MerkleDistribution
from breakglass.store.models import AttackerRecord, Distribution, Incident, UserLoss

pytestmark = pytest.mark.e2e

USDC = "0x" + "a0" * 20
ALICE, BOB, CAROL, MALLORY = ("0x" + c * 40 for c in "1234")
PLAN = """
version: 1
protocol: Test Protocol
compensation_policy:
  contract_flaw: {covered: true, coverage: 0.8, rationale: our bug}
  user_error: {covered: false, rationale: own mistake}
  per_user_cap_usd: 50000
  dust_threshold_usd: 1
  exclusions: ["0x3333333333333333333333333333333333333333", ofac-list]
"""


def _database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    now = datetime.now(UTC)
    with store.session_factory(engine).begin() as session:
        incident = Incident(
            title="Vault drained",
            kind="exploit",
            severity="P1",
            status="contained",
            chains=["local"],
            contracts=["vault"],
            detected_at=now,
            updated_at=now,
        )
        session.add(incident)
        session.flush()
        for address, amount in ((ALICE, 100_000), (BOB, 1_000), (CAROL, 500), (MALLORY, 9)):
            session.add(
                UserLoss(
                    incident_id=incident.id,
                    chain="local",
                    address=address,
                    asset=USDC,
                    amount=str(amount * 10**6),
                    usd_value=float(amount),
                    detail={"price_usd": "1", "decimals": 6},
                )
            )
        session.add(AttackerRecord(incident_id=incident.id, kind="address", value=MALLORY))
    engine.dispose()
    return url


def _cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "BREAKGLASS_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )


def test_compute_and_distribution(tmp_path: Path) -> None:
    url = _database(tmp_path)
    plan = tmp_path / "breakglass.yaml"
    plan.write_text(textwrap.dedent(PLAN))

    done = _cli(tmp_path, url, "recover", "compute", "1", "--plan", str(plan), "--format", "csv")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row["address"]: row for row in csv.DictReader(io.StringIO(done.stdout))}
    assert rows[ALICE]["amount"] == str(50_000 * 10**6)
    assert rows[ALICE]["reasons"] == "coverage 80%; capped at $50,000"
    assert rows[BOB]["amount"] == str(800 * 10**6)
    assert rows[CAROL]["amount"] == "0"
    assert rows[CAROL]["reasons"] == "excluded: listed in the policy's exclusions"
    assert rows[MALLORY]["reasons"] == "excluded: attacker cluster"
    assert "ofac-list" in done.stderr

    table = _cli(tmp_path, url, "recover", "compute", "1", "--plan", str(plan))
    assert table.returncode == 0, table.stderr
    assert "capped at $50,000" in table.stdout

    uncovered = _cli(
        tmp_path,
        url,
        "recover",
        "compute",
        "1",
        "-p",
        str(plan),
        "--cause",
        "user-error",
        "-f",
        "json",
    )
    assert uncovered.returncode == 0, uncovered.stderr
    document = json.loads(uncovered.stdout)
    assert document["totals"] == {USDC: "0"}
    assert document["entitlements"][0]["reasons"] == ["not covered: user error (own mistake)"]

    out_dir = tmp_path / "dist"
    built = _cli(
        tmp_path,
        url,
        "recover",
        "distribution",
        "1",
        "--token",
        USDC,
        "--plan",
        str(plan),
        "--out",
        str(out_dir),
    )
    assert built.returncode == 0, built.stdout + built.stderr
    tree = MerkleDistribution.load(json.loads((out_dir / "tree.json").read_text()))
    assert built.stdout.strip() == tree.root_hex
    claims = json.loads((out_dir / "claims.json").read_text())
    assert {a.lower(): c["amount"] for a, c in claims.items()} == {
        ALICE: str(50_000 * 10**6),
        BOB: str(800 * 10**6),
    }
    engine = store.make_engine(url)
    with store.session_factory(engine)() as session:
        row = session.query(Distribution).one()
        assert (row.root, row.total, row.chain) == (tree.root_hex, str(50_800 * 10**6), "local")
    engine.dispose()

    missing = _cli(tmp_path, url, "recover", "compute", "7", "--plan", str(plan))
    assert missing.returncode == 2
    assert "no incident #7" in missing.stderr
