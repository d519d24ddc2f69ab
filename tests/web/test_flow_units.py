"""The incident page's fund-flow legend speaks in the token's unit kept in the database
("400,000 dUSD"), not in base units of an address."""

from __future__ import annotations

from fastapi.testclient import TestClient

from breakglass.analysis.assets import AssetInfo
from breakglass.analysis.unit_store import keep_units
from breakglass.incidents import evidence

from .conftest import Dashboard
from .test_pages import sign_in

DUSD = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


def test_fund_flow_legend_in_token_units(dashboard: Dashboard, client: TestClient) -> None:
    with dashboard.sessions() as session, session.begin():
        evidence.add_fund_movement(
            session,
            dashboard.incident_id,
            chain="mainnet",
            origin="0x" + "ab" * 20,
            tx_hash="0x" + "ce" * 32,
            asset=DUSD,
            amount=str(400_000 * 10**18),
            destination="0x" + "ee" * 20,
            destination_kind="unknown",
            usd_value=400_000.0,
        )
        keep_units(session, {("mainnet", DUSD): AssetInfo("dUSD", 18)})
    sign_in(client, dashboard.tokens["viewer"])
    html = client.get(f"/incidents/{dashboard.incident_id}").text
    figure = html[html.index('<figure class="flow">') : html.index("</figure>")]
    assert "400,000" in figure and "dUSD" in figure, figure
    assert str(400_000 * 10**18) not in figure
