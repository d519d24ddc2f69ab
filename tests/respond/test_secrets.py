"""A key is never written to logs, the database, alerts or pages.

A realistic response on anvil: the monitor sees a drain, raises an alert and its playbook
tries to pause with an environment key that lacks the role (the fallback pages); a Safe
proposal is signed by a local owner; the guardian pauses with a keystore key; and the CLI
pauses in a real process with the key in its environment. Then every log line, every row
of every table, every page and the CLI's output are searched for the keys and password.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from breakglass_tests_kit import running_monitor  # type: ignore[import-not-found]
from eth_account import Account
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.devchain import Anvil
from breakglass.logs import configure_logging
from breakglass.respond.env import LiveEnv
from breakglass.respond.journal import PhaseEvent
from breakglass.respond.responder import Responder
from breakglass.respond.service import pause_contract, run_playbook
from breakglass.store import Base
from breakglass.store.models import AlertRecord, SafeProposal, StepEvent, StepRun

pytestmark = pytest.mark.chain

ROOT = Path(__file__).parents[2]
PASSWORD = "hunter2-but-much-longer"
HOLDER = 6  # stands in for a vault holding the tokens
GUARDIAN, INTRUDER, OWNER_A = 1, 2, 3

BODY = """
signers:
  guardian: {{type: keystore, path: keys/guardian.json, password: "${{GUARDIAN_PASSWORD}}"}}
  intruder: {{type: env, key: "${{INTRUDER_KEY}}"}}
  owner_a: {{type: env, key: "${{OWNER_A_KEY}}"}}
  owner_b: {{type: env, key: "${{OWNER_B_KEY}}"}}
  ops_safe:
    type: safe
    chain: local
    address: "{safe}"
    threshold: 2
    local_owners: [owner_a]
rules:
  - id: drain
    rule: large-outflow
    chain: local
    contracts: [vault]
    severity: critical
    params: {{token: "{token}", threshold: 1000, decimals: 18}}
playbooks:
  - id: contain
    on: [drain]
    steps:
      - {{action: pause, contract: token, signer: intruder, verify: "paused()",
         on_failure: escalate}}
  - id: escalate
    steps:
      - {{action: page, role: incident_lead, message: "The pause by intruder failed."}}
  - id: safe-pause
    steps:
      - {{action: safe-proposal, safe: ops_safe, contract: token, verify: "paused()"}}
"""


def _forms(secret: str) -> set[str]:
    """Every way a key or password could be spelled in text."""
    bare = secret[2:] if secret[:2].lower() == "0x" else secret
    forms = {secret, bare, bare.lower(), bare.upper()}
    if bare != secret:
        forms |= {"0x" + bare.lower(), "0x" + bare.upper()}
    return forms


def _assert_clean(where: str, text: str, secrets: list[str]) -> None:
    for secret in secrets:
        for form in _forms(secret):
            assert form not in text, f"a secret ({form[:6]}…) leaked into {where}"


def _dump_database(url: str) -> str:
    """Every row of every table, each value rendered as text (bytes as hex)."""
    engine = create_engine(url)
    lines: list[str] = []
    try:
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in conn.execute(table.select()):
                    values = [v.hex() if isinstance(v, bytes | bytearray) else v for v in row]
                    lines.append(f"{table.name}: {values!r}")
                    lines.append(json.dumps([str(v) for v in values]))
    finally:
        engine.dispose()
    return "\n".join(lines)


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """structlog as the CLI sets it up, at DEBUG, into a buffer; stdlib logging via caplog."""
    saved = structlog.get_config()
    stream = io.StringIO()
    configure_logging(level="DEBUG", fmt="json", stream=stream)
    caplog.set_level(logging.DEBUG)
    try:
        yield stream
    finally:
        structlog.configure(**saved)


def _keystore(tmp_path: Path, key: str) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    encrypted = Account.encrypt(key, PASSWORD, kdf="pbkdf2", iterations=2)
    (keys / "guardian.json").write_text(json.dumps(encrypted))


def _send(token: Any, key: str, data: str) -> str:
    from breakglass_tests_safe_chain import send  # type: ignore[import-not-found]  # noqa: PLC0415

    receipt = send(token.w3, key, {"to": token.address, "data": data, "gas": 500_000})
    return str(receipt["transactionHash"].to_0x_hex())


def _drain(token: Any, anvil: Anvil) -> str:
    holder = anvil.accounts[HOLDER]
    _send(token, anvil.private_keys[0], token.contract.encode_abi("mint", [holder, 10**24]))
    transfer = token.contract.encode_abi("transfer", [anvil.accounts[8], 5 * 10**21])
    return _send(token, anvil.private_keys[HOLDER], transfer)


def test_no_key_or_password_reaches_logs_database_alerts_or_pages(
    fresh_chain: Anvil,
    token: Any,
    pausing_safe: str,
    write_plan: Any,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    captured_logs: io.StringIO,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    keys = fresh_chain.private_keys
    secrets = [keys[GUARDIAN], keys[INTRUDER], keys[OWNER_A], keys[4], PASSWORD]
    environ = {
        "GUARDIAN_PASSWORD": PASSWORD,
        "INTRUDER_KEY": keys[INTRUDER],
        "OWNER_A_KEY": keys[OWNER_A],
        "OWNER_B_KEY": keys[4],
    }
    _keystore(tmp_path, keys[GUARDIAN])
    loaded = write_plan(
        BODY,
        contracts=f'vault: {{chain: local, address: "{fresh_chain.accounts[HOLDER]}"}}\n',
        token=token.address,
        safe=pausing_safe,
    )
    events: list[PhaseEvent] = []

    # 1. The monitor sees the drain; the bound playbook's pause by a key without the role
    #    fails in simulation and the fallback pages the incident lead.
    async def monitored() -> str:
        env = LiveEnv(loaded, sessions, environ=environ, receipt_timeout=30)
        responder = Responder(
            loaded, chain="local", sessions=sessions, env=env, on_event=events.append
        )
        async with running_monitor(loaded, sessions, responder):
            drain_tx = await asyncio.to_thread(_drain, token, fresh_chain)
            for _ in range(300):
                if any(e.phase == "page" for e in events):
                    break
                await asyncio.sleep(0.05)
        return drain_tx

    drain_tx = asyncio.run(monitored())
    assert not token.paused()
    assert any(e.phase == "page" for e in events), [e.phase for e in events]

    # 2. A Safe proposal signed by the one local owner waits for a second signature.
    proposed = run_playbook(
        loaded,
        sessions,
        "safe-pause",
        env=LiveEnv(loaded, sessions, environ=environ, receipt_timeout=30),
    )
    assert proposed.steps[0].status == "waiting", proposed.steps[0].note

    # 3. The guardian breaks glass with the keystore key.
    paused = pause_contract(
        loaded,
        sessions,
        "token",
        signer="guardian",
        env=LiveEnv(loaded, sessions, environ=environ, receipt_timeout=30),
        on_event=events.append,
    )
    assert paused.steps[0].status == "done", paused.steps[0].note
    assert token.paused()
    pause_tx = paused.steps[0].tx_hash
    assert pause_tx is not None

    # Logs: structlog's JSON lines, stdlib records, and whatever reached the terminal.
    terminal = capfd.readouterr()
    logs = "\n".join([captured_logs.getvalue(), caplog.text, terminal.out, terminal.err])
    guardian = fresh_chain.accounts[GUARDIAN]
    assert "signer.raw_key_from_environment" in logs  # the env keys were really loaded
    assert "respond.page" in logs
    assert pause_tx in logs  # respond.tx_sent: the search below is not vacuous
    assert guardian.lower() in logs.lower()
    _assert_clean("the logs", logs, secrets)

    # The database, alerts included: every row of every table.
    url = str(sessions.kw["bind"].url)
    database = _dump_database(url)
    assert pause_tx in database
    assert drain_tx in database
    _assert_clean("the database", database, secrets)
    with sessions() as session:
        alert = session.scalars(select(AlertRecord)).one()
        assert alert.tx_hash == drain_tx
        proposal = session.scalars(select(SafeProposal)).one()
        assert proposal.status == "collecting"
        assert fresh_chain.accounts[OWNER_A].lower() in database.lower()  # its signature row
        _assert_clean("the alert", repr(vars(alert)), secrets)

        # Pages: the page step's recorded note, error and phase details.
        page = session.scalars(select(StepRun).where(StepRun.action == "page")).one()
        page_events = session.scalars(select(StepEvent).where(StepEvent.step_id == page.id)).all()
        page_text = repr(vars(page)) + "".join(repr(vars(e)) for e in page_events)
        assert "alice" in page_text
        _assert_clean("the page", page_text, secrets)

        failed = session.scalars(
            select(StepRun).where(StepRun.action == "pause", StepRun.status == "failed")
        ).one()
        assert failed.error and "pauser role" in failed.error
        _assert_clean("the failed step", repr(vars(failed)), secrets)


def test_the_cli_prints_no_key(
    fresh_chain: Anvil, token: Any, write_plan: Any, tmp_path: Path
) -> None:
    keys = fresh_chain.private_keys
    write_plan(
        """
        signers:
          guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
          intruder: {{type: env, key: "${{INTRUDER_KEY}}"}}
        """
    )
    plan = tmp_path / "breakglass.yaml"
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {
        **os.environ,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "BREAKGLASS_DATABASE_URL": database,
        "BREAKGLASS_LOG_LEVEL": "DEBUG",
        "GUARDIAN_KEY": keys[GUARDIAN],
        "INTRUDER_KEY": keys[INTRUDER],
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "breakglass", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
            check=False,
        )

    refused = cli("pause", "token", "--plan", str(plan), "--signer", "intruder", "-v")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    done = cli("pause", "token", "--plan", str(plan), "--signer", "guardian", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert token.paused()

    output = refused.stdout + refused.stderr + done.stdout + done.stderr
    assert "signer.raw_key_from_environment" in output
    assert "pauser role" in output
    assert "broadcast" in output  # -v printed every phase
    assert fresh_chain.accounts[GUARDIAN].lower() in output.lower()  # respond.nonce_reserved
    _assert_clean("the CLI's output", output, [keys[GUARDIAN], keys[INTRUDER]])
    dumped = _dump_database(database)
    assert "break-glass" in dumped
    _assert_clean("the CLI's database", dumped, [keys[GUARDIAN], keys[INTRUDER]])
