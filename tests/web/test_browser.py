"""The dashboard in headless Chromium (the system browser, driven by Playwright): sign in,
open the incident, approve the waiting step, post a public update and find it on the status
page; screenshots at laptop and phone width go to ``tests/web/artifacts/``.

Fails (never skips) when ``/usr/bin/chromium`` is missing: CI installs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from breakglass.incidents import service
from breakglass.store.models import StepRun

from .browser_kit import LAPTOP, PHONE, chromium, relaying, serve
from .conftest import Dashboard, build_dashboard

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dashboard, str]]:
    """The seeded dashboard served by uvicorn on a free loopback port, in a thread, with the
    outbox relay the monitor process runs beside it."""
    dashboard = build_dashboard(tmp_path_factory.mktemp("browser"))
    with serve(dashboard.app) as base, relaying(dashboard.sessions):
        yield dashboard, base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless system Chromium."""
    with chromium() as launched:
        yield launched


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(page: Page, base: str, token: str, then: str) -> None:
    page.goto(f"{base}{then}")
    expect(page).to_have_url(f"{base}/login?next={then.replace('/', '%2F')}")
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}{then}")


def test_respond_to_an_incident_in_the_browser(
    served: tuple[Dashboard, str], browser: Browser
) -> None:
    dashboard, base = served
    incident = f"/incidents/{dashboard.incident_id}"
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    _sign_in(page, base, dashboard.tokens["responder"], incident)
    cookie = next(c for c in context.cookies() if c["name"] == "breakglass_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    expect(page.locator("h1")).to_contain_text('Acme <Lending> & "Co" exploited')  # generated
    expect(page.locator("#first-alert")).to_contain_text("Pool drained <script>")
    countdown = page.locator("#clocks .countdown").first
    expect(countdown).to_have_text(re.compile(r"^2d \d\d:\d\d:\d\d$"))
    before = countdown.text_content()
    expect(countdown).not_to_have_text(before or "", timeout=3_000)  # it ticks
    _shot(page, "incident-laptop")

    page.click("button.approve")
    expect(page.locator("#steps")).to_contain_text("waiting → approval → approved")
    expect(page.locator("#steps .status-done")).to_have_count(1)
    expect(page.locator("button.approve")).to_have_count(0)
    with dashboard.sessions() as session:
        step = session.get(StepRun, dashboard.step_id)
        assert step is not None and step.decided_by == "pauser"
    # The live timeline picks up the step's phases without a reload.
    page.click("#actions button:text-is('Acknowledge')")
    expect(page.locator("#milestones")).not_to_contain_text("not yet")
    expect(page.locator("#timeline-body")).to_contain_text("approved", timeout=15_000)

    page.select_option("#public-update select[name=status]", "identified")
    page.fill("#update-title", "Deposits paused")
    page.fill("#update-body", "We found the bug and paused deposits. Funds are safe.")
    page.click("#public-update button[type=submit]")
    expect(page.locator("#updates")).to_contain_text("Deposits paused")
    # The live timeline shows what others record, without a reload.
    with dashboard.sessions() as session, session.begin():
        service.add_note(session, dashboard.incident_id, "Bridge team joined", actor="lead")
    expect(page.locator("#timeline-body")).to_contain_text("Bridge team joined", timeout=15_000)
    _shot(page, "incident-after-laptop")

    page.click("text=Status page")
    expect(page.locator("body")).to_contain_text("Deposits paused")
    expect(page.locator("body")).not_to_contain_text("Pool drained")
    _shot(page, "status-laptop")
    page.set_viewport_size(PHONE)
    _shot(page, "status-phone")
    page.set_viewport_size(LAPTOP)

    page.goto(f"{base}/plan")
    expect(page.locator("h2").first).to_have_text("Checks")
    _shot(page, "plan-laptop")
    context.close()


def test_viewer_on_a_phone(served: tuple[Dashboard, str], browser: Browser) -> None:
    dashboard, base = served
    incident = f"/incidents/{dashboard.incident_id}"
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    _sign_in(page, base, dashboard.tokens["viewer"], incident)
    expect(page.locator("#actions")).to_have_count(0)
    expect(page.locator("#timeline")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the page scrolls sideways on a phone ({width}px)"
    _shot(page, "incident-phone")
    page.goto(f"{base}/incidents")
    _shot(page, "incidents-phone")
    page.goto(f"{base}/plan")
    _shot(page, "plan-phone")
    context.close()
