"""Pausing through a real Safe 1.4.1 (2-of-3) on anvil: executed at once when this machine
holds two owner keys, or collected signature by signature with ``safe sign``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.env import LiveEnv
from breakglass.respond.journal import Journal
from breakglass.respond.runner import PlaybookRunner, RunResult
from breakglass.respond.safes import export_proposal, import_proposal, load_proposal
from breakglass.respond.service import sign_proposal
from breakglass.store.models import PlaybookRun, SafeProposal, StepRun

pytestmark = pytest.mark.chain

SAFE_PLAN = """
signers:
  owner_a: {{type: env, key: "${{OWNER_A_KEY}}"}}
  owner_b: {{type: env, key: "${{OWNER_B_KEY}}"}}
  owner_c: {{type: env, key: "${{OWNER_C_KEY}}"}}
  ops_safe:
    type: safe
    chain: local
    address: "{safe}"
    threshold: 2
    local_owners: [{local_owners}]
playbooks:
  - id: safe-pause
    steps:
      - {{action: safe-proposal, safe: ops_safe, contract: token, verify: "paused()"}}
"""


def _environ(anvil: Anvil) -> dict[str, str]:
    keys = anvil.private_keys
    return {"OWNER_A_KEY": keys[3], "OWNER_B_KEY": keys[4], "OWNER_C_KEY": keys[5]}


def _run(loaded: LoadedPlan, sessions: sessionmaker[Session], anvil: Anvil) -> RunResult:
    async def go() -> RunResult:
        env = LiveEnv(loaded, sessions, environ=_environ(anvil), receipt_timeout=30)
        journal = Journal(sessions)
        try:
            return await PlaybookRunner(loaded.plan, env, journal).run("safe-pause", trigger="t")
        finally:
            await journal.close()
            await env.aclose()

    return asyncio.run(go())


def test_two_local_owners_propose_sign_and_execute_at_once(
    fresh_chain: Anvil,
    token: Any,
    pausing_safe: str,
    write_plan: Any,
    sessions: sessionmaker[Session],
) -> None:
    loaded = write_plan(SAFE_PLAN, safe=pausing_safe, local_owners="owner_a, owner_b")
    result = _run(loaded, sessions, fresh_chain)

    assert token.paused()
    step = result.steps[0]
    assert step.status == "done", step.note
    assert step.tx_hash is not None
    with sessions() as session:
        proposal = session.scalars(select(SafeProposal)).one()
        assert proposal.status == "executed"
        assert proposal.executed_tx == step.tx_hash
        assert proposal.step_id == step.step_id


def test_one_local_owner_waits_for_a_second_signature_from_another_machine(
    fresh_chain: Anvil,
    token: Any,
    pausing_safe: str,
    write_plan: Any,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    loaded = write_plan(SAFE_PLAN, safe=pausing_safe, local_owners="owner_a")
    result = _run(loaded, sessions, fresh_chain)

    step = result.steps[0]
    assert step.status == "waiting"
    assert "1 of 2 signatures" in step.note
    assert not token.paused()
    with sessions() as session:
        proposal_id = session.scalars(select(SafeProposal.id)).one()

    # The proposal travels as Safe Transaction Service JSON to another owner's machine,
    # which signs it there; the executed pause is verified.
    exported = export_proposal(sessions, proposal_id)
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    store.upgrade(other_url)
    other = store.session_factory(store.make_engine(other_url))
    owners = [fresh_chain.accounts[i] for i in (3, 4, 5)]
    imported = import_proposal(
        other, exported, chain="local", chain_id=31337, threshold=2, owners=owners
    )
    assert (
        load_proposal(other, imported).signatures == load_proposal(sessions, proposal_id).signatures
    )

    env = LiveEnv(loaded, sessions, environ=_environ(fresh_chain), receipt_timeout=30)
    view, tx_hash = sign_proposal(loaded, sessions, proposal_id, "owner_c", env=env)
    assert tx_hash is not None
    assert view.status == "executed"
    assert token.paused()
    with sessions() as session:
        stored = session.get(StepRun, step.step_id)
        assert stored is not None and stored.status == "done"
        run = session.get(PlaybookRun, stored.run_id)
        assert run is not None and run.status == "succeeded"


def test_a_signer_who_is_not_an_owner_is_refused(
    fresh_chain: Anvil,
    token: Any,
    pausing_safe: str,
    write_plan: Any,
    sessions: sessionmaker[Session],
) -> None:
    body = SAFE_PLAN.replace(
        '  owner_c: {{type: env, key: "${{OWNER_C_KEY}}"}}',
        '  owner_c: {{type: env, key: "${{OUTSIDER_KEY}}"}}',
    )
    loaded = write_plan(body, safe=pausing_safe, local_owners="owner_a")
    result = _run(loaded, sessions, fresh_chain)
    with sessions() as session:
        proposal_id = session.scalars(select(SafeProposal.id)).one()
    environ = {**_environ(fresh_chain), "OUTSIDER_KEY": fresh_chain.private_keys[7]}
    env = LiveEnv(loaded, sessions, environ=environ)
    with pytest.raises(Exception, match="not an owner"):
        sign_proposal(loaded, sessions, proposal_id, "owner_c", env=env)
    assert result.steps[0].status == "waiting"
    assert not token.paused()
