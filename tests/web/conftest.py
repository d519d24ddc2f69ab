"""A dashboard over a fresh SQLite database, a plan with one person per access level, and
an incident whose playbook run waits for an approval (a ``page`` step: no chain needed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.api.tokens import create_token
from breakglass.incidents import evidence, service
from breakglass.plan import load_plan
from breakglass.plan.loader import LoadedPlan
from breakglass.report import regulatory
from breakglass.respond.env import LiveEnv
from breakglass.respond.service import run_playbook
from breakglass.server import create_app
from breakglass.store.models import IncidentRun, UserLoss

PLAN = """
protocol: Acme <Lending> & "Co"
people:
  lead: {name: Lea}
  pauser: {name: Paul}
  watcher: {name: Wanda}
roles:
  incident_lead: [lead]
  pauser: {members: [pauser], handles: [pause]}
  scribe: [watcher]
playbooks:
  - id: escalate
    steps:
      - {action: page, role: incident_lead, mode: approval, approver: pauser,
         message: "Wake the incident lead"}
regulatory: {regimes: [gdpr]}
communication: {spokesperson: pauser}
"""
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@dataclass(frozen=True)
class Dashboard:
    """The app under test, its database, tokens per access level and the seeded ids."""

    app: FastAPI
    loaded: LoadedPlan
    sessions: sessionmaker[Session]
    tokens: dict[str, str]
    incident_id: int
    step_id: int


def build_dashboard(directory: Path, *, plan: str = PLAN) -> Dashboard:
    """Plan (``plan`` extends :data:`PLAN`), database, app, tokens for viewer/responder/admin
    and the seeded incident."""
    plan_file = directory / "breakglass.yaml"
    plan_file.write_text(plan)
    loaded = load_plan(plan_file)
    url = f"sqlite:///{directory / 'web.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as session, session.begin():
        tokens = {
            "viewer": create_token(session, loaded.plan, "watcher"),
            "responder": create_token(session, loaded.plan, "pauser"),
            "admin": create_token(session, loaded.plan, "lead"),
        }
        incident = service.open_incident(
            session,
            loaded.plan,
            title=f"Pool drained {HOSTILE}",
            kind="exploit",
            severity="P1",
            chains=[],
            contracts=[],
            detected_at=datetime.now(UTC) - timedelta(minutes=12),
            summary=f"Summary {HOSTILE}",
        )
        incident_id = incident.id
        regulatory.record_event(session, incident_id, "awareness", incident.detected_at)
        service.add_note(session, incident_id, f"note {HOSTILE}", actor="lead")
        evidence.add_attacker_record(session, incident_id, "address", "0x" + "ab" * 20)
        evidence.add_fund_movement(
            session,
            incident_id,
            chain="mainnet",
            origin="0x" + "ab" * 20,
            tx_hash="0x" + "cd" * 32,
            asset=f"USDC{HOSTILE}",
            amount="1000000",
            destination="0x" + "ef" * 20,
            destination_kind="mixer",
            usd_value=1_000_000.0,
        )
        session.add(
            UserLoss(
                incident_id=incident_id,
                chain="mainnet",
                address="0x" + "12" * 20,
                asset="0x" + "34" * 20,
                amount="1500000000000000000",
                usd_value=4200.0,
                detail={},
            )
        )
    waiting = run_playbook(loaded, sessions, "escalate", env=LiveEnv(loaded, sessions))
    assert waiting.status == "waiting", waiting
    step_id = waiting.steps[0].step_id
    assert step_id is not None
    with sessions() as session, session.begin():
        session.add(IncidentRun(incident_id=incident_id, run_id=waiting.run_id))
    app = create_app(loaded, sessions)
    return Dashboard(app, loaded, sessions, tokens, incident_id, step_id)


@pytest.fixture
def dashboard(tmp_path: Path) -> Dashboard:
    """A fresh dashboard per test."""
    return build_dashboard(tmp_path)


@pytest.fixture
def client(dashboard: Dashboard) -> Iterator[TestClient]:
    with TestClient(dashboard.app, raise_server_exceptions=False) as test_client:
        yield test_client
