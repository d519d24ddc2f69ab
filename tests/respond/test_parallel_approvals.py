"""Approvals offered at once: a playbook with two pauses that each need a person asks for
both approvals together, carries out each as it is approved, in any order, and runs the
steps after them only once every approval before them is in. Real OpenZeppelin tokens on
anvil."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.devchain import Anvil
from breakglass.respond import service
from breakglass.respond.env import LiveEnv
from breakglass.store.models import PlaybookRun, StepRun

pytestmark = pytest.mark.chain

BODY = """
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
playbooks:
  - id: both
    steps:
      - {{action: pause, contract: token, signer: guardian, mode: approval}}
      - {{action: pause, contract: second, signer: guardian, mode: approval}}
      - {{action: page, role: incident_lead, message: "Both paused."}}
"""


@pytest.fixture(scope="module")
def second(anvil: Anvil, token: Any) -> Any:
    deployed = type(token)(anvil)  # another ERC20PresetMinterPauser, as conftest's token
    deployed.grant_pauser(anvil.accounts[1])
    return deployed


def _latest(sessions: sessionmaker[Session]) -> dict[int, str]:
    with sessions() as session:
        rows = session.execute(select(StepRun.position, StepRun.status).order_by(StepRun.id)).all()
    return {position: status for position, status in rows}


def test_both_approvals_are_asked_at_once_and_decided_in_any_order(
    fresh_chain: Anvil,
    token: Any,
    second: Any,
    write_plan: Any,
    sessions: sessionmaker[Session],
) -> None:
    loaded = write_plan(
        BODY,
        contracts=f'second: {{chain: local, address: "{second.address}", '
        'pause: {function: "pause()", check: "paused()"}}\n',
    )
    environ = {"GUARDIAN_KEY": fresh_chain.private_keys[1]}

    def env() -> LiveEnv:
        return LiveEnv(loaded, sessions, environ=environ, receipt_timeout=30)

    waiting = service.run_playbook(loaded, sessions, "both", env=env())
    assert [(s.position, s.status) for s in waiting.steps] == [
        (0, "awaiting-approval"),
        (1, "awaiting-approval"),  # offered with the first, not after it
    ]
    assert waiting.status == "waiting"
    first_id, second_id = (s.step_id for s in waiting.steps)
    assert first_id is not None and second_id is not None

    # The second pause is approved first: it is carried out; the page waits for step 1.
    after_second = service.approve_step(loaded, sessions, second_id, "bob", env=env())
    assert second.paused() and not token.paused()
    assert after_second.status == "waiting"
    assert _latest(sessions) == {0: "awaiting-approval", 1: "done"}

    after_first = service.approve_step(loaded, sessions, first_id, "bob", env=env())
    assert token.paused()
    assert after_first.status == "succeeded", after_first
    assert _latest(sessions) == {0: "done", 1: "done", 2: "done"}
    with sessions() as session:
        rows = session.scalars(select(StepRun).where(StepRun.position == 1)).all()
        assert len(rows) == 2  # offered once, carried out once: never offered again
        run = session.scalars(select(PlaybookRun)).one()
        assert run.status == "succeeded"
