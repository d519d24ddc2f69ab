"""The gates of a restore, judged against the live chain and the incident, and the
approvals they need; each gate and approval is a timeline event of the incident."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from breakglass.errors import PlanError
from breakglass.recovery.fix_service import fix_reports, fork_url
from breakglass.recovery.fixspec import FixSpec
from breakglass.recovery.fork import RemoteChain
from breakglass.recovery.restore import Gate, gate_fix_verified, gate_invariants

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from breakglass.plan.loader import LoadedPlan
    from breakglass.plan.models import Plan, Restore, SafeSigner

__all__ = [
    "APPROVAL_EVENT",
    "GATE_EVENT",
    "PROPOSAL_EVENT",
    "approve_restore",
    "events_of",
    "record",
    "restore_config",
    "restore_gates",
]

PROPOSAL_EVENT = "restore-proposal"
APPROVAL_EVENT = "restore-approval"
GATE_EVENT = "restore-gate"
_UPDATE_STATUSES = ("monitoring", "resolved")


def restore_config(plan: Plan) -> tuple[Restore, SafeSigner]:
    """The plan's ``restore`` section and its Safe.

    Raises:
        PlanError: no ``restore`` section, or its ``safe`` is not a Safe signer.
    """
    from breakglass.plan.models import SafeSigner  # noqa: PLC0415

    if plan.restore is None:
        raise PlanError("the plan has no `restore` section (which Safe, whose approvals)")
    signer = plan.signers.get(plan.restore.safe)
    if not isinstance(signer, SafeSigner):
        raise PlanError(f"restore.safe {plan.restore.safe!r} is not a Safe signer of the plan")
    return plan.restore, signer


def record(session: Session, incident_id: int, summary: str, **data: Any) -> None:
    """A restore event on the incident's timeline (``data["kind"]`` says which)."""
    from breakglass.incidents import EventKind, record_event  # noqa: PLC0415

    record_event(session, incident_id, EventKind.ACTION, summary, actor="breakglass", data=data)


def events_of(session: Session, incident_id: int, kind: str) -> list[dict[str, Any]]:
    """The data of the incident's timeline events of ``kind``, oldest first."""
    from breakglass.incidents.timeline import timeline  # noqa: PLC0415

    return [dict(e.data) for e in timeline(session, incident_id) if e.data.get("kind") == kind]


def approve_restore(session: Session, *, plan: Plan, incident_id: int, person: str) -> list[str]:
    """Record ``person``'s approval; the roles of ``restore.approvals`` it counts for.

    Raises:
        PlanError: the person holds none of the roles that approve a restore.
    """
    restore, _ = restore_config(plan)
    roles = [r for r in restore.approvals if r in plan.roles and person in plan.roles[r].members]
    if not roles:
        wanted = ", ".join(restore.approvals) or "none"
        raise PlanError(f"{person!r} holds none of the roles that approve a restore ({wanted})")
    record(
        session,
        incident_id,
        f"Restore approved by {person} ({', '.join(roles)})",
        kind=APPROVAL_EVENT,
        person=person,
        roles=roles,
    )
    return roles


def restore_gates(
    sessions: sessionmaker[Session],
    *,
    loaded: LoadedPlan,
    incident_id: int,
    spec: FixSpec,
    digest: str,
    chain: str,
) -> list[Gate]:
    """Judge every gate against the live chain and the incident, and record each."""
    from breakglass.incidents import public_updates  # noqa: PLC0415

    plan = loaded.plan
    restore, _ = restore_config(plan)
    remote = RemoteChain(fork_url(plan, chain))
    try:
        with sessions() as session:
            reports = fix_reports(session, incident_id)
            approvals = events_of(session, incident_id, APPROVAL_EVENT)
            updates = [u.status for u in public_updates(session, incident_id)]
        gates = [
            gate_fix_verified(spec=spec, digest=digest, reports=reports, remote=remote),
            gate_invariants(loaded=loaded, chain=chain, remote=remote),
        ]
    finally:
        remote.close()
    for role in restore.approvals:
        people = [a["person"] for a in approvals if role in a.get("roles", ())]
        detail = f"by {', '.join(people)}" if people else "nobody yet: breakglass restore approve"
        gates.append(Gate(f"approved by {role}", bool(people), detail))
    if restore.public_update:
        drafted = [s for s in updates if s in _UPDATE_STATUSES]
        gates.append(
            Gate(
                "public update drafted",
                bool(drafted),
                drafted[-1] if drafted else "no monitoring or resolved update yet",
            )
        )
    with sessions.begin() as session:
        for gate in gates:
            state = "holds" if gate.ok else "does not hold"
            record(
                session,
                incident_id,
                f"Restore gate {gate.name}: {state} ({gate.detail})",
                kind=GATE_EVENT,
                gate=gate.name,
                ok=gate.ok,
                detail=gate.detail,
            )
    return gates
