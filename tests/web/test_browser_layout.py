"""The dashboard and the status page as a person sees them, in headless Chromium: screenshots
at laptop width and at 390 px (an iPhone's), and no page scrolls sideways on the phone.

The seeded incident is the web tests' own (hostile text included) plus what makes a page wide:
alerts with long titles, transaction hashes and block links on a chain with an explorer, fund
movements and losses in a token whose unit is known, and a public update. Screenshots go to
the test's temporary directory (pytest prints where on failure).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from breakglass.analysis.assets import AssetInfo, remember_asset
from breakglass.incidents import comms, service
from breakglass.incidents.alerts import attach_alert
from breakglass.store.models import AlertRecord

from .browser_kit import LAPTOP, PHONE, chromium, overflowing, page_width, serve
from .conftest import PLAN, Dashboard, build_dashboard

pytestmark = pytest.mark.browser

EXPLORER = "https://etherscan.io"
POOL = "0x663F3ad617193148711d28f5334eE4Ed07016602"
USDC = "0x" + "34" * 20
CHAINS = f"""
chains:
  mainnet: {{chain_id: 1, rpc: ["http://127.0.0.1:9"], explorer: "{EXPLORER}"}}
contracts:
  pool: {{chain: mainnet, address: "{POOL}"}}
"""


def _seed(dashboard: Dashboard) -> None:
    """Alerts, a second incident and a public update on top of the web tests' incident."""
    plan = dashboard.loaded.plan
    now = datetime.now(UTC)
    with dashboard.sessions() as session, session.begin():
        incident = service.get_incident(session, dashboard.incident_id)
        for n, title in enumerate(
            [
                f"110,000 dUSD left pool to {POOL[:6]}…{POOL[-4:]} in one transaction",
                "Price of dUSD on the pool moved 38% within one block (oracle manipulation)",
                "Attack contract deployed by a fresh address funded through a mixer",
            ]
        ):
            alert = AlertRecord(
                dedupe_key=f"layout-{n}",
                group_key="layout",
                rule="large-outflow" if n == 0 else "price-deviation",
                kind="exploit",
                stage=None,
                chain="mainnet",
                block_number=21_000_055 + n,
                block_hash="0x" + f"{n:02d}" * 32,
                block_time=now - timedelta(minutes=13),
                tx_hash="0x" + f"{n + 1:x}c" * 32,
                log_index=n,
                severity="critical",
                confidence="high",
                title=title,
                description="layout",
                addresses=[POOL],
                data={},
                first_seen=now - timedelta(minutes=10 - n),
                last_seen=now,
                count=1 + n,
                status="open",
            )
            session.add(alert)
            session.flush()
            attach_alert(session, plan, incident, alert)
        service.open_incident(
            session,
            plan,
            title="Oracle heartbeat missed on the dUSD/USD feed for more than two hours",
            kind="oracle",
            severity="P3",
            chains=["mainnet"],
            contracts=["pool"],
            detected_at=now - timedelta(days=2),
        )
        comms.publish_update(
            session,
            dashboard.incident_id,
            "identified",
            "Deposits paused",
            "We paused the pool; funds still in it are safe. Do not deposit until we say so. "
            f"Losses will be paid under our policy (Merkle root 0x{'1b9f' * 16}).",
            actor="pauser",
            plan=plan,
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dashboard, str]]:
    """The seeded dashboard served by uvicorn on a free loopback port, in a thread."""
    dashboard = build_dashboard(tmp_path_factory.mktemp("layout"), plan=PLAN + CHAINS)
    _seed(dashboard)
    with serve(dashboard.app) as base:
        yield dashboard, base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(autouse=True)
def _units() -> None:
    """The seeded token's unit, as the monitor would have read it (the cache is per test)."""
    remember_asset(chain="mainnet", address=USDC, info=AssetInfo("USDC", 6))


def _signed_in(browser: Browser, base: str, token: str, viewport: ViewportSize) -> Page:
    context = browser.new_context(viewport=viewport, is_mobile=viewport["width"] < 500)
    page = context.new_page()
    page.goto(f"{base}/login?next=%2Fincidents")
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/incidents")
    return page


def _shot(page: Page, directory: Path, name: str) -> Path:
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_the_dashboard_fits_a_390px_phone(
    served: tuple[Dashboard, str], browser: Browser, tmp_path: Path
) -> None:
    dashboard, base = served
    page = _signed_in(browser, base, dashboard.tokens["responder"], PHONE)
    pages = {
        "incidents-phone": "/incidents",
        "incident-phone": f"/incidents/{dashboard.incident_id}",
        "status-phone": "/status",
    }
    for name, path in pages.items():
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
        _shot(page, tmp_path, name)
        width = page_width(page)
        assert width <= PHONE["width"], (
            f"{path} scrolls sideways on a 390 px phone ({width} px wide): "
            f"{overflowing(page, PHONE['width'])}; screenshot in {tmp_path}"
        )
    page.context.close()


def test_the_incident_page_reads_in_words_with_explorer_links(
    served: tuple[Dashboard, str], browser: Browser, tmp_path: Path
) -> None:
    dashboard, base = served
    page = _signed_in(browser, base, dashboard.tokens["responder"], LAPTOP)
    page.goto(f"{base}/incidents/{dashboard.incident_id}")
    _shot(page, tmp_path, "incident-laptop")
    expect(page.locator("#incident-status")).to_have_text("Detected")
    expect(page.locator("#headline")).to_contain_text("Funds at risk")
    alerts = page.locator("#alerts")
    expect(alerts).to_contain_text("110,000 dUSD left pool")
    link = alerts.locator(f'a[href="{EXPLORER}/block/21000055"]')
    expect(link).to_have_text("block 21000055")
    tx = "0x" + "1c" * 32
    expect(alerts.locator(f'a[href="{EXPLORER}/tx/{tx}"]')).to_have_text("0x1c1c…1c1c")
    losses = page.locator("#losses")
    expect(losses).to_contain_text("1,500,000,000,000 USDC")  # 1.5e18 base units, 6 decimals
    body = page.locator("main").inner_text()
    for raw in ("awaiting-approval", "status=", "True", "None", "['"):
        assert raw not in body, f"the incident page shows {raw!r}"
    page.goto(f"{base}/incidents")
    _shot(page, tmp_path, "incidents-laptop")
    page.goto(f"{base}/status")
    _shot(page, tmp_path, "status-laptop")
    expect(page.locator("body")).to_contain_text("Are funds safe?")
    page.context.close()
