"""A monitor whose automatic pause cannot be signed refuses to start, naming the signer and
the unset variable or unreadable keystore; ``--allow-unarmed`` starts it anyway and the
responder says what is unarmed; ``--watch-only`` needs no key."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from breakglass_tests_kit import running_monitor  # type: ignore[import-not-found]
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from breakglass import store
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.health_checks import ResponseCrashed
from breakglass.devchain import Anvil
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.env import LiveEnv
from breakglass.respond.responder import Responder, UnarmedResponder

pytestmark = pytest.mark.chain

ROOT = Path(__file__).parents[2]

RULE = """
rules:
  - id: drain
    rule: large-outflow
    chain: local
    contracts: [token]
    severity: critical
    params: {{token: "{token}", threshold: 1000, decimals: 18}}
"""

ENV_GUARDIAN = (
    """
signers:
  guardian: {{type: env, key: "${{BG_TEST_GUARDIAN_KEY}}"}}
  ops: {{type: env, key: "${{BG_TEST_OPS_KEY}}"}}
"""
    + RULE
    + """
playbooks:
  - id: contain
    on: [drain]
    steps:
      - {{action: pause, contract: token, signer: guardian}}
      - {{action: pause, contract: token, signer: ops, on_failure: backup}}
  - id: backup
    steps:
      - {{action: pause, contract: token, signer: guardian}}
"""
)

KEYSTORE_GUARDIAN = (
    """
signers:
  guardian:
    type: keystore
    path: keys/guardian.json
    password: "${{BG_TEST_GUARDIAN_PASSWORD}}"
"""
    + RULE
    + """
playbooks:
  - id: contain
    on: [drain]
    steps:
      - {{action: pause, contract: token, signer: guardian}}
"""
)

FALLBACK_ONLY = (
    """
signers:
  guardian: {{type: env, key: "${{BG_TEST_GUARDIAN_KEY}}"}}
  backup: {{type: env, key: "${{BG_TEST_BACKUP_KEY}}"}}
"""
    + RULE
    + """
playbooks:
  - id: contain
    on: [drain]
    steps:
      - {{action: pause, contract: token, signer: guardian, on_failure: backup}}
  - id: backup
    steps:
      - {{action: pause, contract: token, signer: backup}}
"""
)

TEMPLATED = """
signers:
  guardian: {{type: env, key: "${{BG_TEST_GUARDIAN_KEY}}"}}
  revoker: {{type: env, key: "${{BG_TEST_REVOKER_KEY}}"}}
rules:
  - {{id: granted, rule: role-granted, chain: local, contracts: [token], severity: critical}}
playbooks:
  - id: take-back
    on: [granted]
    steps:
      - {{action: revoke-role, contract: token, signer: revoker,
         role: "${{finding.role}}", account: "${{finding.account}}"}}
"""


async def _monitor(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    responder: Responder,
    *,
    until_checkpoint: bool,
) -> None:
    async with running_monitor(loaded, sessions, responder, settle=0) as task:
        if not until_checkpoint:
            await asyncio.wait_for(task, timeout=20)  # a monitor that starts never returns
            return
        deadline = time.monotonic() + 20
        while not _has_checkpoint(sessions):
            if task.done():
                task.result()
            assert time.monotonic() < deadline, "the monitor stored no checkpoint"
            await asyncio.sleep(0.05)


def _has_checkpoint(sessions: sessionmaker[Session]) -> bool:
    with sessions() as session:
        return store.get_checkpoint(session, chain="local") is not None


def _responder(
    loaded: LoadedPlan, sessions: sessionmaker[Session], environ: dict[str, str], **kw: Any
) -> Responder:
    env = LiveEnv(loaded, sessions, environ=environ)
    return Responder(loaded, chain="local", sessions=sessions, env=env, **kw)


def test_an_unset_key_variable_stops_the_monitor_before_it_watches(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(ENV_GUARDIAN, token=token.address)
    environ = {"BG_TEST_OPS_KEY": fresh_chain.private_keys[1]}
    responder = _responder(loaded, sessions, environ)

    with pytest.raises(UnarmedResponder) as raised:
        asyncio.run(_monitor(loaded, sessions, responder, until_checkpoint=False))

    message = str(raised.value)
    assert "signer 'guardian'" in message and "BG_TEST_GUARDIAN_KEY is not set" in message
    assert "pause token as guardian in contain" in message
    assert "pause token as guardian in backup" in message
    assert "--allow-unarmed" in message
    assert "'ops'" not in message
    assert not _has_checkpoint(sessions), "the monitor watched without its keys"


def test_an_unreadable_keystore_is_named(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(KEYSTORE_GUARDIAN, token=token.address)
    responder = _responder(loaded, sessions, {"BG_TEST_GUARDIAN_PASSWORD": "hunter2"})

    with pytest.raises(UnarmedResponder) as raised:
        asyncio.run(_monitor(loaded, sessions, responder, until_checkpoint=False))

    message = str(raised.value)
    assert "signer 'guardian'" in message
    assert f"cannot read keystore {loaded.base_dir / 'keys' / 'guardian.json'}" in message
    assert "hunter2" not in message


def test_a_fallback_step_needs_its_key_too(
    token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(FALLBACK_ONLY, token=token.address)
    responder = _responder(loaded, sessions, {"BG_TEST_GUARDIAN_KEY": "0x" + "01" * 32})

    with pytest.raises(UnarmedResponder) as raised:
        responder.preflight()

    assert "signer 'backup'" in str(raised.value)
    assert "BG_TEST_BACKUP_KEY" in str(raised.value)
    assert "pause token as backup in backup" in str(raised.value)


def test_allowed_unarmed_the_monitor_runs_and_says_what_is_unarmed(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(ENV_GUARDIAN, token=token.address)
    environ = {"BG_TEST_OPS_KEY": fresh_chain.private_keys[1]}
    responder = _responder(loaded, sessions, environ, allow_unarmed=True)

    with capture_logs() as logs:
        asyncio.run(_monitor(loaded, sessions, responder, until_checkpoint=True))

    assert responder.armed == 1  # ops' pause
    assert len(responder.arm_failures) == 2  # guardian's pause, in contain and in backup
    for failure in responder.arm_failures:
        assert "pause token as guardian" in failure
        assert "signer 'guardian'" in failure and "BG_TEST_GUARDIAN_KEY is not set" in failure
    unarmed = [e for e in logs if e["event"] == "respond.unarmed"]
    assert unarmed and unarmed[0]["log_level"] == "error"
    assert fresh_chain.private_keys[1] not in repr(logs)


# --- the command, end to end ------------------------------------------------------------------


def _cli(plan: Path, *args: str, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "BREAKGLASS_HOME": str(home), "COLUMNS": "400", "NO_COLOR": "1"}
    env["BREAKGLASS_LOG_LEVEL"] = "WARNING"
    env["BG_TEST_OPS_KEY"] = "0x" + "02" * 32
    for name in ("BREAKGLASS_DATABASE_URL", "BG_TEST_GUARDIAN_KEY"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "breakglass", "monitor", str(plan), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _started_then_stopped(process: subprocess.Popen[str]) -> str:
    """Wait for the monitor to say it is monitoring, stop it with Ctrl-C; its stderr."""
    assert process.stderr is not None
    seen: list[str] = []
    try:
        for line in process.stderr:
            seen.append(line)
            if "monitoring" in line:
                break
        assert any("monitoring" in line for line in seen), "".join(seen)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, "".join(seen) + rest
    return "".join(seen) + rest


def test_cli_refuses_unarmed_unless_allowed_or_watch_only(
    fresh_chain: Anvil, token: Any, write_plan: Any, tmp_path: Path
) -> None:
    plan = write_plan(ENV_GUARDIAN, token=token.address).file

    refused = _cli(plan, home=tmp_path / "home")
    _, stderr = refused.communicate(timeout=60)
    assert refused.returncode == 2, stderr
    message = " ".join(stderr.split())
    assert "signer 'guardian'" in message and "BG_TEST_GUARDIAN_KEY is not set" in message
    assert "--allow-unarmed" in message and "Traceback" not in stderr
    assert "monitoring" not in stderr

    allowed = _started_then_stopped(_cli(plan, "--allow-unarmed", home=tmp_path / "home"))
    assert "respond.unarmed" in allowed and "BG_TEST_GUARDIAN_KEY" in allowed

    watching = _started_then_stopped(_cli(plan, "--watch-only", home=tmp_path / "home"))
    assert "BG_TEST_GUARDIAN_KEY" not in watching


def test_a_crashed_run_is_a_standing_health_condition(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(ENV_GUARDIAN, token=token.address)
    environ = {
        "BG_TEST_GUARDIAN_KEY": fresh_chain.private_keys[1],
        "BG_TEST_OPS_KEY": fresh_chain.private_keys[2],
    }
    responder = _responder(loaded, sessions, environ)
    check = ResponseCrashed(responder, "local")

    async def broken_run(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug between the steps")

    responder.runner.run = broken_run  # type: ignore[method-assign]
    finding = Finding(
        rule="drain",
        kind="large-outflow",
        chain="local",
        block_number=1,
        block_hash="0x" + "ab" * 32,
        severity=Severity.CRITICAL,
        confidence=Confidence.HIGH,
        title="drain",
        description="drain",
        tx_hash="0x" + "cd" * 32,
    )

    async def go() -> list[Any]:
        assert await check() == []
        await responder.react([finding])
        await responder.wait_idle()
        conditions = await check()
        await responder.aclose()
        return conditions

    conditions = asyncio.run(go())

    assert [c.check for c in conditions] == ["response-crashed"]
    assert "playbook contain for drain: RuntimeError" in conditions[0].description
    assert "a bug between the steps" not in conditions[0].description  # no raw error text


def test_a_step_filled_from_the_alert_needs_its_key_at_start_up(
    token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    """A revoke whose role and account come from the alert cannot be built before one, yet
    its signer is checked at start-up like any other, not at the first grant."""
    loaded = write_plan(TEMPLATED, token=token.address)
    responder = _responder(loaded, sessions, {"BG_TEST_GUARDIAN_KEY": "0x" + "01" * 32})

    with pytest.raises(UnarmedResponder) as raised:
        responder.preflight()

    assert "signer 'revoker'" in str(raised.value)
    assert "BG_TEST_REVOKER_KEY" in str(raised.value)
    assert "revoke" in str(raised.value) and "take-back" in str(raised.value)
