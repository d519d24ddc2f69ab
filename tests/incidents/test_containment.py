"""When an incident contains itself, on each database: which contracts count, what counts as
verified, and the states it never leaves. What respond did arrives as the ``StepPhase`` and
``ActionExecuted`` events the journal writes (``tests/incidents/test_timeline.py`` checks
the journal writes them); ``test_auto_contain`` produces them from real pauses on anvil."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.incidents import (
    contain_if_verified,
    incident_for_alert,
    pause_targets,
    sync_timeline,
    timeline,
    transition,
)
from breakglass.incidents.response_log import apply_response_event
from breakglass.plan.models import Plan
from breakglass.respond.journal import RunHandle, StepHandle
from breakglass.respond.journal_events import step_events
from breakglass.store.models import Incident, IncidentRun, ResponseRecord, StepEvent

from .conftest import PLAN, T0

SAFE = "0x" + "5a" * 20
BRIDGE = "0x" + "bb" * 20
SECOND = timedelta(seconds=1)

PLAYBOOKS: dict[str, Any] = {
    "chains": {
        "local": {"chain_id": 31337, "rpc": ["http://127.0.0.1:8545"]},
        "l2": {"chain_id": 10, "rpc": ["http://127.0.0.1:8546"]},
    },
    "contracts": {
        "pool": {"chain": "local", "address": "0x" + "aa" * 20},
        "bridge": {"chain": "l2", "address": BRIDGE},
    },
    "signers": {
        "guardian": {"type": "env", "key": "${GUARDIAN_KEY}"},
        "ops": {"type": "safe", "chain": "local", "address": SAFE, "threshold": 2},
    },
    "playbooks": [
        {
            "id": "contain",
            "on": ["drain"],
            "steps": [
                {"action": "pause", "contract": "pool", "signer": "guardian", "mode": "approval"},
                {"action": "page", "role": "incident_lead"},
            ],
        },
        {
            "id": "safe-pause",
            "steps": [
                {"action": "safe-proposal", "safe": "ops", "contract": "bridge"},
                {
                    "action": "safe-proposal",
                    "safe": "ops",
                    "contract": "pool",
                    "function": "setFee(uint256)",
                    "args": [0],
                },
            ],
        },
    ],
}


@pytest.fixture
def plan() -> Plan:
    return Plan.model_validate({**PLAN, **PLAYBOOKS})


def _incident(session: Session, plan: Plan, store_alert: Any) -> Incident:
    alert = store_alert(session, 1)
    return incident_for_alert(session, plan, alert)


_ids = itertools.count(1)


def _run(
    session: Session, playbook: str, trigger: str, *, dry_run: bool = False, chain: str = "local"
) -> RunHandle:
    return RunHandle(playbook, chain, trigger, dry_run, id=next(_ids))


def _phase(
    session: Session, step: StepHandle, phase: str, detail: dict[str, Any], at: datetime
) -> None:
    """Tell incidents of a phase exactly as the journal tells it (the events its stored row
    makes), inside the consumer's transaction."""
    stored = StepEvent(id=next(_ids), step_id=step.id, phase=phase, at=at, detail=detail)
    for event in step_events(step, stored):
        apply_response_event(session, event)
    session.flush()


def _step(
    session: Session,
    run: RunHandle,
    position: int,
    action: str,
    status: str,
    phases: list[tuple[str, dict[str, Any], datetime]],
) -> StepHandle:
    step = StepHandle(run, position, action, "auto", f"{action} #{position}", id=next(_ids))
    _phase(session, step, "start", {"status": status}, T0)
    for phase, detail, at in phases:
        _phase(session, step, phase, detail, at)
    return step


def _verify(at: datetime) -> tuple[str, dict[str, Any], datetime]:
    return ("verify", {"check": "paused()", "holds": True}, at)


def _moves(session: Session, incident_id: int) -> list[tuple[str, str | None]]:
    return [
        (e.data["to"], e.actor)
        for e in timeline(session, incident_id)
        if e.kind == "status" and "to" in e.data
    ]


def test_every_target_of_every_run_must_verify(
    session: Session, plan: Plan, store_alert: Any
) -> None:
    incident = _incident(session, plan, store_alert)
    key = "drain:local:1"
    first = _run(session, "contain", key)
    # Approval steps are stored again when the run resumes; the resumed row verifies.
    _step(session, first, 0, "pause", "awaiting-approval", [("waiting", {}, T0)])
    _step(session, first, 0, "pause", "done", [_verify(T0 + 40 * SECOND)])
    sync_timeline(session, incident.id)  # links the run, as the desk does
    fallback = _run(session, "safe-pause", key)
    waiting = _step(session, fallback, 0, "safe-proposal", "waiting", [("propose", {}, T0)])
    _step(session, fallback, 1, "safe-proposal", "done", [])  # setFee: not a pause
    sync_timeline(session, incident.id)

    targets = pause_targets(session, plan, incident.id)
    assert [(t.contract, t.chain, t.verified_at) for t in targets] == [
        ("bridge", "l2", None),
        ("pool", "local", T0 + 40 * SECOND),
    ]
    assert contain_if_verified(session, plan, incident.id) is None
    assert incident.status == "detected"
    assert incident.chains == ["local", "l2"]  # the bridge it set out to pause is on l2

    # ``breakglass safe sign`` executes the proposal and records its verification.
    at, phase, detail = T0 + 90 * SECOND, "verify", {"check": "paused()", "holds": True}
    _phase(session, waiting, phase, {**detail, "status": "done"}, at)
    moved = contain_if_verified(session, plan, incident.id)
    assert moved is not None
    assert [t.contract for t in moved[1]] == ["bridge", "pool"]
    assert (incident.status, incident.contained_at) == ("contained", T0 + 90 * SECOND)
    assert _moves(session, incident.id)[-1] == ("contained", "breakglass")
    assert contain_if_verified(session, plan, incident.id) is None  # once


def test_a_pause_found_in_place_counts_a_failed_one_does_not(
    session: Session, plan: Plan, store_alert: Any
) -> None:
    incident = _incident(session, plan, store_alert)
    failed = _run(session, "contain", "drain:local:1")
    _step(session, failed, 0, "pause", "failed", [("failed", {"phase_failed": "simulate"}, T0)])
    sync_timeline(session, incident.id)
    assert pause_targets(session, plan, incident.id)[0].verified_at is None
    assert contain_if_verified(session, plan, incident.id) is None
    assert incident.status == "detected"

    # Another run of it finds the pool paused already (someone paused it by hand).
    again = _run(session, "contain", "drain:local:1")
    found = ("precheck", {"status": "skipped", "note": "already done: paused()"}, T0 + SECOND)
    _step(session, again, 0, "pause", "skipped", [found])
    sync_timeline(session, incident.id)
    assert contain_if_verified(session, plan, incident.id) is not None
    assert incident.status == "contained"


def test_later_and_final_states_and_dry_runs_stay_put(
    session: Session, plan: Plan, store_alert: Any
) -> None:
    incident = _incident(session, plan, store_alert)
    dry = _run(session, "contain", "drain:local:1", dry_run=True)
    _step(session, dry, 0, "pause", "done", [_verify(T0)])
    sync_timeline(session, incident.id)
    assert session.scalar(select(ResponseRecord).where(ResponseRecord.run_id == dry.id)) is None
    session.add(IncidentRun(incident_id=incident.id, run_id=dry.id))  # even if linked
    session.flush()
    assert pause_targets(session, plan, incident.id) == []
    assert contain_if_verified(session, plan, incident.id) is None

    live = _run(session, "contain", "drain:local:1")
    _step(session, live, 0, "pause", "done", [_verify(T0 + SECOND)])
    sync_timeline(session, incident.id)
    for status in ("triaged", "contained", "eradicated"):
        transition(session, incident.id, status, actor="alice", at=T0 + 5 * SECOND)
    assert contain_if_verified(session, plan, incident.id) is None
    assert incident.status == "eradicated"
    assert [to for to, _ in _moves(session, incident.id)].count("contained") == 1


def test_triaged_after_the_pause_keeps_the_timeline_in_order(
    session: Session, plan: Plan, store_alert: Any
) -> None:
    incident = _incident(session, plan, store_alert)
    run = _run(session, "contain", "drain:local:1")
    _step(session, run, 0, "pause", "done", [_verify(T0 + SECOND)])
    sync_timeline(session, incident.id)
    triaged = T0 + 30 * SECOND
    transition(session, incident.id, "triaged", actor="alice", at=triaged)
    assert contain_if_verified(session, plan, incident.id) is not None
    assert incident.contained_at == triaged
    assert incident.acknowledged_at == triaged  # triage acknowledged; containment did not
    assert [to for to, _ in _moves(session, incident.id)] == ["detected", "triaged", "contained"]


def test_a_run_of_a_playbook_the_plan_lost_is_known_by_its_steps(
    session: Session, plan: Plan, store_alert: Any
) -> None:
    incident = _incident(session, plan, store_alert)
    run = _run(session, "removed-since", "drain:local:1")
    _step(session, run, 0, "pause", "done", [_verify(T0 + SECOND)])
    _step(session, run, 1, "notify", "done", [])
    sync_timeline(session, incident.id)
    targets = pause_targets(session, plan, incident.id)
    assert [(t.contract, t.verified_at) for t in targets] == [
        (f"run {run.id} step 0: pause #0", T0 + SECOND)
    ]
    assert contain_if_verified(session, plan, incident.id) is not None
    assert session.scalars(select(Incident.status)).one() == "contained"
