"""The public status page: ``index.html``, ``status.json`` and ``feed.atom`` in one directory.

Only :class:`~breakglass.store.models.PublicUpdate` rows reach it: their status, title, body
and time. Incidents are used only to group updates; their internal titles, severities, notes,
tasks, alerts and authors never appear, nor do the database's sequential ids (which would
tell a reader how many incidents there were, public or not): an incident is named by its
random ``public_id``, an update by that and its position. Every file is static (no
JavaScript) and written atomically, so a web server or a bucket sync never sees half a page.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.analysis.assets import explorer_link
from breakglass.incidents.comms import public_updates
from breakglass.outputs import output_dir, writing
from breakglass.plan.models import Plan
from breakglass.store.models import Incident, PublicUpdate

__all__ = [
    "ATOM_NS",
    "STATUSES",
    "public_content",
    "public_id_of",
    "render_atom",
    "render_html",
    "render_json",
    "render_status_page",
    "status_document",
    "write_atomically",
]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
ATOM_NS = "http://www.w3.org/2005/Atom"
STATUSES = ("investigating", "identified", "monitoring", "resolved")
"""The public update statuses, in the order an incident goes through them."""

# Characters XML 1.0 forbids (C0 controls but tab/newline/return, surrogates, U+FFFE/FFFF):
# ElementTree would write them and produce a feed no reader parses, so they are dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def public_id_of(incident: Incident) -> str:
    """What the status page calls ``incident``: its random ``public_id``, or for a row
    written without one, a digest of internal fields a reader cannot enumerate."""
    if incident.public_id:
        return incident.public_id
    seed = f"{incident.id}:{incident.detected_at.isoformat()}:{incident.title}"
    return hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _minute(iso: str | None) -> str:
    """``2026-11-23 12:30 UTC`` from the page's ISO times: what a reader needs, no more."""
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_env.filters["minute"] = _minute

_CONTAINED = frozenset({"contained", "eradicated"})
_OVER = frozenset({"recovered", "closed", "false-positive", "duplicate"})


def _answers(incident: Incident, latest: PublicUpdate, plan: Plan | None) -> dict[str, Any]:
    """What users ask first: are funds safe, what should I do, what is affected, and when
    the next update comes. Derived from the incident's lifecycle state (never its internal
    text) and the plan's public facts: contract addresses, explorers, update cadence."""
    resolved = latest.status == "resolved" or incident.status in _OVER
    if resolved:
        safe = "Yes. The incident is resolved."
        advice = "No action is needed unless an update below says otherwise."
    elif incident.status in _CONTAINED or latest.status == "monitoring":
        # Once the team monitors, its update has said what was lost ("Losses measured"):
        # "being measured" beneath it would contradict it.
        losses = (
            "The updates below say what was lost, if anything."
            if latest.status == "monitoring"
            else "Losses, if any, are being measured."
        )
        safe = (
            "The attack is contained: funds still in the affected contracts are no longer "
            f"at risk. {losses}"
        )
        advice = "Do not interact with the affected contracts until an update says it is safe."
    else:
        safe = (
            "Not confirmed yet. The latest update below says what we know; this answer "
            "changes as soon as the response team confirms the attack is contained."
        )
        advice = "Do not interact with the affected contracts until an update says it is safe."
    contracts = []
    for name in incident.contracts or ():
        contract = plan.contracts.get(name) if plan is not None else None
        if contract is None:
            continue  # only what the plan can name publicly, with its address
        chain = plan.chains.get(contract.chain) if plan is not None else None
        contracts.append(
            {
                "name": name,
                "chain": contract.chain,
                "address": contract.address,
                "link": explorer_link(
                    chain.explorer if chain else None, "address", contract.address
                ),
            }
        )
    # The lead's promise (set by the desk and the reminders) first, else the plan's cadence.
    cadence = plan.communication.update_cadence if plan and plan.communication else None
    promised = incident.next_update_at
    if promised is None and cadence is not None:
        promised = latest.published_at + cadence
    next_update = None if resolved or promised is None else _iso(promised)
    return {
        "funds_safe": safe,
        "what_to_do": advice,
        "chains": list(incident.chains or ()),
        "contracts": contracts,
        "next_update_at": next_update,
    }


def status_document(
    protocol: str,
    updates: Sequence[PublicUpdate],
    incidents: Sequence[Incident],
    *,
    now: datetime | None = None,
    plan: Plan | None = None,
) -> dict[str, Any]:
    """The public content as plain data: per incident that has public updates, its current
    public status, the answers users need first (:func:`_answers`; affected contracts and
    the next update need ``plan``) and its updates, newest first. Incidents without a public
    update are left out (not disclosed); of an incident's own record only its lifecycle
    state, chains and contract names are used."""
    public_ids = {incident.id: public_id_of(incident) for incident in incidents}
    by_id = {incident.id: incident for incident in incidents}
    grouped: dict[int, list[PublicUpdate]] = {}
    for update in sorted(updates, key=lambda u: (u.published_at, u.id)):
        if update.incident_id in public_ids:
            grouped.setdefault(update.incident_id, []).append(update)
    entries: list[dict[str, Any]] = []
    for incident_id, items in grouped.items():
        latest = items[-1]
        public_id = public_ids[incident_id]
        entries.append(
            {
                "id": public_id,
                "status": latest.status,
                "title": _clean(latest.title),
                "started_at": _iso(items[0].published_at),
                "updated_at": _iso(latest.published_at),
                "resolved": latest.status == "resolved",
                **_answers(by_id[incident_id], latest, plan),
                "updates": [
                    {
                        "id": f"{public_id}-{position}",
                        "status": u.status,
                        "title": _clean(u.title),
                        "body": _clean(u.body),
                        "published_at": _iso(u.published_at),
                    }
                    for position, u in reversed(list(enumerate(items, start=1)))
                ],
            }
        )
    # Ongoing incidents first, then the most recently updated.
    entries.sort(key=lambda e: e["updated_at"], reverse=True)
    entries.sort(key=lambda e: e["resolved"])
    active = [e for e in entries if not e["resolved"]]
    updated: str | None = max((str(e["updated_at"]) for e in entries), default=None)
    return {
        "protocol": _clean(protocol),
        "status": "incident" if active else "operational",
        "updated_at": updated or _iso(now or datetime.now(UTC)),
        "incidents": entries,
    }


def render_html(document: dict[str, Any]) -> str:
    """``index.html``: static, no JavaScript; every text is escaped by autoescape."""
    return _env.get_template("status.html.j2").render(doc=document)


_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def render_json(document: dict[str, Any]) -> str:
    """``status.json``: the document, ASCII-only so no reader trips on an encoding, with
    ``<``, ``>`` and ``&`` as ``\\u`` escapes so it stays inert even if pasted into HTML."""
    text = json.dumps(document, indent=2, ensure_ascii=True)
    for char, escaped in _JSON_ESCAPES.items():
        text = text.replace(char, escaped)  # only ever inside strings: JSON has no bare <>&
    return text + "\n"


def _feed_id(protocol: str, suffix: str = "") -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"breakglass:status:{protocol}{suffix}").urn


def render_atom(document: dict[str, Any]) -> bytes:
    """``feed.atom``: one entry per public update; built with ElementTree, so every text
    is XML-escaped."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        element.text = text
        return element

    protocol = document["protocol"]
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", _feed_id(protocol))
    sub(feed, "title", f"{protocol} status")
    sub(feed, "updated", document["updated_at"])
    author = sub(feed, "author")
    sub(author, "name", protocol)
    sub(feed, "generator", "breakglass")
    updates = [
        (incident, update) for incident in document["incidents"] for update in incident["updates"]
    ]
    updates.sort(key=lambda pair: (pair[1]["published_at"], pair[1]["id"]), reverse=True)
    for incident, update in updates:
        entry = sub(feed, "entry")
        sub(entry, "id", _feed_id(protocol, f":update:{update['id']}"))
        sub(entry, "title", f"[{update['status']}] {update['title']}")
        sub(entry, "updated", update["published_at"])
        sub(entry, "published", update["published_at"])
        sub(entry, "category", term=update["status"])
        sub(entry, "summary", _atom_summary(incident))
        sub(entry, "content", update["body"], type="text")
    ET.indent(feed)
    data: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _atom_summary(incident: dict[str, Any]) -> str:
    """The incident's answers in one paragraph, as a feed reader shows an entry."""
    parts = [f"Incident {incident['id']}: {incident['title']}."]
    parts.append(f"Are funds safe? {incident['funds_safe']}")
    parts.append(f"What to do: {incident['what_to_do']}")
    affected = ", ".join(
        f"{c['name']} {c['address']} ({c['chain']})" for c in incident["contracts"]
    )
    if affected:
        parts.append(f"Affected: {affected}.")
    elif incident["chains"]:
        parts.append(f"Affected chains: {', '.join(incident['chains'])}.")
    if incident["next_update_at"]:
        parts.append(f"Next update by {_minute(incident['next_update_at'])}.")
    return " ".join(parts)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a
    rename, so readers see the old file or the new one, never a part."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def render_status_page(
    protocol: str,
    updates: list[PublicUpdate],
    incidents: list[Incident],
    out_dir: Path,
    *,
    now: datetime | None = None,
    plan: Plan | None = None,
) -> list[Path]:
    """Write ``index.html``, ``status.json`` and ``feed.atom`` into ``out_dir`` (created if
    missing), each atomically, and return their paths. ``now`` dates an empty page; ``plan``
    names the affected contracts and the update cadence."""
    document = status_document(protocol, updates, incidents, now=now, plan=plan)
    output_dir(out_dir)
    files = {
        "index.html": render_html(document).encode("utf-8"),
        "status.json": render_json(document).encode("utf-8"),
        "feed.atom": render_atom(document),
    }
    paths = []
    for name, data in files.items():
        path = out_dir / name
        with writing(path):
            write_atomically(path, data)
        paths.append(path)
    return paths


def public_content(session: Session) -> tuple[list[PublicUpdate], list[Incident]]:
    """Every public update and the incidents they belong to: all a status page may show."""
    updates = public_updates(session)
    ids = sorted({update.incident_id for update in updates})
    incidents = list(session.scalars(select(Incident).where(Incident.id.in_(ids)))) if ids else []
    return updates, incidents
