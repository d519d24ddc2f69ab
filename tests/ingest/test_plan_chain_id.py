"""The plan names the chain it means by id: ``monitor`` and ``backfill`` refuse endpoints that
serve another one, even on a fresh database with no checkpoint to compare with (before, a
wrong RPC URL or a wrong ``chain_id`` was watched without a word)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from breakglass.devchain import Anvil

pytestmark = [pytest.mark.chain, pytest.mark.e2e]

ROOT = Path(__file__).parents[2]
TOKEN = "0x" + "11" * 20


def write_plan(path: Path, url: str, chain_id: int) -> Path:
    path.write_text(
        "protocol: T\n"
        "chains:\n"
        f'  local: {{chain_id: {chain_id}, rpc: ["{url}"]}}\n'
        "contracts:\n"
        f'  token: {{chain: local, address: "{TOKEN}"}}\n'
        "rules:\n"
        "  - {id: token-paused, rule: paused, contracts: [token], severity: critical}\n",
        encoding="utf-8",
    )
    return path


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BREAKGLASS_HOME": str(home), "COLUMNS": "400", "NO_COLOR": "1"}
    env["BREAKGLASS_LOG_LEVEL"] = "WARNING"
    env.pop("BREAKGLASS_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ("monitor", "{plan}", "--watch-only", "--poll-interval", "0.05"),
        ("backfill", "--plan", "{plan}", "--chain", "local", "--from", "0", "--to", "latest"),
    ],
    ids=["monitor", "backfill"],
)
def test_endpoints_of_another_chain_id_are_refused_on_a_fresh_database(
    anvil: Anvil, tmp_path: Path, command: tuple[str, ...]
) -> None:
    plan = write_plan(tmp_path / "plan.yaml", anvil.http_url, chain_id=1)  # anvil is 31337
    args = [arg.format(plan=plan) for arg in command]

    result = run_cli(*args, home=tmp_path / "home")

    assert result.returncode == 2, (result.stdout, result.stderr)
    message = " ".join(result.stderr.split())
    assert "the plan says chain id 1, but the endpoints serve chain id 31337" in message
    assert "Traceback" not in result.stderr


def test_endpoints_of_the_plan_chain_id_are_followed(anvil: Anvil, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.yaml", anvil.http_url, chain_id=31337)
    args = ("backfill", "--plan", str(plan), "--chain", "local", "--from", "0", "--to", "latest")

    result = run_cli(*args, home=tmp_path / "home")

    assert result.returncode == 0, result.stderr
