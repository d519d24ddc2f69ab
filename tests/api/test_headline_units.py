"""The API's and the dashboard's headline read a token's unit from the chain themselves (a real
OpenZeppelin token on anvil: ``aUSD``, 18 decimals) when no one in the process read it before,
so losses read ``1.5 aUSD``, not base units of an address."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from breakglass.analysis import assets
from breakglass.api.tokens import create_token
from breakglass.devchain import Anvil
from breakglass.incidents import service
from breakglass.plan.loader import load_plan
from breakglass.server import create_app
from breakglass.store.models import UserLoss
from breakglass.web.auth import SESSION_COOKIE
from breakglass.web.sessions import start_session

pytestmark = pytest.mark.chain


def _respond_fixtures() -> ModuleType:
    name = "breakglass_tests_respond_conftest_units"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "respond" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


_fixtures = _respond_fixtures()
token = _fixtures.token
sessions = _fixtures.sessions


def test_headline_reads_the_token_unit_from_the_chain(
    anvil: Anvil, token: Any, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "breakglass.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            protocol: Test Protocol
            people: {{alice: {{name: Alice}}}}
            roles: {{incident_lead: [alice]}}
            chains:
              local: {{chain_id: 31337, rpc: ["{anvil.http_url}"]}}
              dead: {{chain_id: 5, rpc: ["http://127.0.0.1:9"]}}
            """
        )
    )
    loaded = load_plan(path)
    with sessions() as session, session.begin():
        incident = service.open_incident(
            session,
            loaded.plan,
            title="Pool drained",
            kind="exploit",
            severity="P1",
            chains=["local"],
            contracts=[],
            detected_at=datetime.now(UTC),
        )
        for chain in ("local", "dead"):  # the dead chain's node does not answer
            session.add(
                UserLoss(
                    incident_id=incident.id,
                    chain=chain,
                    address="0x" + "12" * 20,
                    asset=token.address,
                    amount=str(15 * 10**17),
                    usd_value=None,
                    detail={},
                )
            )
        api_token = create_token(session, loaded.plan, "alice")
        opened = start_session(session, plan=loaded.plan, token=api_token)
        assert opened is not None
        incident_id = incident.id
    assert assets.cached_asset(chain="local", address=token.address) is None
    client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)

    answer = client.get(
        f"/api/incidents/{incident_id}", headers={"Authorization": f"Bearer {api_token}"}
    )
    assert answer.status_code == 200, answer.text
    lost = answer.json()["headline"]["lost"]
    assert lost == f"1,500,000,000,000,000,000 base units of {token.address.lower()}, 1.5 aUSD"
    assert assets.cached_asset(chain="local", address=token.address) == assets.AssetInfo("aUSD", 18)

    client.cookies.set(SESSION_COOKIE, opened[0])
    page = client.get(f"/incidents/{incident_id}").text
    assert "<dt>Lost</dt><dd>1,500,000,000,000,000,000 base units of" in page
    assert "1.5 aUSD</dd>" in page
