"""``recover compute`` speaks in the token's unit and ``recover distribution --token`` takes the
plan's name for the token: a lead reads ``18,333.33 dUSD``, not ``18333333333333333333333``
under a truncated address, and types ``--token dusd`` as the plan calls it (before, that
said "nobody is entitled to dusd")."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from breakglass import store
from breakglass.analysis.assets import AssetInfo
from breakglass.analysis.unit_store import keep_units
from breakglass.store.models import Incident, UserLoss

pytestmark = pytest.mark.e2e

DUSD = "0x" + "d0" * 20
ALICE, BOB = ("0x" + c * 40 for c in "12")
PLAN = f"""
version: 1
protocol: Test Protocol
chains: {{local: {{chain_id: 31337, rpc: ["http://127.0.0.1:9"]}}}}
contracts: {{dusd: {{chain: local, address: "{DUSD}"}}}}
compensation_policy:
  contract_flaw: {{covered: true, coverage: 1, rationale: our bug}}
"""


def _database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    now = datetime.now(UTC)
    with store.session_factory(engine).begin() as session:
        incident = Incident(
            title="Pool drained", kind="exploit", severity="P1", status="contained",
            chains=["local"], contracts=["pool"], detected_at=now, updated_at=now,
        )  # fmt: skip
        session.add(incident)
        session.flush()
        for address in (ALICE, BOB):
            session.add(
                UserLoss(incident_id=incident.id, chain="local", address=address, asset=DUSD,
                         amount=str(55_000 * 10**18 // 3), usd_value=None, detail={})
            )  # fmt: skip
        # what the demo keeps while its chain answers; the chain is gone now (port 9)
        keep_units(session, {("local", DUSD): AssetInfo("dUSD", 18)})
    engine.dispose()
    return url


def _cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "BREAKGLASS_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_compute_in_the_token_unit_and_distribution_by_plan_name(tmp_path: Path) -> None:
    url = _database(tmp_path)
    plan = tmp_path / "breakglass.yaml"
    plan.write_text(PLAN, encoding="utf-8")

    table = _cli(tmp_path, url, "recover", "compute", "1", "--plan", str(plan))
    assert table.returncode == 0, table.stderr
    assert "18,333.33 dUSD" in table.stdout
    assert "total 36,666.67 dUSD" in table.stdout
    assert "18333333333333333333333" not in table.stdout

    exact = _cli(tmp_path, url, "recover", "compute", "1", "--plan", str(plan), "-f", "csv")
    assert "18333333333333333333333" in exact.stdout  # scripts keep exact base units

    args = ("recover", "distribution", "1", "--token", "dusd", "--plan", str(plan))
    built = _cli(tmp_path, url, *args, "--out", str(tmp_path / "dist"))
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "dist" / "tree.json").exists()
