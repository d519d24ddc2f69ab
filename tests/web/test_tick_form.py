"""The incident page offers a manual step's owners a "Mark done" form; posting it ticks the
step and completes the run (no chain: the playbook is a checklist)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.api.tokens import create_token
from breakglass.incidents import service
from breakglass.plan import load_plan
from breakglass.respond.env import LiveEnv
from breakglass.respond.service import run_playbook
from breakglass.server import create_app
from breakglass.store.models import IncidentRun, PlaybookRun, StepRun
from breakglass.web.auth import SESSION_COOKIE, csrf_for
from breakglass.web.sessions import start_session

PLAN = """
protocol: Acme
people:
  lead: {name: Lea}
  pauser: {name: Paul}
  ops: {name: Olga}
roles:
  incident_lead: [lead]
  pauser: {members: [pauser], handles: [pause]}
  frontend: {members: [ops], handles: [frontend]}
playbooks:
  - id: checklist
    steps:
      - {action: manual, owner: frontend, instructions: "take the front end down"}
"""


def _dashboard(directory: Path) -> tuple[TestClient, sessionmaker[Session], dict[str, str], int]:
    plan_file = directory / "breakglass.yaml"
    plan_file.write_text(PLAN)
    loaded = load_plan(plan_file)
    url = f"sqlite:///{directory / 'web.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    waiting = run_playbook(loaded, sessions, "checklist", env=LiveEnv(loaded, sessions))
    assert waiting.status == "waiting" and waiting.run_id is not None
    with sessions() as session, session.begin():
        # dashboard session ids (the cookie), one per person
        tokens = {}
        for p in ("lead", "pauser", "ops"):
            token = create_token(session, loaded.plan, p)
            opened = start_session(session, plan=loaded.plan, token=token)
            assert opened is not None
            tokens[p] = opened[0]
        incident = service.open_incident(
            session,
            loaded.plan,
            title="Front end serves a drainer",
            kind="exploit",
            severity="P1",
            chains=[],
            contracts=[],
            detected_at=datetime.now(UTC),
        )
        session.add(IncidentRun(incident_id=incident.id, run_id=waiting.run_id))
        incident_id = incident.id
    client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)
    return client, sessions, tokens, incident_id


def test_the_owner_ticks_a_checklist_step_from_the_incident_page(tmp_path: Path) -> None:
    client, sessions, tokens, incident_id = _dashboard(tmp_path)
    with sessions() as session:
        step = session.query(StepRun).one()
    assert step.status == "todo"

    client.cookies.set(SESSION_COOKIE, tokens["pauser"])
    html = client.get(f"/incidents/{incident_id}").text
    assert f'action="/steps/{step.id}/tick"' in html and ">Mark done</button>" in html
    refused = client.post(
        f"/steps/{step.id}/tick",
        data={"csrf_token": csrf_for(tokens["pauser"]), "incident_id": str(incident_id)},
    )
    assert refused.status_code == 409
    assert "pauser is not in role frontend" in refused.text

    client.cookies.set(SESSION_COOKIE, tokens["ops"])
    done = client.post(
        f"/steps/{step.id}/tick",
        data={"csrf_token": csrf_for(tokens["ops"]), "incident_id": str(incident_id)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/incidents/{incident_id}#steps"
    with sessions() as session:
        assert session.get_one(StepRun, step.id).decided_by == "ops"
        assert session.query(PlaybookRun).one().status == "succeeded"
    assert ">Mark done</button>" not in client.get(f"/incidents/{incident_id}").text
