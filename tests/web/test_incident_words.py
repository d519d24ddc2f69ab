"""The incident lead writes the title and summary readers see from the dashboard; until then
the page shows generated ones and says so. Anyone else is refused, naming the lead."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from breakglass.web.auth import SESSION_COOKIE

from .conftest import Dashboard
from .test_pages import sign_in


def _form(client: TestClient, incident_id: int) -> dict[str, str]:
    html = client.get(f"/incidents/{incident_id}").text
    fields = {}
    for name in ("csrf_token", "shown_title", "shown_summary"):
        found = re.search(rf'name="{name}" value="([^"]*)"', html)
        assert found is not None, name
        fields[name] = found.group(1)
    return fields


def test_the_lead_writes_the_title_and_summary(dashboard: Dashboard, client: TestClient) -> None:
    iid = dashboard.incident_id
    sign_in(client, dashboard.tokens["responder"])  # pauser: not the incident lead
    html = client.get(f"/incidents/{iid}").text
    assert "(generated: the incident lead writes them)" in html
    form = _form(client, iid)
    refused = client.post(
        f"/incidents/{iid}/words", data=form | {"title": "Pool paused", "summary": "x"}
    )
    assert refused.status_code == 400 and "only the incident lead (lead)" in refused.text

    client.cookies.delete(SESSION_COOKIE)
    sign_in(client, dashboard.tokens["admin"])  # lead holds incident_lead
    form = _form(client, iid)
    done = client.post(
        f"/incidents/{iid}/words",
        data=form
        | {
            "title": "Lending pool paused after a price manipulation",
            "summary": form["shown_summary"],
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    page = client.get(f"/incidents/{iid}").text
    assert "<h1>Lending pool paused after a price manipulation</h1>" in page
    assert "(generated: the incident lead writes them)" not in page
    assert "title written by lead" in page  # the timeline keeps who wrote it
