"""The post-mortem as a PDF, laid out with reportlab's platypus.

Every text goes through :func:`_p`, which escapes ``&``, ``<`` and ``>`` before reportlab's
Paragraph markup parser sees it, so stored or written text can never inject markup.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Flowable,
    ListFlowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from breakglass.report.postmortem_chart import flow_drawing, timeline_drawing

__all__ = ["render_pdf"]

_styles = getSampleStyleSheet()
_BODY = _styles["BodyText"]
_CELL = ParagraphStyle("cell", parent=_BODY, fontSize=7, leading=8.5, wordWrap="CJK")
_PROMPT = ParagraphStyle(
    "prompt", parent=_BODY, textColor=colors.grey, fontName="Helvetica-Oblique"
)
_WIDTH = A4[0] - 36 * mm


def _p(text: object, style: ParagraphStyle = _BODY) -> Paragraph:
    """A paragraph of plain text: markup characters escaped, newlines kept."""
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _table(header: list[str], rows: list[list[object]], widths: list[float]) -> Flowable:
    if not rows:
        return _p("None recorded.", _PROMPT)
    data = [[_p(h, _CELL) for h in header]] + [[_p(c, _CELL) for c in row] for row in rows]
    total = sum(widths)
    table = Table(data, colWidths=[_WIDTH * w / total for w in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _items(values: list[str], prompt: str, *, numbered: bool = False) -> Flowable:
    if not values:
        return _p(prompt, _PROMPT)
    return ListFlowable([_p(v) for v in values], bulletType="1" if numbered else "bullet")


def _text(value: str, prompt: str) -> Paragraph:
    return _p(value) if value else _p(prompt, _PROMPT)


def _header(doc: dict[str, Any]) -> list[Flowable]:
    meta = doc["meta"]
    incident = f"#{meta['id']} ({meta['kind']}, {meta['severity']}, {meta['incident_status']})"
    rows: list[list[object]] = [
        ["incident", incident],
        ["post-mortem status", f"{meta['status']} (draft, in-review, published)"],
        ["updated", meta["updated_at"]],
        ["published", meta["published_at"] or "not yet"],
        ["generated", meta["generated_at"]],
        ["chains", meta["chains"]],
        ["contracts", meta["contracts"]],
    ]
    rows += [[f"role: {r['role']}", f"{r['person']} (from {r['from']})"] for r in meta["roles"]]
    title = _p(f"Post-mortem: {meta['title']}", _styles["Title"])
    return [title, _table(["field", "value"], rows, [1, 3])]


def _cols(rows: list[dict[str, Any]], cols: list[str]) -> list[list[object]]:
    return [[row[c] if row[c] is not None else "" for c in cols] for row in rows]


def _summary(doc: dict[str, Any]) -> list[Flowable]:
    return [_text(doc["summary"], "Write the summary in the notes file.")]


def _impact(doc: dict[str, Any]) -> list[Flowable]:
    cols = ["chain", "asset", "users", "lost", "lost_usd", "moved", "recovered", "frozen",
            "partial", "unrecovered", "distributed"]  # fmt: skip
    widths = [1.2, 2.4, 0.7, 1.5, 1.2, 1.5, 1.5, 1, 1, 1.5, 1.5]
    return [
        _p(
            f"Funds at risk: {doc['impact']['at_risk_usd']}. Amounts in the asset's unit "
            "where its decimals are known, else in base units."
        ),
        _table(cols, _cols(doc["impact"]["rows"], cols), widths),
    ]


def _timeline(doc: dict[str, Any]) -> list[Flowable]:
    chart = doc["chart"]
    cols = ["at", "kind", "actor", "summary", "tx_hash", "block"]
    return [
        timeline_drawing(chart["events"], chart["incident"], _WIDTH),
        Spacer(1, 4),
        _table(cols, _cols(doc["timeline"], cols), [2.2, 1, 1.2, 4, 3, 1]),
    ]


def _detection(doc: dict[str, Any]) -> list[Flowable]:
    det = doc["detection"]
    story = [
        _p(f"Exploit started: {det['started_at']}. Detected: {det['detected_at']}."),
        _p(f"Time to detect: {det['time_to_detect']}. Alerts: {det['alerts']}."),
    ]
    if det["first_alert"]:
        story.append(_p(f"First alert: {det['first_alert']}"))
    return story


def _root_cause(doc: dict[str, Any]) -> list[Flowable]:
    return [
        _text(doc["root_cause"], "Describe the root cause in the notes file."),
        _p("5 whys:"),
        _items(doc["five_whys"], "Ask why five times in the notes file.", numbered=True),
    ]


def _response(doc: dict[str, Any]) -> list[Flowable]:
    return [_table(["measure", "value"], _cols(doc["response"], ["measure", "value"]), [1, 1])]


def _evidence(doc: dict[str, Any]) -> list[Flowable]:
    ev = doc["evidence"]
    cols = ["chain", "tx_hash", "origin", "destination", "destination_kind", "asset", "amount",
            "usd", "recovery_status"]  # fmt: skip
    story = [
        _p("Affected addresses", _styles["Heading4"]),
        _table(["chain", "address", "status", "note"],
               _cols(ev["addresses"], ["chain", "address", "status", "note"]), [1, 3, 1, 3]),
        _p("Fund movements", _styles["Heading4"]),
        _table(cols, _cols(ev["movements"], cols), [1, 2.5, 2, 2, 1.2, 2, 1.5, 1, 1.3]),
    ]  # fmt: skip
    if doc["movement_rows"]:
        story.append(flow_drawing(doc["movement_rows"], _WIDTH))
    story += [
        _p("Attacker", _styles["Heading4"]),
        _table(["kind", "value", "note"], _cols(ev["attacker"], ["kind", "value", "note"]),
               [1, 3, 3]),
    ]  # fmt: skip
    return story


def _recovery(doc: dict[str, Any]) -> list[Flowable]:
    rec = doc["recovery"]
    story: list[Flowable] = [_p(rec["note"])] if rec["note"] else []
    if rec["policy"]:
        story.append(_p("Written policy", _styles["Heading4"]))
        story.append(_table(["rule", "value"], _cols(rec["policy"], ["rule", "value"]), [1, 3]))
    cols = ["token", "lost", "entitled", "distributed", "verdict"]
    story.append(_table(cols, _cols(rec["tokens"], cols), [3, 2, 2, 2, 2]))
    return story


def _actions(doc: dict[str, Any]) -> list[Flowable]:
    cols = ["id", "title", "owner", "due", "kind", "source", "status", "plan_section"]
    widths = [0.5, 4, 1.2, 2, 1.2, 1.2, 1, 1.2]
    return [_table(cols, _cols(doc["action_items"], cols), widths)]


def _plan_changes(doc: dict[str, Any]) -> list[Flowable]:
    story = [_items(doc["plan_changes"], "No plan changes written yet.")]
    if doc["plan_items"]:
        cols = ["id", "plan_section", "title", "status"]
        story.append(_table(cols, _cols(doc["plan_items"], cols), [0.6, 1.2, 4, 1]))
    return story


def _updates(doc: dict[str, Any]) -> list[Flowable]:
    cols = ["at", "status", "title", "body"]
    return [_table(cols, _cols(doc["updates"], cols), [2, 1, 2, 4])]


def _filings(doc: dict[str, Any]) -> list[Flowable]:
    cols = ["regime", "name", "recipient", "due", "status", "filed_at"]
    return [_table(cols, _cols(doc["filings"], cols), [1, 1.5, 1.5, 2, 1, 2])]


def _notes(key: str) -> Callable[[dict[str, Any]], list[Flowable]]:
    def build(doc: dict[str, Any]) -> list[Flowable]:
        return [_items(doc[key], "Not written yet: fill in the notes file.")]

    return build


_BUILDERS: tuple[Callable[[dict[str, Any]], list[Flowable]], ...] = (
    _summary,
    _impact,
    _timeline,
    _detection,
    _root_cause,
    _response,
    _notes("went_well"),
    _notes("went_wrong"),
    _notes("lucky"),
    _evidence,
    _recovery,
    _actions,
    _plan_changes,
    _updates,
    _filings,
)


def render_pdf(doc: dict[str, Any]) -> bytes:
    """The post-mortem document (see ``postmortem_document``) as PDF bytes."""
    story = _header(doc)
    for title, build in zip(doc["sections"], _BUILDERS, strict=True):
        story.append(Paragraph(escape(title), _styles["Heading2"]))
        story += build(doc)
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Post-mortem: incident #{doc['meta']['id']}",
        author="breakglass",
    )
    pdf.build(story)
    return buffer.getvalue()
