"""An incident's figures stay in its tokens' units once the chain is gone: the units read while
the chain answered are kept in the database (the demo's anvil stops when the demo ends; an
RPC provider can be down mid-incident). Before, ``incident show`` and the post-mortem fell
back to ``1,500,000,000,000,000,000,000 base units of 0x…`` and waited on the dead endpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_abi.abi import encode

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.errors import DevchainError
from breakglass.incidents import service
from breakglass.plan import load_plan
from breakglass.scenario.setup import SetupChain, artifact, bytecode
from breakglass.store.models import UserLoss

pytestmark = [pytest.mark.chain, pytest.mark.e2e]

ROOT = Path(__file__).parents[2]
PRESET = "node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json"


def cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": url, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_figures_read_in_the_token_unit_after_the_chain_has_stopped(tmp_path: Path) -> None:
    try:
        chain = Anvil.start()
    except DevchainError as exc:
        pytest.fail(f"anvil is needed by this test: {exc}", pytrace=False)
    url = f"sqlite:///{tmp_path / 'units.db'}"
    plan_file = tmp_path / "breakglass.yaml"
    with chain:
        token = SetupChain(chain).deploy(
            chain.accounts[0],
            bytecode(artifact(PRESET)),
            encode(["string", "string"], ["Demo USD", "dUSD"]),
        )
        plan_file.write_text(
            "protocol: Acme Lending\npeople: {alice: {name: Alice}}\n"
            "roles: {incident_lead: [alice]}\n"
            f'chains: {{local: {{chain_id: 31337, rpc: ["{chain.http_url}"]}}}}\n'
        )
        store.upgrade(url)
        sessions = store.session_factory(store.make_engine(url))
        with sessions() as s, s.begin():
            iid = service.open_incident(
                s, load_plan(plan_file).plan, title="Drain", kind="exploit", severity="P1",
                chains=["local"], contracts=[], detected_at=datetime(2026, 3, 1, tzinfo=UTC),
            ).id  # fmt: skip
            s.add(UserLoss(incident_id=iid, chain="local", address="0x" + "22" * 20, asset=token,
                           amount=str(1_500 * 10**18), usd_value=None, detail={}))  # fmt: skip
        online = cli("incident", "show", str(iid), "--plan", str(plan_file), url=url)
        assert online.returncode == 0, online.stderr
        assert "1,500 dUSD" in online.stdout

    offline = cli("incident", "show", str(iid), "--plan", str(plan_file), url=url)
    assert offline.returncode == 0, offline.stderr
    assert "1,500 dUSD" in offline.stdout
    assert "base units of" not in offline.stdout
    assert "endpoint_failed" not in offline.stderr  # nothing asked of the dead endpoint

    out = tmp_path / "reports"
    args = ("postmortem", str(iid), "--out", str(out), "--plan", str(plan_file))
    report = cli(*args, url=url)
    assert report.returncode == 0, report.stderr
    text = (out / f"postmortem-{iid}.md").read_text()
    assert "| 1,500 dUSD |" in text
    assert "base units of" not in text and "1500000000000000000000" not in text
