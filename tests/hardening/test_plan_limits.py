"""Hostile values in a plan (finding 17 of the hardening issue): ABI files outside the plan's
directory, FIFOs and huge files; impossible dates, endless integers, infinite thresholds,
huge chain ids and ``file://`` RPC URLs are plan errors with a place, never tracebacks."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from breakglass.cli.app import app
from breakglass.plan import PlanLoadError, load_plan
from breakglass.plan.abifile import MAX_ABI_BYTES

ABI = json.dumps([{"type": "function", "name": "pause", "inputs": [], "outputs": []}])

PLAN = """\
protocol: Test
people:
  alice: {name: Alice, contacts: [{kind: email, value: a@x.example, reviewed_on: REVIEWED}]}
roles:
  pauser: {members: [alice], handles: [pause]}
chains:
  main: {chain_id: CHAIN_ID, rpc: [RPC]}
contracts:
  pool: {chain: main, address: "0x1111111111111111111111111111111111111111", abi: ABI_PATH}
signers:
  guardian: {type: keystore, path: k.json, password: "${PW}"}
rules:
  - id: drain
    rule: large-outflow
    contracts: [pool]
    params: {token: "0x2222222222222222222222222222222222222222", threshold: THRESHOLD}
playbooks:
  - id: stop
    on: [drain]
    steps:
      - {action: pause, contract: pool, signer: guardian}
"""

GOOD = {
    "REVIEWED": "2026-11-01",
    "CHAIN_ID": "1",
    "RPC": '"http://127.0.0.1:8545"',
    "ABI_PATH": "abis/Pool.json",
    "THRESHOLD": "1000",
}


def _plan(tmp_path: Path, **changes: str) -> Path:
    plan_dir = tmp_path / "plan"
    (plan_dir / "abis").mkdir(parents=True, exist_ok=True)
    (plan_dir / "abis" / "Pool.json").write_text(ABI)
    text = PLAN
    for name, value in {**GOOD, **changes}.items():
        text = text.replace(name, value)
    file = plan_dir / "breakglass.yaml"
    file.write_text(text)
    return file


def _issues(file: Path) -> list[str]:
    with pytest.raises(PlanLoadError) as caught:
        load_plan(file)
    return [str(issue) for issue in caught.value.issues]


def test_the_base_plan_loads(tmp_path: Path) -> None:
    assert load_plan(_plan(tmp_path)).plan.chains["main"].chain_id == 1


@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlink"])
def test_abi_outside_the_plan_directory_is_refused(tmp_path: Path, where: str) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text(ABI)  # a valid ABI: only the place is wrong
    (tmp_path / "plan" / "abis").mkdir(parents=True)
    link = tmp_path / "plan" / "abis" / "link.json"
    link.symlink_to(outside)
    path = {"dotdot": "../secret.json", "absolute": str(outside), "symlink": "abis/link.json"}
    [issue] = _issues(_plan(tmp_path, ABI_PATH=path[where]))
    assert "contracts.pool.abi: ABI file must be inside the plan's directory" in issue
    assert ":9:" in issue  # file:line


def test_abi_fifo_does_not_hang(tmp_path: Path) -> None:
    file = _plan(tmp_path, ABI_PATH="abis/pipe.json")
    os.mkfifo(tmp_path / "plan" / "abis" / "pipe.json")
    found: list[list[str]] = []
    worker = threading.Thread(target=lambda: found.append(_issues(file)), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock the reader so the test process can end
        with open(tmp_path / "plan" / "abis" / "pipe.json", "wb"):
            pass
        pytest.fail("plan check hung on a FIFO named as an ABI file")
    assert ["ABI file is not a regular file" in issue for issue in found[0]] == [True]


def test_abi_size_is_capped(tmp_path: Path) -> None:
    file = _plan(tmp_path)
    big = tmp_path / "plan" / "abis" / "Pool.json"
    with big.open("r+b") as handle:
        handle.truncate(MAX_ABI_BYTES + 1)  # sparse: costs no disk
    [issue] = _issues(file)
    assert "at most 5 MiB" in issue


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        ({"REVIEWED": "2026-02-30"}, "people.alice.contacts[0].reviewed_on", "not a valid date"),
        ({"CHAIN_ID": "9" * 4400}, "chains.main.chain_id", "at most 4300"),
        ({"THRESHOLD": "1" * 5000}, "rules[0].params.threshold", "at most 4300"),
        ({"CHAIN_ID": "9" * 400}, "chains.main.chain_id", "below 2**256"),
        ({"THRESHOLD": ".inf"}, "rules[0].params.threshold", "not a finite number"),
        ({"RPC": "file:///etc/passwd"}, "chains.main.rpc[0]", "not file://"),
        ({"RPC": "{url: https://x.example, ws: http://x.example}"}, "chains.main.rpc[0]", "ws"),
    ],
)
def test_hostile_values_are_plan_errors(
    tmp_path: Path, change: dict[str, str], where: str, says: str
) -> None:
    issues = _issues(_plan(tmp_path, **change))
    assert any(where in issue and says in issue for issue in issues), issues
    assert all(":" in issue.split(" ")[0] for issue in issues)  # each has file:line


@pytest.mark.parametrize("threshold", ["1e309", "1e999999999", '"Infinity"'])
def test_plan_check_refuses_an_endless_threshold(tmp_path: Path, threshold: str) -> None:
    file = _plan(tmp_path, THRESHOLD=threshold)
    result = CliRunner().invoke(app, ["plan", "check", str(file), "--format", "json"])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "2**256" in result.output or "finite" in result.output, result.output
