"""The incident timeline for people: one line per meaningful event.

The stored timeline (:mod:`breakglass.incidents.timeline`) keeps every phase of every playbook
step, which is what an audit needs and not what a reader wants: a pause is six rows there
(start, simulate, broadcast, receipt, verify, done) plus its transaction. This view collapses
the phases of one step, and the transaction it sent, into one row ("guardian paused pool —
tx 0x3952…0d49 in block 56, verified 0.2 s later"), keeps the phases as the row's detail for
whoever asks, and links transactions to the chain's explorer. It reads the rows only, never
writes, so the post-mortem, the CLI and the dashboard show the same lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from breakglass.analysis.assets import explorer_link

__all__ = ["StoredEvent", "TimelineRow", "people_timeline", "short_hash", "span_text"]

_PAST = {
    "pause": "paused",
    "unpause": "unpaused",
    "page": "paged",
    "notify": "notified",
    "revoke-role": "revoked a role on",
    "grant-role": "granted a role on",
    "safe-proposal": "proposed a Safe transaction on",
    "call": "called",
}
_FAILED = ("failed", "error", "aborted", "skipped", "cancelled")
_SEVERITY = re.compile(r"^P[1-5]$")
_LABELS = {"incident_lead": "incident lead", "safe_signer": "Safe signer"}


class StoredEvent(Protocol):
    """What the view reads of a stored timeline event (a ``TimelineEvent`` row)."""

    @property
    def id(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def actor(self) -> str | None: ...
    @property
    def summary(self) -> str: ...
    @property
    def tx_hash(self) -> str | None: ...
    @property
    def block_number(self) -> int | None: ...
    @property
    def data(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One line of the timeline for people, with the stored phases behind it as ``details``."""

    at: datetime
    kind: str
    text: str
    actor: str = ""
    chain: str | None = None
    block: int | None = None
    tx_hash: str | None = None
    tx_url: str | None = None
    details: tuple[str, ...] = ()
    event_ids: tuple[int, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (time as ISO 8601 UTC)."""
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "text": self.text,
            "actor": self.actor,
            "chain": self.chain,
            "block": self.block,
            "tx_hash": self.tx_hash,
            "tx_url": self.tx_url,
            "details": list(self.details),
            "event_ids": list(self.event_ids),
        }


def short_hash(tx_hash: str) -> str:
    """``0x3952…0d49``: a transaction hash short enough for a line of text."""
    return f"{tx_hash[:6]}…{tx_hash[-4:]}" if len(tx_hash) > 14 else tx_hash


def span_text(seconds: float) -> str:
    """``0.2 s``, ``12 s``, ``3 min 05 s``, ``2 h 04 min``: a duration for a sentence."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _label(name: str) -> str:
    return _LABELS.get(name, name.replace("_", " "))


def _value(value: object) -> str:
    """A stored detail value in words: no Python reprs (True, None, ['a', 'b'])."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None or value == "":
        return "none"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value) or "none"
    if isinstance(value, str) and value.startswith("0x") and len(value) == 66:
        return short_hash(value)
    return str(value)


def _phase_detail(event: StoredEvent) -> str:
    phase = str(event.data.get("phase", event.kind))
    detail = event.data.get("detail")
    parts = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("status", "note") and value in ("", None, "running", "done", "sent"):
                continue
            if isinstance(value, bool):
                parts.append(key.replace("_", " ") if value else f"not {key.replace('_', ' ')}")
                continue
            parts.append(f"{key.replace('_', ' ')} {_value(value)}")
    words = f"{event.at:%H:%M:%S.%f}"[:-3] + f" {phase}"
    return words + (f": {', '.join(parts)}" if parts else "")


def _step_name(event: StoredEvent) -> str:
    """The step's own words (``pause pool as guardian``) from a phase's summary."""
    phase = str(event.data.get("phase", ""))
    summary = event.summary
    cut = summary.find(f": {phase}") if phase else -1
    return summary[:cut] if cut > 0 else summary


def _who_did_what(action: str, name: str) -> str:
    """``pause pool as guardian`` → ``guardian paused pool``."""
    words = name.split(" as ", 1)
    what, who = (words[0], words[1]) if len(words) == 2 else (name, "")
    verb, _, target = what.partition(" ")
    past = _PAST.get(action) or _PAST.get(verb)
    if past is None:
        return f"{who}: {what}" if who else what
    target = _label(target) if action == "page" else target
    return f"{who or 'breakglass'} {past} {target}".strip()


def _outcome(phases: list[StoredEvent], tx_at: datetime | None) -> tuple[str, bool]:
    """The end of a step in words, and whether it failed."""
    by_phase = {str(p.data.get("phase")): p for p in phases}
    for bad in _FAILED:
        if bad in by_phase:
            detail = by_phase[bad].data.get("detail") or {}
            reason = detail.get("note") or detail.get("error") or detail.get("reason")
            return (f"{bad}: {reason}" if reason else bad), True
    verify = by_phase.get("verify")
    if verify is not None:
        detail = verify.data.get("detail") or {}
        if detail.get("holds") is False:
            return "verification failed", True
        start = tx_at or phases[0].at
        return f"verified {span_text((verify.at - start).total_seconds())} later", False
    last = phases[-1]
    if str(last.data.get("phase")) == "done":
        return "", False
    return f"{last.data.get('phase', 'in progress')} (not finished)", False


def _extra(action: str, phases: list[StoredEvent]) -> str:
    for phase in phases:
        detail = phase.data.get("detail") or {}
        if action == "page" and isinstance(detail.get("people"), list):
            return f" ({', '.join(str(p) for p in detail['people'])})"
        if action == "notify" and detail.get("message"):
            return f": “{detail['message']}”"
    return ""


def _step_row(
    phases: list[StoredEvent], txs: list[StoredEvent], chain: str | None, explorer: str | None
) -> TimelineRow:
    first = phases[0] if phases else txs[0]
    action = str(first.data.get("action", ""))
    outcome, failed = _outcome(phases, txs[0].at if txs else None) if phases else ("", False)
    if failed:  # "guardian paused pool" would say the opposite of what happened
        text = f"{_step_name(first)}: step"
    else:
        text = _who_did_what(action, _step_name(first)) if phases else first.summary
    text += _extra(action, phases)
    tx = txs[0] if txs else None
    tx_hash = tx.tx_hash if tx is not None else next((p.tx_hash for p in phases if p.tx_hash), None)
    block = tx.block_number if tx is not None else None
    if block is None:
        blocks = [(p.data.get("detail") or {}).get("block") for p in phases]
        block = next((b for b in blocks if isinstance(b, int)), None)
    line = text
    if tx_hash:
        line += f" — tx {short_hash(tx_hash)}" + (f" in block {block}" if block else "")
    if outcome:
        line += (", " if tx_hash else " — ") + outcome
    return TimelineRow(
        at=first.at,
        kind="action-failed" if failed else "action",
        text=line,
        actor=first.actor or "",
        chain=chain,
        block=block,
        tx_hash=tx_hash,
        tx_url=explorer_link(explorer, "tx", tx_hash) if tx_hash else None,
        details=tuple(_phase_detail(p) for p in phases)
        + tuple(f"transaction {t.tx_hash} in block {t.block_number}" for t in txs),
        event_ids=tuple(e.id for e in (*phases, *txs)),
    )


def _status_text(event: StoredEvent) -> str:
    data = event.data
    to = data.get("to")
    if to == "detected" and "from" not in data:
        grade = event.summary.removeprefix("incident opened: ").split(" ", 1)[0]
        return f"incident opened ({grade})" if _SEVERITY.match(grade) else "incident opened"
    if isinstance(to, str):
        note = data.get("note")
        text = f"incident {to.replace('-', ' ')}"
        if data.get("duplicate_of"):
            text += f" of #{data['duplicate_of']}"
        return text + (f" ({note})" if note else "")
    return event.summary


def _single(event: StoredEvent, chain: str | None, explorer: str | None) -> TimelineRow:
    data = event.data
    text = event.summary
    if event.kind == "alert":
        text = text.split("] ", 1)[-1] if text.startswith("[") else text
        severity = event.summary[1:].split("]", 1)[0] if event.summary.startswith("[") else ""
        text = f"{severity} alert: {text}".strip() if severity else f"alert: {text}"
        chain = str(data.get("chain") or chain or "") or None
    elif event.kind == "status":
        text = _status_text(event)
    elif event.kind == "comms":
        text = text.replace("public update (", "public update posted (", 1)
    elif event.kind == "tx":
        text = f"transaction {short_hash(event.tx_hash or '')}"
    tx_hash = event.tx_hash
    return TimelineRow(
        at=event.at,
        kind=event.kind,
        text=text,
        actor=(event.actor or "").removeprefix("rule:"),
        chain=chain,
        block=event.block_number,
        tx_hash=tx_hash,
        tx_url=explorer_link(explorer, "tx", tx_hash) if tx_hash else None,
        event_ids=(event.id,),
    )


def _roles(event: StoredEvent) -> str | None:
    roles = event.data.get("roles")
    if event.kind != "note" or not isinstance(roles, dict):
        return None
    return "roles: " + ", ".join(f"{_label(str(r))} {p}" for r, p in roles.items())


def people_timeline(
    events: Sequence[StoredEvent],
    *,
    chain: str | None = None,
    explorers: Mapping[str, str | None] | None = None,
    include_tasks: bool = False,
) -> list[TimelineRow]:
    """The stored ``events`` (oldest first) as lines for people.

    Args:
        events: an incident's stored timeline events.
        chain: the chain of actions and transactions whose events do not name one (the
            incident's chain when it has one).
        explorers: explorer base URL by chain name (the plan's ``chains.*.explorer``).
        include_tasks: keep action-item events (left out by default: they are the action
            items' own table, recorded long after the incident).

    Returns:
        Rows in time order: each playbook step (its phases and transaction) is one row, the
        roles given at opening are the opening row's detail.
    """
    links = explorers or {}
    steps: dict[tuple[object, object], tuple[list[StoredEvent], list[StoredEvent]]] = {}
    order: list[tuple[datetime, int, TimelineRow | tuple[object, object]]] = []
    roles: list[str] = []
    for position, event in enumerate(events):
        step = (event.data.get("run_id"), event.data.get("step_id"))
        if event.kind in ("action", "tx") and step[1] is not None:
            if step not in steps:
                steps[step] = ([], [])
                order.append((event.at, position, step))
            steps[step][0 if event.kind == "action" else 1].append(event)
            continue
        if event.kind == "task" and not include_tasks:
            continue
        role_text = _roles(event)
        if role_text is not None:
            roles.append(role_text)
            continue
        row = _single(event, chain, links.get(str(chain)) if event.kind != "alert" else None)
        if event.kind == "alert" and row.chain and row.tx_hash:
            row = _with_link(row, links.get(row.chain))
        order.append((event.at, position, row))
    rows: list[TimelineRow] = []
    for _at, _pos, item in sorted(order, key=lambda o: (o[0], o[1])):
        if isinstance(item, TimelineRow):
            rows.append(item)
        else:
            phases, txs = steps[item]
            rows.append(_step_row(phases, txs, chain, links.get(str(chain))))
    if roles:
        for i, row in enumerate(rows):
            if row.kind == "status" and row.text.startswith("incident opened"):
                rows[i] = _replace(row, details=row.details + tuple(roles))
                break
    return rows


def _with_link(row: TimelineRow, explorer: str | None) -> TimelineRow:
    url = explorer_link(explorer, "tx", row.tx_hash) if row.tx_hash else None
    return _replace(row, tx_url=url)


def _replace(row: TimelineRow, **changes: Any) -> TimelineRow:
    return replace(row, **changes)
