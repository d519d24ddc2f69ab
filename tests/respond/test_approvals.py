"""Deciding a waiting step through the service: of two approvals racing for one step, only
one resumes the run and sends the pause; the other is refused."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.devchain import Anvil
from breakglass.respond import service
from breakglass.respond.env import LiveEnv
from breakglass.respond.runner import RunResult
from breakglass.store.models import StepRun

pytestmark = pytest.mark.chain

BODY = """
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
playbooks:
  - id: approved-pause
    steps:
      - {{action: pause, contract: token, signer: guardian, mode: approval, verify: "paused()"}}
"""


def test_two_approvals_that_race_send_one_pause(
    fresh_chain: Anvil,
    token: Any,
    write_plan: Any,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded = write_plan(BODY)
    environ = {"GUARDIAN_KEY": fresh_chain.private_keys[1]}
    waiting = service.run_playbook(
        loaded, sessions, "approved-pause", env=LiveEnv(loaded, sessions, environ=environ)
    )
    step_id = waiting.steps[0].step_id
    assert step_id is not None
    guardian = fresh_chain.accounts[1]
    before = token.nonce(guardian)

    # Both approvals have read the step as waiting before either decides it.
    both_checked = threading.Barrier(2, timeout=10)
    check_member = service._check_member

    def racing_check(*args: Any) -> None:
        check_member(*args)
        both_checked.wait()

    monkeypatch.setattr(service, "_check_member", racing_check)

    def approve(_: int) -> RunResult | Exception:
        env = LiveEnv(loaded, sessions, environ=environ, receipt_timeout=30)
        try:
            return service.approve_step(loaded, sessions, step_id, "bob", env=env)
        except service.ApprovalError as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(approve, range(2)))

    refused = [o for o in outcomes if isinstance(o, Exception)]
    resumed = [o for o in outcomes if isinstance(o, RunResult)]
    assert len(refused) == 1, outcomes
    # The loser finds the step decided, or (when it reads the step first) its own approval.
    assert f"step {step_id} is no longer awaiting-approval" in str(refused[0]) or (
        f"bob approved step {step_id} already" in str(refused[0])
    )
    assert [r.status for r in resumed] == ["succeeded"]
    assert token.paused()
    assert token.nonce(guardian) == before + 1
    with sessions() as session:
        statuses = session.scalars(select(StepRun.status).order_by(StepRun.id)).all()
    assert statuses == ["approved", "done"]
