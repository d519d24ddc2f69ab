"""Finding 18: an incident title like ``[x](javascript:…)`` stayed a live link in the
post-mortem's Markdown. Every interpolated text is now escaped, links included."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import markdown

from breakglass import store
from breakglass.incidents import service
from breakglass.plan import load_plan
from breakglass.report.postmortem import postmortem_document, render_markdown
from breakglass.report.postmortem_notes import HumanNotes

HOSTILE = [
    "[click me](javascript:alert(document.cookie))",
    "![img](http://evil.example/x.png)",
    "\\[escaped](javascript:alert(2))",
    "<javascript:alert(3)> <a href='javascript:alert(4)'>a</a>",
    "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ \x1b[2J",
]


def test_hostile_titles_and_notes_produce_no_live_link(tmp_path: Path) -> None:
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(
        "protocol: Acme\npeople: {lea: {name: Lea}}\nroles: {incident_lead: [lea]}\n"
    )
    plan = load_plan(plan_file).plan
    url = f"sqlite:///{tmp_path / 'pm.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as session, session.begin():
        incident = service.open_incident(
            session,
            plan,
            title=" ".join(HOSTILE),
            kind="exploit",
            severity="P1",
            chains=[],
            contracts=[],
            detected_at=datetime.now(UTC),
            summary=HOSTILE[0],
        )
        for text in HOSTILE:
            service.add_note(session, incident.id, text, actor="lea")
        notes = HumanNotes(summary=HOSTILE[0], root_cause=HOSTILE[2], went_well=HOSTILE[:2])
        document = postmortem_document(
            session, incident.id, notes, plan=plan, now=datetime.now(UTC)
        )
    text = render_markdown(document)
    assert "\x1b" not in text
    html = markdown.markdown(text, extensions=["tables"])
    assert not re.search(r"<a\b|<img\b", html), html
    assert "click me" in html  # the text stays readable
