"""After the pause: the incident's analysis, compensation, status page and post-mortem.

Every step calls the same service function a team would run by hand: ``analyze_incident`` +
``store_incident_analysis`` (``breakglass analyze incident``), ``build_distribution``
(``breakglass recover distribution``), ``publish_update`` + ``render_status_page``
(``breakglass incident update`` / ``status render``) and, when the module is present,
``breakglass.report.postmortem.write_postmortem``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.analysis import analyze_plan_tx
from breakglass.analysis.assets import AssetInfo, read_assets
from breakglass.analysis.incident import (
    IncidentAnalysis,
    analyze_incident,
    store_incident_analysis,
)
from breakglass.analysis.unit_store import keep_units
from breakglass.chain.endpoints import plan_endpoints
from breakglass.chain.pool import EndpointPool
from breakglass.errors import BreakglassError
from breakglass.incidents.comms import publish_update
from breakglass.incidents.evidence import fund_movements
from breakglass.incidents.service import (
    acknowledge,
    get_incident,
    set_funds_at_risk_tokens,
    transition,
)
from breakglass.plan.loader import LoadedPlan
from breakglass.recovery.merkle import MerkleDistribution
from breakglass.recovery.service import build_distribution, write_distribution
from breakglass.report.status import public_content, render_status_page
from breakglass.report.wording import incident_alerts
from breakglass.store.models import UserLoss

__all__ = [
    "Aftermath",
    "analyse",
    "publish",
    "record_funds_at_risk",
    "recover",
    "write_postmortem_files",
]

CHAIN = "local"
COMMS = "dave"
"""The plan's comms person, who signs the public updates."""


@dataclass(slots=True)
class Aftermath:
    """Files and figures the aftermath produced."""

    analysis: IncidentAnalysis | None = None
    merkle_root: str | None = None
    merkle_total: int = 0
    claims: int = 0
    tree_path: Path | None = None
    claims_path: Path | None = None
    status_paths: list[Path] = field(default_factory=list)
    postmortem_paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def analyse(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    incident_id: int,
    tx_hashes: list[str],
    pause_block: int,
) -> IncidentAnalysis:
    """Analyse the attacker's transactions, contained at ``pause_block``, and store it."""
    pool = EndpointPool(plan_endpoints(loaded.plan.chains[CHAIN], prefer_ws=False), chain=CHAIN)
    try:
        analysis = await analyze_incident(
            pool, loaded.plan, tx_hashes, containment_block=pause_block, chain=CHAIN
        )
    finally:
        await pool.aclose()
    with sessions() as session, session.begin():
        store_incident_analysis(session, incident_id, analysis)
    return analysis


def recover(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    incident_id: int,
    token: str,
    out_dir: Path,
    result: Aftermath,
) -> None:
    """Build the compensation Merkle distribution of ``token`` and write tree and claims."""
    with sessions() as session, session.begin():
        record = build_distribution(session, incident_id, token, plan=loaded.plan)
        tree = MerkleDistribution.load(record.tree)
        result.merkle_root, result.merkle_total = record.root, int(record.total)
    result.tree_path, result.claims_path = write_distribution(tree, out_dir)
    result.claims = len(tree.claims())


def publish(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    incident_id: int,
    figures: dict[str, str],
    out_dir: Path,
    result: Aftermath,
) -> None:
    """Triage and contain the incident (or, when the desk already contained it on the
    verified pause, acknowledge it), post two public updates, render the status page."""
    cadence = loaded.plan.communication.update_cadence if loaded.plan.communication else None
    with sessions() as session, session.begin():
        try:
            if get_incident(session, incident_id).status == "contained":  # the desk saw it
                acknowledge(session, incident_id, actor="alice")
            else:
                transition(session, incident_id, "triaged", actor="alice", note="confirmed exploit")
                transition(session, incident_id, "contained", actor="bob", note="pool paused")
        except BreakglassError as exc:
            result.notes.append(f"incident not moved to contained: {exc}")
        publish_update(
            session,
            incident_id,
            "identified",
            "Lending pool paused after an oracle manipulation",
            f"An attacker manipulated the dETH price the pool reads and borrowed "
            f"{figures['lost']} dUSD against it. The pool was paused in block "
            f"{figures['pause_block']}; {figures['saved']} dUSD of suppliers' funds are safe. "
            "Deposits, withdrawals and borrowing are on hold.",
            actor=COMMS,
            cadence=cadence,
        )
        publish_update(
            session,
            incident_id,
            "monitoring",
            "Losses measured; compensation computed",
            f"Suppliers' losses are measured to the wei and will be paid in full under our "
            f"compensation policy (Merkle root {figures['root']}).",
            actor=COMMS,
            cadence=cadence,
        )
    with sessions() as session:
        updates, incidents = public_content(session)
        result.status_paths = render_status_page(
            loaded.plan.protocol, updates, incidents, out_dir, plan=loaded.plan
        )


async def write_postmortem_files(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    incident_id: int,
    exploit_tx: str,
    out_dir: Path,
    result: Aftermath,
) -> None:
    """Write the post-mortem as HTML and PDF when ``breakglass.report.postmortem`` exists,
    with the fund-flow picture of ``exploit_tx`` (the first drain)."""
    if importlib.util.find_spec("breakglass.report.postmortem") is None:
        result.notes.append("post-mortem skipped: breakglass.report.postmortem is not installed")
        return
    module: Any = importlib.import_module("breakglass.report.postmortem")
    extra: dict[str, Any] = {}
    if "analyses" in inspect.signature(module.write_postmortem).parameters:
        try:
            extra["analyses"] = [await analyze_plan_tx(loaded, exploit_tx, chain=CHAIN)]
        except BreakglassError as exc:
            result.notes.append(f"post-mortem without a fund-flow picture: {exc}")
    if "units" in inspect.signature(module.write_postmortem).parameters:
        extra["units"] = await _units(loaded, sessions, incident_id)
    try:
        await record_funds_at_risk(loaded, sessions, incident_id)
    except BreakglassError as exc:
        result.notes.append(f"funds at risk not recorded: {exc}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for fmt in ("html", "pdf"):
        try:
            with sessions() as session, session.begin():
                path, _notes = module.write_postmortem(
                    session,
                    incident_id,
                    fmt,
                    out_dir,
                    plan=loaded.plan,
                    actor="breakglass",
                    **extra,
                )
            result.postmortem_paths.append(Path(path))
        except (ImportError, BreakglassError, OSError) as exc:
            result.notes.append(f"post-mortem {fmt} skipped: {exc}")


async def record_funds_at_risk(
    loaded: LoadedPlan, sessions: sessionmaker[Session], incident_id: int
) -> None:
    """Store what was at risk, in tokens: what the incident's contracts held of each lost
    token at the block before the first exploit block (the demo's 440,000 dUSD)."""
    with sessions() as session:
        incident = get_incident(session, incident_id)
        alerts = incident_alerts(session, incident_id)
        first = alerts[0].block_number if alerts else None
        tokens = set(
            session.scalars(select(UserLoss.asset).where(UserLoss.incident_id == incident_id))
        )
        holders = [
            loaded.plan.contracts[c].address
            for c in incident.contracts
            if c in loaded.plan.contracts
        ]
    if first is None or not tokens or not holders:
        return
    pool = EndpointPool(plan_endpoints(loaded.plan.chains[CHAIN], prefer_ws=False), chain=CHAIN)
    amounts: list[tuple[str, str, int]] = []
    try:
        for token in sorted(tokens):
            held = 0
            for holder in holders:
                data = "0x70a08231" + holder.lower().removeprefix("0x").rjust(64, "0")
                raw = await pool.request("eth_call", [{"to": token, "data": data}, hex(first - 1)])
                held += int(str(raw), 16) if raw not in (None, "0x") else 0
            amounts.append((CHAIN, token, held))
    finally:
        await pool.aclose()
    with sessions() as session, session.begin():
        set_funds_at_risk_tokens(session, incident_id, amounts)


async def _units(
    loaded: LoadedPlan, sessions: sessionmaker[Session], incident_id: int
) -> dict[tuple[str, str], AssetInfo]:
    """Symbol and decimals of every asset the incident's losses and fund movements name."""
    with sessions() as session:
        query = select(UserLoss.asset).where(UserLoss.incident_id == incident_id)
        wanted = set(session.scalars(query))
        wanted |= {m.asset for m in fund_movements(session, incident_id) if m.chain == CHAIN}
    pool = EndpointPool(plan_endpoints(loaded.plan.chains[CHAIN], prefer_ws=False), chain=CHAIN)
    try:
        units = await read_assets(pool=pool, chain=CHAIN, addresses=wanted)
    finally:
        await pool.aclose()
    with sessions() as session, session.begin():
        keep_units(session, units)  # `incident show` after the demo, its chain gone, says dUSD
    return units
