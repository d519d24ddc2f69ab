"""Approvals through the API and the dashboard are bound to the action the approver was
shown (finding 9 of the hardening issue): the run view shows the action (target by name,
decoded call, signer, chain, hash, approvals, expiry); an approval naming another hash, or
coming after the plan changed or the request expired, is refused with 409 and nothing is
sent; a step needing two approvers answers the first with a partial approval."""

from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from breakglass.api.tokens import create_token
from breakglass.devchain import Anvil
from breakglass.incidents import service as incidents
from breakglass.plan.loader import LoadedPlan
from breakglass.respond import service
from breakglass.respond.env import LiveEnv
from breakglass.server import create_app
from breakglass.store.models import IncidentRun, StepRun
from breakglass.web.auth import SESSION_COOKIE, csrf_for
from breakglass.web.sessions import start_session

pytestmark = pytest.mark.chain


def _module(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


_fixtures = _module(
    "respond_fixtures_approval_binding_api", Path(__file__).parents[1] / "respond" / "conftest.py"
)
token = _fixtures.token
fresh_chain = _fixtures.fresh_chain
sessions = _fixtures.sessions
_plans = _module(
    "breakglass_tests_hardening_approval_plan", Path(__file__).with_name("approval_plan.py")
)
GUARDIAN, PAUSE, UNPAUSE = _plans.GUARDIAN, _plans.PAUSE, _plans.UNPAUSE


@dataclass
class _Bench:
    """The chain, the token, the database and a plan whose one step waits for approval."""

    anvil: Anvil
    token: Any
    sessions: sessionmaker[Session]
    directory: Path

    def plan(self, step: str, *, chain_id: int = 31337, name: str = "plan") -> LoadedPlan:
        (self.directory / name).mkdir(exist_ok=True)
        return _plans.write_plan(
            self.directory / name, self.anvil, self.token, step, chain_id=chain_id
        )

    def waiting(self, step: str) -> tuple[LoadedPlan, int]:
        """The plan with ``step``, run until the step waits; its stored id."""
        loaded = self.plan(step)
        env = LiveEnv(loaded, self.sessions)
        result = service.run_playbook(loaded, self.sessions, "contain", env=env)
        waiting = result.steps[0]
        assert waiting.status == "awaiting-approval", waiting
        assert waiting.step_id is not None
        return loaded, waiting.step_id

    def guardian_nonce(self) -> int:
        return int(self.token.nonce(self.anvil.accounts[GUARDIAN]))


@pytest.fixture
def bench(
    fresh_chain: Anvil,
    token: Any,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> _Bench:
    monkeypatch.setenv("GUARDIAN_KEY", fresh_chain.private_keys[GUARDIAN])
    return _Bench(fresh_chain, token, sessions, tmp_path)


class _Api:
    def __init__(self, loaded: LoadedPlan, sessions: sessionmaker[Session]) -> None:
        with sessions() as session, session.begin():
            self.tokens = {p: create_token(session, loaded.plan, p) for p in ("bob", "carol")}
        self.client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)

    def shown(self, step_id: int) -> dict[str, Any]:
        """What GET /api/runs shows carol (who may approve) of the waiting step."""
        runs = self.client.get("/api/runs", headers=self._auth("carol")).json()
        [step] = [s for run in runs for s in run["steps"] if s["id"] == step_id]
        approval: dict[str, Any] = step["approval"]
        return approval

    def approve(self, step_id: int, person: str, action: str) -> Any:
        return self.client.post(
            f"/api/steps/{step_id}/approve", json={"action": action}, headers=self._auth(person)
        )

    def _auth(self, person: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[person]}"}


def test_the_run_view_shows_the_action_and_a_wrong_hash_sends_nothing(bench: _Bench) -> None:
    loaded, step_id = bench.waiting(PAUSE)
    token = bench.token
    api = _Api(loaded, bench.sessions)
    shown = api.shown(step_id)
    action = shown["action"]
    assert action["call"] == "pause()"
    assert action["target"] == token.address and action["target_name"] == "token"
    assert action["signer"] == "guardian (env)"
    assert (action["chain"], action["chain_id"], action["production"]) == ("local", 31337, False)
    assert action["hash"] == shown["requested"]
    assert (shown["approvals"], shown["needed"], shown["approver"]) == (0, 1, "pauser")
    assert shown["expires_at"] and shown["problem"] is None

    nonce = bench.guardian_nonce()
    wrong = api.approve(step_id, "bob", "0x0123456789abcdef")
    assert wrong.status_code == 409, wrong.text
    assert (
        f"asks to approve action {action['hash']}, not 0x0123456789abcdef" in wrong.json()["detail"]
    )
    missing = api.client.post(f"/api/steps/{step_id}/approve", headers=api._auth("bob"))
    assert missing.status_code == 422  # an approval must say what it approves
    assert bench.guardian_nonce() == nonce, "a refused approval sent"
    assert not token.paused()

    # The plan file changes under the waiting step: the request still names the pause,
    # and the view says why approving it now is refused.
    swapped_api = _Api(bench.plan(UNPAUSE, name="edited"), bench.sessions)
    assert "plan now builds a different action" in swapped_api.shown(step_id)["problem"]
    refused = swapped_api.approve(step_id, "bob", action["hash"])
    assert refused.status_code == 409
    assert "plan now builds a different action" in refused.json()["detail"]
    assert bench.guardian_nonce() == nonce

    done = api.approve(step_id, "bob", action["hash"].upper().replace("0X", "0x"))
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["approval"], body["approvals"], body["needed"]) == ("complete", 1, 1)
    assert body["status"] == "succeeded" and body["steps"][0]["tx_hash"]
    assert token.paused()


def test_an_expired_request_is_refused_through_the_api(bench: _Bench) -> None:
    loaded, step_id = bench.waiting(PAUSE[:-1] + ", approval_expires: 1s}")
    api = _Api(loaded, bench.sessions)
    hash_ = api.shown(step_id)["action"]["hash"]
    time.sleep(1.5)
    assert "expired" in api.shown(step_id)["problem"]
    answer = api.approve(step_id, "bob", hash_)
    assert answer.status_code == 409 and "expired" in answer.json()["detail"]
    assert not bench.token.paused()


def test_two_approvers_the_first_gets_a_partial_answer(bench: _Bench) -> None:
    loaded, step_id = bench.waiting(PAUSE[:-1] + ", approvals: 2}")
    token = bench.token
    api = _Api(loaded, bench.sessions)
    hash_ = api.shown(step_id)["action"]["hash"]

    first = api.approve(step_id, "bob", hash_)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["approval"], body["approvals"], body["needed"]) == ("partial", 1, 2)
    assert body["approved_by"] == ["bob"] and "1 more" in body["message"]
    assert not token.paused()
    shown = api.shown(step_id)
    assert (shown["approvals"], shown["needed"], shown["approved_by"]) == (1, 2, ["bob"])
    again = api.approve(step_id, "bob", hash_)
    assert again.status_code == 409 and "approved step" in again.json()["detail"]
    assert not token.paused()

    second = api.approve(step_id, "carol", hash_)
    assert second.status_code == 200, second.text
    body = second.json()
    assert (body["approval"], body["approvals"], body["needed"]) == ("complete", 2, 2)
    assert body["approved_by"] == ["bob", "carol"] and body["status"] == "succeeded"
    assert token.paused()


def test_the_dashboard_form_posts_the_hash_it_shows(bench: _Bench) -> None:
    loaded, step_id = bench.waiting(PAUSE)
    token, sessions = bench.token, bench.sessions
    with sessions() as session, session.begin():
        opened = start_session(
            session, plan=loaded.plan, token=create_token(session, loaded.plan, "bob")
        )
        assert opened is not None
        incident = incidents.open_incident(
            session,
            loaded.plan,
            title="Vault drained",
            kind="exploit",
            severity="P1",
            chains=["local"],
            contracts=["token"],
            detected_at=datetime.now(UTC),
        )
        run_id = session.get_one(StepRun, step_id).run_id
        session.add(IncidentRun(incident_id=incident.id, run_id=run_id))
        incident_id = incident.id
    client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)
    client.cookies.set(SESSION_COOKIE, opened[0])
    csrf = csrf_for(opened[0])

    html = client.get(f"/incidents/{incident_id}").text
    shown = _approval_of(html, step_id)
    assert "pause()" in shown and token.address in shown and "guardian (env)" in shown
    assert "local (chain id 31337)" in shown and "0 of 1" in shown
    hash_ = _hidden(html, "action")
    assert f'<code class="action-hash">{hash_}</code>' in shown
    assert "data-confirm" not in html  # a local chain: no second confirmation

    # The same step read with a plan that calls the chain mainnet shows the same action (the
    # action itself does not change: same hash); its approval is confirmed on a second page
    # (tests/web/test_confirm_approval.py).
    mainnet = bench.plan(PAUSE, chain_id=1, name="mainnet")
    other = TestClient(create_app(mainnet, sessions), raise_server_exceptions=False)
    other.cookies.set(SESSION_COOKIE, opened[0])
    confirm = other.get(f"/incidents/{incident_id}").text
    assert _hidden(confirm, "action") == hash_

    form = {"csrf_token": csrf, "incident_id": str(incident_id)}
    blind = client.post(f"/steps/{step_id}/approve", data=form)
    assert blind.status_code == 400 and "did not name the action" in blind.text
    stale = client.post(f"/steps/{step_id}/approve", data=form | {"action": "0x" + "0" * 16})
    assert stale.status_code == 409 and "asks to approve action" in stale.text
    assert not token.paused()

    done = client.post(
        f"/steps/{step_id}/approve",
        data=form | {"action": hash_, "confirmed": hash_},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert token.paused()


def _approval_of(html: str, step_id: int) -> str:
    start = html.index(f'id="approval-{step_id}"')
    return html[start : html.index("</form>", start)]


def _hidden(html: str, name: str) -> str:
    marker = f'name="{name}" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
