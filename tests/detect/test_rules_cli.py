"""``breakglass rules test`` and rules in ``breakglass backfill``, against anvil and a token."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from breakglass import store
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.detect.replay import UnknownRule, UnknownTransaction, replay_tx
from breakglass.devchain import Anvil
from breakglass.plan import load_plan

pytestmark = pytest.mark.chain

ROOT = Path(__file__).parents[2]


def write_plan(tmp_path: Path, anvil: Anvil, token: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        protocol: T
        chains:
          local: {{chain_id: 31337, rpc: ["{anvil.http_url}"]}}
        contracts:
          token: {{chain: local, address: "{token}"}}
        rules:
          - {{id: token-paused, rule: paused, contracts: [token], severity: critical}}
        """)
    )
    return path


def cli(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "BREAKGLASS_DATABASE_URL": f"sqlite:///{(tmp_path / 'bg.db').as_posix()}",
        "BREAKGLASS_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def stored_alerts(tmp_path: Path) -> list[store.AlertRecord]:
    engine = store.make_engine(f"sqlite:///{(tmp_path / 'bg.db').as_posix()}")
    try:
        with store.session_factory(engine)() as session:
            return store.list_alerts(session)
    finally:
        engine.dispose()


@pytest.fixture
def paused(anvil: Anvil, make_token: Any) -> tuple[Any, dict[str, Any]]:
    """A fresh token and the receipt of the transaction that paused it."""
    token = make_token()
    return token, token.call(anvil.accounts[0], "pause")


def test_replay_finds_the_pause_in_its_tx_only(
    anvil: Anvil, paused: tuple[Any, dict[str, Any]], tmp_path: Path
) -> None:
    token, receipt = paused
    plan = load_plan(write_plan(tmp_path, anvil, token.address))

    async def replay(rule_id: str, tx_hash: str) -> Any:
        pool = EndpointPool([Endpoint(anvil.http_url)], chain="local")
        try:
            return await replay_tx(
                loaded_plan=plan, chain="local", rule_id=rule_id, tx_hash=tx_hash, pool=pool
            )
        finally:
            await pool.aclose()

    (finding,) = asyncio.run(replay("token-paused", receipt["transactionHash"]))
    assert (finding.rule, finding.kind, finding.severity) == ("token-paused", "paused", "critical")
    assert finding.tx_hash == receipt["transactionHash"].lower()
    assert asyncio.run(replay("token-paused", token.last_receipt["transactionHash"])) == []
    with pytest.raises(UnknownRule, match="no enabled rule 'nope'"):
        asyncio.run(replay("nope", receipt["transactionHash"]))
    with pytest.raises(UnknownTransaction, match="not found"):
        asyncio.run(replay("token-paused", "0x" + "ee" * 32))


def test_cli_rules_test(anvil: Anvil, paused: tuple[Any, dict[str, Any]], tmp_path: Path) -> None:
    token, receipt = paused
    plan = write_plan(tmp_path, anvil, token.address)
    tx = receipt["transactionHash"]
    result = cli(tmp_path, "rules", "test", "token-paused", "--tx", tx, "--plan", plan)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "token-paused: 1 finding for tx" in result.stdout
    assert "CRITICAL" in result.stdout and "token paused by" in result.stdout

    for args, message in [
        (("nope", "--tx", tx), "no enabled rule 'nope'"),
        (("token-paused", "--tx", "0x" + "ee" * 32), "not found"),
        (("token-paused", "--tx", tx, "--chain", "elsewhere"), "no chain 'elsewhere'"),
    ]:
        bad = cli(tmp_path, "rules", "test", *args, "--plan", plan)
        assert bad.returncode == 2, bad.stdout + bad.stderr
        assert message in " ".join(bad.stderr.split())
        assert "Traceback" not in bad.stdout + bad.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(plan.read_text().replace("rule: paused", "rule: pausd"))
    bad = cli(tmp_path, "rules", "test", "token-paused", "--tx", tx, "--plan", broken)
    assert bad.returncode == 2 and "unknown rule type 'pausd'" in bad.stderr


def test_backfill_runs_log_rules_and_stores_one_alert(
    anvil: Anvil, paused: tuple[Any, dict[str, Any]], tmp_path: Path
) -> None:
    token, receipt = paused
    plan = write_plan(tmp_path, anvil, token.address)
    first = int(token.last_receipt["blockNumber"], 16)
    last = int(receipt["blockNumber"], 16)
    args = ("backfill", "--plan", plan, "--chain", "local", "--from", first, "--to", last)
    result = cli(tmp_path, *map(str, args))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rules: 1 log rule, findings 1, new alerts 1" in result.stdout
    assert "state, transaction and trace rules do not run in a backfill" in result.stdout
    (alert,) = stored_alerts(tmp_path)
    assert (alert.rule, alert.kind, alert.block_number) == ("token-paused", "paused", last)
    assert alert.tx_hash == receipt["transactionHash"].lower()
