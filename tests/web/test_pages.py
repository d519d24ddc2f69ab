"""The dashboard without a browser: every route declares its permission, sign-in sets a
strict HttpOnly cookie, viewers see no actions and cannot post, hostile text is escaped, and
forms need the CSRF token."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from breakglass.api.security import permission_of
from breakglass.web.auth import SESSION_COOKIE, WebPublic, WebRequires, csrf_for

from .conftest import HOSTILE, Dashboard


def sign_in(client: TestClient, token: str) -> None:
    """Sign in through the form, as a browser does."""
    form = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = client.post(
        "/login",
        data={"token": token, "csrf_token": csrf.group(1), "next": "/incidents"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def test_every_web_route_declares_a_permission(dashboard: Dashboard) -> None:
    seen = {}
    for route in dashboard.app.routes:
        assert isinstance(route, APIRoute)
        is_web = route.endpoint.__module__.startswith("breakglass.web.")
        api_or_public = route.path.startswith(("/api/", "/status", "/feed.atom", "/openapi"))
        assert is_web != api_or_public, route.path
        if not is_web:
            continue
        permission = permission_of(route)
        assert isinstance(permission, WebPublic | WebRequires), route.path
        for method in route.methods or ():
            seen[(method, route.path)] = permission.name
    posts = {path: need for (method, path), need in seen.items() if method == "POST"}
    assert posts == {
        "/login": "public",
        "/logout": "viewer",
        "/incidents/{incident_id}/acknowledge": "responder",
        "/incidents/{incident_id}/transition": "responder",
        "/incidents/{incident_id}/notes": "responder",
        "/incidents/{incident_id}/words": "responder",
        "/incidents/{incident_id}/updates": "responder",
        "/steps/{step_id}/approve": "responder",
        "/steps/{step_id}/tick": "responder",
    }
    for (method, path), need in seen.items():
        if method == "GET" and path not in ("/", "/login", "/static/{name}"):
            assert need == "viewer", path


def test_pages_need_a_session(dashboard: Dashboard, client: TestClient) -> None:
    answer = client.get(f"/incidents/{dashboard.incident_id}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=%2Fincidents%2F")
    client.cookies.set(SESSION_COOKIE, "not-a-token")
    assert client.get("/plan", follow_redirects=False).status_code == 303
    # A bearer token is not a session: the dashboard reads only its cookie.
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {dashboard.tokens['admin']}"}
    assert client.get("/drills", headers=bearer, follow_redirects=False).status_code == 303


def test_sign_in_sets_a_strict_http_only_cookie(dashboard: Dashboard, client: TestClient) -> None:
    form = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    bad = client.post("/login", data={"token": "nope", "csrf_token": csrf.group(1)})
    assert bad.status_code == 401 and "not valid" in bad.text
    answer = client.post(
        "/login",
        data={"token": dashboard.tokens["viewer"], "csrf_token": csrf.group(1), "next": "//evil"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/incidents"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/incidents").status_code == 200
    logout = client.post("/logout", data={"csrf_token": csrf_for(client.cookies[SESSION_COOKIE])})
    assert logout.url.path == "/login"
    assert client.get("/incidents", follow_redirects=False).status_code == 303


def test_sign_in_needs_the_form_token(dashboard: Dashboard, client: TestClient) -> None:
    client.get("/login")
    answer = client.post("/login", data={"token": dashboard.tokens["admin"], "csrf_token": "x"})
    assert answer.status_code == 401 and "expired" in answer.text
    assert SESSION_COOKIE not in client.cookies


def test_viewer_sees_no_actions_and_cannot_post(dashboard: Dashboard, client: TestClient) -> None:
    sign_in(client, dashboard.tokens["viewer"])
    iid = dashboard.incident_id
    html = client.get(f"/incidents/{iid}").text
    assert "Pool drained" in html and "waiting for approval" in html
    headline = html[html.index('id="headline"') : html.index("</dl>", html.index('id="headline"'))]
    assert "<dt>Funds at risk</dt>" in headline and "<dt>Time to contain</dt>" in headline
    assert "n/a" not in headline
    for action in ("Acknowledge", "Approve", "Publish update", "Add note", "Transition"):
        assert f">{action}</button>" not in html
    csrf = csrf_for(client.cookies[SESSION_COOKIE])
    for path in (
        f"/incidents/{iid}/acknowledge",
        f"/incidents/{iid}/notes",
        f"/incidents/{iid}/updates",
        f"/steps/{dashboard.step_id}/approve",
    ):
        answer = client.post(path, data={"csrf_token": csrf, "text": "x", "incident_id": iid})
        assert answer.status_code == 403, path
        assert "viewer access; this needs responder" in answer.text


def test_responder_acts_with_the_csrf_token(dashboard: Dashboard, client: TestClient) -> None:
    sign_in(client, dashboard.tokens["responder"])
    iid = dashboard.incident_id
    html = client.get(f"/incidents/{iid}").text
    assert ">Acknowledge</button>" in html and ">Approve</button>" in html
    csrf = csrf_for(client.cookies[SESSION_COOKIE])
    assert f'value="{csrf}"' in html
    missing = client.post(f"/incidents/{iid}/notes", data={"text": "hello"})
    assert missing.status_code == 403 and "CSRF" in missing.text
    wrong = client.post(f"/incidents/{iid}/notes", data={"text": "hi", "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    as_json = client.post(f"/incidents/{iid}/notes", json={"text": "hi", "csrf_token": csrf})
    assert as_json.status_code == 403
    done = client.post(f"/incidents/{iid}/notes", data={"text": "hello", "csrf_token": csrf})
    assert done.status_code == 200 and "hello" in done.text
    ack = client.post(f"/incidents/{iid}/acknowledge", data={"csrf_token": csrf})
    assert "Acknowledged</dt><dd>20" in ack.text
    moved = client.post(f"/incidents/{iid}/transition", data={"csrf_token": csrf, "to": "triaged"})
    assert 'id="incident-status">Triaged' in moved.text
    refused = client.post(f"/incidents/{iid}/transition", data={"csrf_token": csrf, "to": "closed"})
    assert refused.status_code == 409 and 'role="alert"' in refused.text
    empty = client.post(f"/incidents/{iid}/notes", data={"text": "", "csrf_token": csrf})
    assert empty.status_code == 400


def test_hostile_text_is_escaped(dashboard: Dashboard, client: TestClient) -> None:
    sign_in(client, dashboard.tokens["responder"])
    iid = dashboard.incident_id
    csrf = csrf_for(client.cookies[SESSION_COOKIE])
    client.post(
        f"/incidents/{iid}/updates",
        data={"csrf_token": csrf, "status": "investigating", "title": HOSTILE, "body": HOSTILE},
    )
    pages = [
        client.get("/incidents").text,
        client.get(f"/incidents/{iid}").text,
        client.get(f"/incidents/{iid}/timeline").text,
        client.get(f"/login?next={HOSTILE}&error={HOSTILE}").text,
    ]
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in pages[1]
    assert "<svg" in pages[1]  # the fund-flow picture, its labels escaped too


@pytest.mark.parametrize("path", ["/incidents", "/plan", "/drills", "/incidents?severity=P1"])
def test_viewer_pages_render(dashboard: Dashboard, client: TestClient, path: str) -> None:
    sign_in(client, dashboard.tokens["viewer"])
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_filters_and_missing_incident(dashboard: Dashboard, client: TestClient) -> None:
    sign_in(client, dashboard.tokens["viewer"])
    link = f'href="/incidents/{dashboard.incident_id}"'
    assert link in client.get("/incidents?status=detected&severity=P1").text
    assert link not in client.get("/incidents?severity=P3").text
    assert link not in client.get("/incidents?status=closed").text
    missing = client.get("/incidents/999999")
    assert missing.status_code == 404 and "<html" in missing.text
    api = client.get("/api/incidents/999999", headers={"Authorization": "Bearer x"})
    assert api.headers["content-type"] == "application/json"


def test_regulatory_clocks_count_down(dashboard: Dashboard, client: TestClient) -> None:
    sign_in(client, dashboard.tokens["viewer"])
    html = client.get(f"/incidents/{dashboard.incident_id}").text
    clocks = html[html.index('id="clocks"') : html.index('id="steps"')]
    assert "gdpr" in clocks and "notification" in clocks
    assert 'class="countdown" data-due="' in clocks and "status-due" in clocks
    # The time left reads in the one duration format (analysis.headline.span_text).
    left = re.findall(r'class="countdown" data-due="[^"]+">([^<]+)<', clocks)
    assert left and all(re.fullmatch(r"-?\d+ (d \d\d h|h \d\d min)", t) for t in left), left


def test_plan_page_shows_checks_and_coverage(dashboard: Dashboard, client: TestClient) -> None:
    sign_in(client, dashboard.tokens["viewer"])
    html = client.get("/plan").text
    assert "Checks" in html and "Scenario coverage" in html
    assert "status-fail" in html or "status-warn" in html


def test_static_files_are_public(client: TestClient) -> None:
    assert client.get("/static/dashboard.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/dashboard.js").status_code == 200
    assert client.get("/static/..%2Fauth.py").status_code in (404, 422)
    assert client.get("/static/nope.css").status_code == 404
