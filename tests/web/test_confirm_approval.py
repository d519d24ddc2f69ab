"""Approving a step that sends a transaction takes two POSTs on the dashboard: the first
simulates the step on the chain (a real OpenZeppelin pausable token on anvil) and shows what
it would do (contract, function, signer, simulated outcome) without sending anything; only
the second, from that confirmation, approves. A reverting step says why before anyone
approves it; a mainnet step is never one click away."""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy.orm import Session, sessionmaker

from breakglass.api.tokens import create_token
from breakglass.devchain import Anvil
from breakglass.incidents import service as incidents
from breakglass.plan.loader import LoadedPlan, load_plan
from breakglass.respond import service
from breakglass.respond.env import LiveEnv
from breakglass.server import create_app
from breakglass.store.models import IncidentRun, StepRun
from breakglass.web.auth import SESSION_COOKIE, csrf_for
from breakglass.web.sessions import start_session

from .browser_kit import PHONE, chromium, overflowing, page_width, serve

pytestmark = pytest.mark.chain


def _respond_fixtures() -> ModuleType:
    """The token, chain and database fixtures of ``tests/respond``."""
    name = "breakglass_tests_respond_conftest_confirm"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "respond" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


_fixtures = _respond_fixtures()
token = _fixtures.token
fresh_chain = _fixtures.fresh_chain
sessions = _fixtures.sessions
GUARDIAN, INTRUDER = _fixtures.GUARDIAN, _fixtures.INTRUDER
EXPLORER = "https://explorer.example"


def _plan(directory: Path, anvil: Anvil, token: Any, *, chain_id: int) -> LoadedPlan:
    text = f"""
    protocol: Test Protocol
    people:
      alice: {{name: Alice}}
      bob: {{name: Bob}}
    roles:
      incident_lead: [alice]
      pauser: {{members: [bob], handles: [pause, unpause]}}
    chains:
      local: {{chain_id: {chain_id}, block_time: 1, rpc: ["{anvil.http_url}"],
               explorer: "{EXPLORER}"}}
    contracts:
      token:
        chain: local
        address: "{token.address}"
        pause: {{function: "pause()", check: "paused()", unpause: "unpause()"}}
    signers:
      guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
    playbooks:
      - id: contain
        steps:
          - {{action: pause, contract: token, signer: guardian, mode: approval,
              verify: "paused()"}}
    """
    directory.mkdir(exist_ok=True)
    path = directory / "breakglass.yaml"
    path.write_text(textwrap.dedent(text))
    return load_plan(path)


@dataclass
class _Desk:
    """A dashboard session of bob (a pauser) on an incident whose pause waits for him."""

    client: TestClient
    csrf: str
    incident_id: int
    step_id: int
    directory: Path

    def approve(self, **fields: str) -> Any:
        form = {"csrf_token": self.csrf, "incident_id": str(self.incident_id), **fields}
        return self.client.post(f"/steps/{self.step_id}/approve", data=form, follow_redirects=False)

    def action(self) -> str:
        html = self.client.get(f"/incidents/{self.incident_id}").text
        found = re.search(r'name="action" value="(0x[0-9a-f]{16})"', html)
        assert found is not None, "the incident page shows no approval form"
        return found.group(1)


class OpenDesk(Protocol):
    def __call__(self, *, key: int = ..., chain_id: int = ...) -> _Desk: ...


@pytest.fixture
def open_desk(
    fresh_chain: Anvil,
    token: Any,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> OpenDesk:
    """Opens bob's desk on a pause waiting for him, sent with anvil key ``key`` on a chain
    the plan says has id ``chain_id``."""

    def open_(*, key: int = GUARDIAN, chain_id: int = 31337) -> _Desk:
        monkeypatch.setenv("GUARDIAN_KEY", fresh_chain.private_keys[key])
        return _desk(fresh_chain, token, sessions, tmp_path, chain_id=chain_id)

    return open_


def _desk(
    anvil: Anvil,
    token: Any,
    sessions: sessionmaker[Session],
    directory: Path,
    *,
    chain_id: int,
) -> _Desk:
    loaded = _plan(directory, anvil, token, chain_id=chain_id)
    waiting = service.run_playbook(loaded, sessions, "contain", env=LiveEnv(loaded, sessions))
    step_id = waiting.steps[0].step_id
    assert waiting.status == "waiting" and step_id is not None
    with sessions() as session, session.begin():
        opened = start_session(
            session, plan=loaded.plan, token=create_token(session, loaded.plan, "bob")
        )
        assert opened is not None
        incident = incidents.open_incident(
            session,
            loaded.plan,
            title="Pool drained",
            kind="exploit",
            severity="P1",
            chains=["local"],
            contracts=["token"],
            detected_at=datetime.now(UTC),
        )
        session.add(IncidentRun(incident_id=incident.id, run_id=waiting.run_id))
        incident_id = incident.id
    client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)
    client.cookies.set(SESSION_COOKIE, opened[0])
    return _Desk(client, csrf_for(opened[0]), incident_id, step_id, directory)


def _status(sessions: sessionmaker[Session], step_id: int) -> str:
    with sessions() as session:
        return session.get_one(StepRun, step_id).status


def test_first_post_simulates_and_sends_nothing_the_second_approves(
    fresh_chain: Anvil,
    token: Any,
    sessions: sessionmaker[Session],
    open_desk: OpenDesk,
) -> None:
    desk = open_desk()
    incident_page = desk.client.get(f"/incidents/{desk.incident_id}").text
    assert "Review and approve" in incident_page and "data-confirm" not in incident_page
    action = desk.action()
    head = int(fresh_chain.rpc("eth_blockNumber"), 16)

    shown = desk.approve(action=action)
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert 'id="confirm"' in html and "Confirm: pause token as guardian" in html
    assert f'href="{EXPLORER}/address/{token.address}"' in html  # the contract, linked
    guardian = fresh_chain.accounts[GUARDIAN]
    assert f'title="{guardian}"' in html  # the signer's address, from its key
    assert '<code class="call">pause()</code>' in html
    simulated = re.search(r'id="simulation"[^>]*>([^<]+)<', html)
    assert simulated is not None
    assert simulated.group(1) == (
        f"Would succeed, emits Paused, {_gas(simulated.group(1))} gas; paused() holds afterwards"
    )
    assert "live network" not in html
    assert not token.paused() and _status(sessions, desk.step_id) == "awaiting-approval"
    assert int(fresh_chain.rpc("eth_blockNumber"), 16) == head  # nothing was mined

    forged = desk.approve(action=action, confirmed="0x" + "1" * 16)  # not what was shown
    assert forged.status_code == 200 and 'id="confirm"' in forged.text
    assert not token.paused()

    done = desk.approve(action=action, confirmed=action)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/incidents/{desk.incident_id}#steps"
    assert token.paused() and _status(sessions, desk.step_id) == "approved"


def _gas(text: str) -> str:
    found = re.search(r"([\d,]+) gas", text)
    assert found is not None, text
    assert 20_000 < int(found.group(1).replace(",", "")) < 100_000, text
    return found.group(1)


def test_a_step_that_would_revert_says_why_before_approval(token: Any, open_desk: OpenDesk) -> None:
    desk = open_desk(key=INTRUDER)  # a key without PAUSER_ROLE
    html = desk.approve(action=desk.action()).text
    assert (
        'id="simulation" class="sim sim-would-revert">Would revert: '
        "ERC20PresetMinterPauser: must have pauser role to pause<"
    ) in html
    assert "Approve anyway" in html and "would not do what it should" in html
    assert not token.paused()


def test_a_step_already_done_says_it_would_skip(token: Any, open_desk: OpenDesk) -> None:
    desk = open_desk()
    token.set_paused(True)
    html = desk.approve(action=desk.action()).text
    assert "Already done (paused() holds): skips" in html


def test_a_mainnet_approval_is_never_one_click(
    token: Any, sessions: sessionmaker[Session], open_desk: OpenDesk
) -> None:
    desk = open_desk(chain_id=1)
    action = desk.action()
    for _ in range(2):  # posting the incident page's form again never approves
        shown = desk.approve(action=action)
        assert shown.status_code == 200
        assert "sends a real transaction on local, a live network" in shown.text
        assert "chain id 1)" in shown.text
    assert not token.paused() and _status(sessions, desk.step_id) == "awaiting-approval"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_the_confirmation_in_chromium_on_a_phone(
    token: Any, open_desk: OpenDesk, browser: Browser
) -> None:
    # Playwright's sync API holds an event loop on this thread; the playbook runs its own.
    with ThreadPoolExecutor(1) as worker:
        desk = worker.submit(open_desk, chain_id=1).result()
    with serve(desk.client.app) as base:  # type: ignore[arg-type]
        context = browser.new_context(viewport=PHONE, is_mobile=True)
        host = base.removeprefix("http://").split(":")[0]
        session = desk.client.cookies[SESSION_COOKIE]
        context.add_cookies(
            [{"name": SESSION_COOKIE, "value": session, "domain": host, "path": "/"}]
        )
        page = context.new_page()
        page.goto(f"{base}/incidents/{desk.incident_id}")
        page.click("button.approve")
        expect(page.locator("#confirm")).to_contain_text("a live network")
        expect(page.locator("#simulation")).to_contain_text("Would succeed, emits Paused")
        page.screenshot(path=str(desk.directory / "confirm-phone.png"), full_page=True)
        width = page_width(page)
        assert width <= PHONE["width"], (
            f"the confirmation is {width} px wide: {overflowing(page, PHONE['width'])}"
        )
        assert not token.paused()
        page.click("#confirm-approve")
        expect(page).to_have_url(f"{base}/incidents/{desk.incident_id}#steps")
        context.close()
