"""Finding 19: the public status page, its JSON and its Atom feed named incidents and updates
by their sequential database ids, telling anyone how many incidents (public or not) there
were. Now they carry a random public id."""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from breakglass.incidents import comms, service

_spec = importlib.util.spec_from_file_location(
    "api_fixtures_public_ids", Path(__file__).parents[1] / "api" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixtures
_spec.loader.exec_module(_fixtures)
build_api = _fixtures.build_api


def test_the_public_feed_does_not_expose_sequential_ids(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    plan = api.loaded.plan
    with api.sessions() as session, session.begin():
        ids = []
        for n in range(3):  # two internal incidents, then one that goes public
            incident = service.open_incident(
                session,
                plan,
                title=f"internal {n}",
                kind="exploit",
                severity="P2",
                chains=[],
                contracts=[],
                detected_at=datetime.now(UTC),
            )
            ids.append(incident.id)
        for status in ("investigating", "identified"):
            comms.publish_update(
                session, ids[-1], status, "Oracle issue", "Funds safe.", actor="lead"
            )
    with TestClient(api.app) as client:
        document = client.get("/status.json").json()
        atom = client.get("/feed.atom").text
        html = client.get("/status").text
    (entry,) = document["incidents"]
    assert re.fullmatch(r"[0-9a-f]{16}", entry["id"])
    assert [u["id"] for u in entry["updates"]] == [f"{entry['id']}-2", f"{entry['id']}-1"]
    assert f"Incident {entry['id']}:" in atom
    # A public id is random hex and may itself start with a 3: look for the number alone.
    assert not re.search(r"Incident 3\b", atom) and '"id": 3' not in str(document)
    for text in (atom, html):
        assert not re.search(r"(?:#|incident[ /:]|\bid\b\W+)3\b", text, re.IGNORECASE)
    # stable across reads, so links and feed readers keep working
    with TestClient(api.app) as client:
        assert client.get("/status.json").json()["incidents"][0]["id"] == entry["id"]
