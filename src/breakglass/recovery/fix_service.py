"""Fix verification for a stored incident: its exploit from the evidence, the plan's
contracts and endpoints, and the report stored on the incident's timeline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass.errors import PlanError
from breakglass.recovery.fix import Incident, verify_fix
from breakglass.recovery.fix_report import FIX_EVENT, FixReport
from breakglass.recovery.fixspec import FixError, FixSpec

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from breakglass.plan.loader import LoadedPlan
    from breakglass.plan.models import Plan
    from breakglass.store.models import TimelineEvent

__all__ = [
    "exploit_incident",
    "fix_chain",
    "fix_reports",
    "fork_url",
    "run_fix_verification",
    "store_fix_report",
]


def exploit_incident(
    session: Session, *, incident_id: int, txs: tuple[str, ...] = ()
) -> tuple[Incident, list[str]]:
    """The incident's exploit (``txs``, else the transactions of its fund movements) and
    attacker addresses, with the chains it touched.

    Raises:
        IncidentNotFound: there is no such incident.
    """
    from breakglass.incidents import attacker_records, fund_movements, get_incident  # noqa: PLC0415

    incident = get_incident(session, incident_id)
    hashes = list(txs) or list(
        dict.fromkeys(m.tx_hash for m in fund_movements(session, incident_id))
    )
    attackers = {
        r.value.lower()
        for r in attacker_records(session, incident_id)
        if r.kind in ("address", "contract") and r.value.startswith("0x")
    }
    return Incident(incident_id, tuple(hashes), frozenset(attackers)), list(incident.chains)


def fix_chain(plan: Plan, spec: FixSpec, *, chain: str | None, incident_chains: list[str]) -> str:
    """The chain to fork: ``--chain``, the fix's, the incident's first, or the plan's only one.

    Raises:
        PlanError: none of those names a chain of the plan.
    """
    name = chain or spec.chain or next((c for c in incident_chains if c in plan.chains), None)
    if name is None and len(plan.chains) == 1:
        name = next(iter(plan.chains))
    if name is None or name not in plan.chains:
        known = ", ".join(sorted(plan.chains)) or "none"
        raise PlanError(f"which chain does the fix apply to? give --chain (plan chains: {known})")
    return name


def fork_url(plan: Plan, chain: str) -> str:
    """The first HTTP endpoint of ``chain`` (anvil forks over HTTP)."""
    from breakglass.chain.endpoints import resolve_endpoints  # noqa: PLC0415

    for endpoint in resolve_endpoints(plan.chains[chain], name=chain):
        if endpoint.url.lower().startswith("http"):
            return endpoint.url
    raise PlanError(f"chain {chain} has no HTTP endpoint to fork from")


def run_fix_verification(
    session: Session,
    *,
    loaded: LoadedPlan,
    incident_id: int,
    spec: FixSpec,
    digest: str,
    spec_path: Path,
    chain: str | None = None,
    txs: tuple[str, ...] = (),
) -> FixReport:
    """Verify ``spec`` against the incident's exploit and store the report on its timeline.

    Raises:
        FixError: the incident has no exploit transaction or the fork cannot be set up.
        PlanError: the chain or its endpoints cannot be found.
    """
    incident, chains = exploit_incident(session, incident_id=incident_id, txs=txs)
    plan = loaded.plan
    name = fix_chain(plan, spec, chain=chain, incident_chains=chains)
    watched = {n: c.address for n, c in plan.contracts.items() if c.chain == name}
    if not watched:
        raise FixError(f"the plan watches no contract on chain {name}")
    positions = plan.analysis.positions if plan.analysis else []
    report = verify_fix(
        url=fork_url(plan, name),
        chain=name,
        incident=incident,
        spec=spec,
        digest=digest,
        spec_dir=spec_path.parent,
        watched=watched,
        assets=[p.asset for p in positions if plan.contracts[p.contract].chain == name],
        loaded=loaded,
    )
    store_fix_report(session, incident_id=incident_id, report=report)
    return report


def store_fix_report(session: Session, *, incident_id: int, report: FixReport) -> TimelineEvent:
    """Record the report as a timeline event of the incident (its evidence of the fix)."""
    from breakglass.incidents import EventKind, record_event  # noqa: PLC0415

    data = report.to_json()
    summary = f"Fix {report.fix_name!r} verified against the replayed exploit: {report.verdict}"
    return record_event(
        session,
        incident_id,
        EventKind.NOTE,
        summary,
        actor="breakglass",
        data={"kind": FIX_EVENT, "report": data},
    )


def fix_reports(session: Session, incident_id: int) -> list[dict[str, Any]]:
    """The incident's stored fix-verification reports, oldest first."""
    from breakglass.incidents.timeline import timeline  # noqa: PLC0415

    return [
        dict(e.data["report"])
        for e in timeline(session, incident_id)
        if e.data.get("kind") == FIX_EVENT
    ]
