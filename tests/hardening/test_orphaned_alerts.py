"""Alerts orphaned by a crash (issue 14, finding 11): ``breakglass monitor`` is killed with
SIGKILL in the middle of a burst, between alerts' commit and the incident desk, then started
again; every stored alert that was not suppressed ends up in an incident. Since issue 15 the
alerts' ``AlertRaised`` events commit with them and the restarted relay delivers them (no
sweep); ``tests/events/test_pipeline_crash.py`` kills at chosen points, many times, and
compares every table the pipeline writes with a run without kills."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.store.models import AlertRecord, IncidentAlert

pytestmark = [pytest.mark.chain, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "breakglass_tests_events_oz_token", ROOT / "tests" / "events" / "oz_token.py"
)
assert _spec is not None and _spec.loader is not None
oz_token = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oz_token)
ADMIN, VAULT, SINK = 0, 6, 8
PER_BLOCK, BLOCKS = 15, 30
FAST = ("--poll-interval", "0.05")

PLAN = """
version: 1
protocol: Test Protocol
people:
  alice: {{name: Alice}}
roles:
  incident_lead: [alice]
chains:
  local: {{chain_id: 31337, block_time: 1, rpc: ["{rpc}"]}}
contracts:
  vault: {{chain: local, address: "{vault}"}}
rules:
  - id: drain
    rule: large-outflow
    chain: local
    contracts: [vault]
    severity: high
    group_by: tx
    params: {{token: "{token}", threshold: 1, decimals: 18}}
"""


def _monitor(plan: Path, url: str, home: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "BREAKGLASS_HOME": str(home),
        "BREAKGLASS_DATABASE_URL": url,
        "BREAKGLASS_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "breakglass", "monitor", str(plan), "--watch-only", *FAST],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "monitoring" in line, line + process.stderr.read()
    return process


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int]:
    """Open alerts, and those of them that no incident holds."""
    with sessions() as session:
        open_alerts = select(AlertRecord.id).where(AlertRecord.status == "open")
        total = session.scalar(select(func.count()).select_from(open_alerts.subquery()))
        orphans = session.scalar(
            select(func.count()).select_from(
                open_alerts.outerjoin(IncidentAlert, IncidentAlert.alert_id == AlertRecord.id)
                .where(IncidentAlert.id.is_(None))
                .subquery()
            )
        )
    return int(total or 0), int(orphans or 0)


def _burst_block(anvil: Anvil, token: str, data: str, nonce: int) -> None:
    sender = anvil.accounts[VAULT]
    batch = [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "eth_sendTransaction",
            "params": [
                {
                    "from": sender,
                    "to": token,
                    "data": data,
                    "gas": hex(80_000),
                    "nonce": hex(nonce + i),
                }
            ],
        }
        for i in range(PER_BLOCK)
    ]
    answers = httpx.post(anvil.http_url, json=batch, timeout=30).json()
    assert all("result" in a for a in answers), answers[:2]
    anvil.rpc("evm_mine", [])


def test_alerts_left_by_a_sigkill_mid_burst_are_turned_into_incidents_on_restart(
    anvil: Anvil, tmp_path: Path
) -> None:
    factory, token = oz_token.deploy_token(anvil, admin=ADMIN, holders=[VAULT])
    plan = tmp_path / "breakglass.yaml"
    plan.write_text(PLAN.format(rpc=anvil.http_url, vault=anvil.accounts[VAULT], token=token))
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    sessions = store.session_factory(engine)
    transfer = factory.encode_abi(
        "transfer", args=[Web3.to_checksum_address(anvil.accounts[SINK]), 2 * 10**18]
    )

    first = _monitor(plan, url, tmp_path / "home")
    killed_with = (0, 0)
    try:
        time.sleep(0.5)
        nonce = int(anvil.rpc("eth_getTransactionCount", [anvil.accounts[VAULT], "latest"]), 16)
        anvil.rpc("evm_setAutomine", [False])
        try:
            for block in range(BLOCKS):
                _burst_block(anvil, token, transfer, nonce + block * PER_BLOCK)
                total, orphans = _counts(sessions)
                if total >= 3 * PER_BLOCK and orphans:
                    first.send_signal(signal.SIGKILL)  # in the middle of the burst
                    killed_with = _counts(sessions)
                    break
        finally:
            anvil.rpc("evm_setAutomine", [True])
    finally:
        if first.poll() is None:
            first.kill()
        first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL, "the burst ended before the kill"
    total, orphans = _counts(sessions)
    assert orphans, f"nothing was orphaned by the kill ({killed_with})"

    second = _monitor(plan, url, tmp_path / "home")
    try:
        deadline = time.monotonic() + 60
        while _counts(sessions)[1] and time.monotonic() < deadline:
            time.sleep(0.2)
        second.send_signal(signal.SIGINT)
        _, err = second.communicate(timeout=30)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, err
    after_total, after_orphans = _counts(sessions)
    engine.dispose()
    assert after_total >= total
    assert after_orphans == 0, f"{after_orphans} of {after_total} alerts never reached an incident"
