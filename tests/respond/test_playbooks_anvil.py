"""Playbooks against a real OpenZeppelin 4.9.6 ERC20PresetMinterPauser on anvil: the pause
path, its failure paths and fallbacks, and what the journal keeps of each."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.devchain import Anvil
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.env import LiveEnv
from breakglass.respond.journal import Journal, PhaseEvent
from breakglass.respond.runner import PlaybookRunner, RunResult
from breakglass.store.models import PlaybookRun, StepEvent, StepRun

pytestmark = pytest.mark.chain


PLAYBOOKS = """
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
  intruder: {{type: env, key: "${{INTRUDER_KEY}}"}}
playbooks:
  - id: contain
    steps:
      - {{action: pause, contract: token, signer: {signer}, verify: "paused()",
         on_failure: escalate}}
      - {{action: notify, channel: war-room, message: "Token paused."}}
  - id: wrong-fix
    steps:
      - {{action: call, contract: token, signer: guardian, function: "approve(address,uint256)",
         args: ["0x000000000000000000000000000000000000dEaD", 1], verify: "paused()",
         on_failure: escalate}}
  - id: escalate
    steps:
      - {{action: page, role: incident_lead, message: "The pause did not hold."}}
  - id: approved-pause
    steps:
      - {{action: pause, contract: token, signer: guardian, mode: approval}}
      - {{action: page, role: incident_lead}}
channels:
  war-room: "json://127.0.0.1:9/hook"
"""


def _run(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    anvil: Anvil,
    playbook: str,
    **kwargs: Any,
) -> tuple[RunResult, list[PhaseEvent]]:
    events: list[PhaseEvent] = []

    async def go() -> RunResult:
        env = LiveEnv(
            loaded,
            sessions,
            environ={
                "GUARDIAN_KEY": anvil.private_keys[1],
                "INTRUDER_KEY": anvil.private_keys[2],
            },
            receipt_timeout=30,
        )
        journal = Journal(sessions, on_event=events.append)
        try:
            result = await PlaybookRunner(loaded.plan, env, journal).run(
                playbook, trigger="test", **kwargs
            )
        finally:
            await journal.close()
            await env.aclose()
        return result

    return asyncio.run(go()), events


def _phases(events: list[PhaseEvent], step: int = 0) -> list[str]:
    return [e.phase for e in events if e.step == step]


def test_guardian_pauses_the_token_and_the_journal_keeps_every_phase(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(PLAYBOOKS, signer="guardian")
    result, events = _run(loaded, sessions, fresh_chain, "contain")

    assert token.paused()
    assert result.status == "succeeded"
    assert [s.status for s in result.steps] == ["done", "done"]
    assert _phases(events) == ["start", "simulate", "broadcast", "receipt", "verify", "done"]
    with sessions() as session:
        step = session.scalars(select(StepRun).order_by(StepRun.position)).first()
        assert step is not None
        assert step.status == "done"
        assert step.tx_hash == result.steps[0].tx_hash
        stored = session.scalars(
            select(StepEvent).where(StepEvent.step_id == step.id).order_by(StepEvent.id)
        ).all()
        assert [e.phase for e in stored] == _phases(events)
        assert all(a.at <= b.at for a, b in itertools.pairwise(stored))
        run = session.scalars(select(PlaybookRun)).one()
        assert run.status == "succeeded"
        assert run.finished_at is not None


def test_already_paused_sends_nothing(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    token.set_paused(True)
    guardian = fresh_chain.accounts[1]
    before = token.nonce(guardian)
    loaded = write_plan(PLAYBOOKS, signer="guardian")
    result, events = _run(loaded, sessions, fresh_chain, "contain")

    assert result.steps[0].status == "skipped"
    assert token.nonce(guardian) == before
    assert "broadcast" not in _phases(events)


def test_signer_without_the_role_fails_in_simulation_and_the_fallback_pages(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    intruder = fresh_chain.accounts[2]
    before = token.nonce(intruder)
    loaded = write_plan(PLAYBOOKS, signer="intruder")
    result, _events = _run(loaded, sessions, fresh_chain, "contain")

    first = result.steps[0]
    assert first.status == "failed"
    assert "simulate" in first.note
    assert "must have pauser role" in first.note
    assert token.nonce(intruder) == before  # nothing was sent
    assert not token.paused()
    assert first.fallback is not None
    assert first.fallback.playbook == "escalate"
    assert first.fallback.steps[0].status == "done"
    assert "alice" in first.fallback.steps[0].note
    assert result.status == "failed"
    with sessions() as session:
        runs = session.scalars(select(PlaybookRun).order_by(PlaybookRun.id)).all()
        assert [r.playbook for r in runs] == ["contain", "escalate"]
        assert runs[1].parent_step_id == first.step_id


def test_a_post_condition_that_fails_runs_the_fallback(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(PLAYBOOKS, signer="guardian")
    result, events = _run(loaded, sessions, fresh_chain, "wrong-fix")

    step = result.steps[0]
    assert step.status == "failed"
    assert "verify" in step.note and "paused()" in step.note
    assert "receipt" in _phases(events)  # the transaction went through; its effect did not
    assert step.fallback is not None and step.fallback.steps[0].status == "done"


def test_an_approval_step_waits_then_resumes_when_approved(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(PLAYBOOKS, signer="guardian")
    waiting, _ = _run(loaded, sessions, fresh_chain, "approved-pause")
    assert waiting.status == "waiting"
    assert [s.status for s in waiting.steps] == ["awaiting-approval"]
    assert "pauser" in waiting.steps[0].note
    assert not token.paused()

    resumed, events = _run(
        loaded, sessions, fresh_chain, "approved-pause", start_at=0, approved={0: "bob"}
    )
    assert token.paused()
    assert [s.status for s in resumed.steps] == ["done", "done"]
    assert _phases(events)[0] == "approved"
