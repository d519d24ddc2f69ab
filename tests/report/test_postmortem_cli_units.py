"""``breakglass postmortem --plan`` reads each lost token's symbol and decimals through the
plan's endpoints (a real OpenZeppelin token on anvil), so the report speaks in its unit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_abi.abi import encode
from typer.testing import CliRunner

from breakglass import store
from breakglass.cli.postmortem import app
from breakglass.devchain import Anvil
from breakglass.incidents import service
from breakglass.plan import load_plan
from breakglass.scenario.setup import SetupChain, artifact, bytecode
from breakglass.store.models import UserLoss

PRESET = "node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json"


@pytest.mark.chain
def test_the_cli_postmortem_reads_amounts_in_the_tokens_unit(
    anvil: Anvil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = SetupChain(anvil).deploy(
        anvil.accounts[0],
        bytecode(artifact(PRESET)),
        encode(["string", "string"], ["Demo USD", "dUSD"]),
    )
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(
        "protocol: Acme Lending\npeople: {alice: {name: Alice}}\n"
        "roles: {incident_lead: [alice]}\n"
        f'chains: {{local: {{chain_id: 31337, rpc: ["{anvil.http_url}"]}}}}\n'
    )
    url = f"sqlite:///{tmp_path / 'units.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as s, s.begin():
        iid = service.open_incident(
            s, load_plan(plan_file).plan, title="Drain", kind="exploit", severity="P1",
            chains=["local"], contracts=[], detected_at=datetime(2026, 3, 1, tzinfo=UTC),
        ).id  # fmt: skip
        s.add(UserLoss(incident_id=iid, chain="local", address="0x" + "22" * 20, asset=token,
                       amount=str(1_500 * 10**18), usd_value=None, detail={}))  # fmt: skip
    monkeypatch.setenv("BREAKGLASS_DATABASE_URL", url)
    out = tmp_path / "reports"
    args = [str(iid), "--format", "md", "--out", str(out), "--plan", str(plan_file)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = (out / f"postmortem-{iid}.md").read_text()
    assert "| 1,500 dUSD |" in text  # the user's loss, in the token's unit
    assert "1500000000000000000000" not in text
