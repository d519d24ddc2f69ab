"""The post-mortem as a PDF, laid out with reportlab's platypus.

A title page (confidentiality marking, draft or final, severity, authors), a table of contents,
then the sections, each heading kept on the page of what follows it; every page after the
title carries the marking and "page N of M". Table columns are sized from their words: a
column is never narrower than its longest word, so a cell wraps between words and never
inside one ("us ers"); hashes in tables are short, their full form is in the references.

Every text goes through :func:`_p`, which escapes ``&``, ``<`` and ``>`` before reportlab's
Paragraph markup parser sees it, so stored or written text can never inject markup.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    ListFlowable,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.tableofcontents import TableOfContents  # type: ignore[import-untyped]

from breakglass.analysis.drawing import to_drawing
from breakglass.report.postmortem_chart import flow_layout, timeline_layout

__all__ = ["render_pdf"]

_styles = getSampleStyleSheet()
_BODY = ParagraphStyle("body", parent=_styles["BodyText"], spaceAfter=4)
# Headings are kept with what follows them by KeepTogether (render_pdf, _sub), not by
# keepWithNext, which would chain whole sections together and leave pages half empty.
_H2 = ParagraphStyle("h2", parent=_styles["Heading2"])
_H4 = ParagraphStyle("h4", parent=_styles["Heading4"])
_CELL_SIZE = 7.5
_CELL = ParagraphStyle("cell", parent=_BODY, fontSize=_CELL_SIZE, leading=9.5)
_HEAD = ParagraphStyle("head", parent=_CELL, fontName="Helvetica-Bold")
_PROMPT = ParagraphStyle(
    "prompt", parent=_BODY, textColor=colors.grey, fontName="Helvetica-Oblique"
)
_MARK = ParagraphStyle("mark", parent=_BODY, textColor=colors.HexColor("#8a1c1c"),
                       fontName="Helvetica-Bold", fontSize=11)  # fmt: skip
_STATE = ParagraphStyle("state", parent=_styles["Title"], fontSize=16, spaceBefore=18)
_WIDTH = A4[0] - 36 * mm
_PAD = 3.0
_PDF_TEXT = str.maketrans({"→": "->", "✗": "x"})  # outside the PDF fonts' WinAnsi set


def _plain(value: object) -> str:
    """A value in words: no ``True``, ``None`` or ``[...]`` reaches the page."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    return str(value).translate(_PDF_TEXT)


def _p(text: object, style: ParagraphStyle = _BODY, url: str = "") -> Paragraph:
    """A paragraph of plain text: markup characters escaped, newlines kept; a link when
    ``url`` is an http(s) address."""
    body = escape(_plain(text)).replace("\n", "<br/>")
    if url.startswith(("https://", "http://")):
        body = f'<a href={quoteattr(url)} color="#1a4f9c">{body}</a>'
    return Paragraph(body, style)


def _widths(texts: list[list[str]], share: list[float], size: float) -> list[float] | None:
    """Column widths: each at least its longest word, the rest of the page shared by
    ``share``; None when the longest words alone do not fit."""
    columns = len(share)
    least = [
        max(
            (stringWidth(w, "Helvetica-Bold", size) for row in texts for w in row[c].split()),
            default=0.0,
        )
        + 2 * _PAD
        + 1
        for c in range(columns)
    ]
    spare = _WIDTH - sum(least)
    if spare < 0:
        return None
    total = sum(share)
    return [least[c] + spare * share[c] / total for c in range(columns)]


def _table(
    header: list[str],
    rows: list[list[object]],
    share: list[float],
    urls: list[list[str]] | None = None,
) -> Flowable:
    if not rows:
        return _p("Nothing recorded.", _PROMPT)
    texts = [[_plain(h) for h in header]] + [[_plain(c) for c in row] for row in rows]
    size = _CELL_SIZE
    widths = _widths(texts, share, size)
    while widths is None and size > 5:
        size -= 0.5
        widths = _widths(texts, share, size)
    cell = ParagraphStyle("c", parent=_CELL, fontSize=size, leading=size + 2)
    head = ParagraphStyle("h", parent=_HEAD, fontSize=size, leading=size + 2)
    links = urls or [[""] * len(header) for _ in rows]
    body = [
        [_p(c, head if not any(header) and i == 0 else cell, links[r][i]) for i, c in
         enumerate(row)]
        for r, row in enumerate(texts[1:])
    ]  # fmt: skip
    # Without column names (a field/value table) the first column is the label, in grey.
    shaded = (0, 0), (-1, 0) if any(header) else (0, -1)
    data = ([[_p(h, head) for h in texts[0]]] if any(header) else []) + body
    table = Table(
        data, colWidths=widths or [_WIDTH / len(header)] * len(header), repeatRows=int(any(header))
    )
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", shaded[0], shaded[1], colors.HexColor("#eeeeee")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), _PAD),
                ("RIGHTPADDING", (0, 0), (-1, -1), _PAD),
            ]
        )
    )
    return table


def _rows(
    rows: list[dict[str, Any]], cols: list[str], heads: list[str] | None = None,
    share: list[float] | None = None,
) -> Flowable:  # fmt: skip
    urls = [[str(row.get(f"{c}_url") or "") for c in cols] for row in rows]
    values: list[list[object]] = [[row.get(c) for c in cols] for row in rows]
    return _table(heads or cols, values, share or [1.0] * len(cols), urls)


def _items(values: list[str], prompt: str, *, numbered: bool = False) -> Flowable:
    if not values:
        return _p(prompt, _PROMPT)
    return ListFlowable([_p(v) for v in values], bulletType="1" if numbered else "bullet")


def _text(value: str, prompt: str) -> Paragraph:
    return _p(value) if value else _p(prompt, _PROMPT)


def _sub(title: str, *flowables: Flowable) -> list[Flowable]:
    return [KeepTogether([_p(title, _H4), flowables[0]]), *flowables[1:]]


def _summary(doc: dict[str, Any]) -> list[Flowable]:
    return [_text(doc["summary"], "Write the summary in the notes file.")]


def _background(doc: dict[str, Any]) -> list[Flowable]:
    return [_items(doc["background"], "Describe the protocol in the notes file.")]


def _timeline(doc: dict[str, Any]) -> list[Flowable]:
    chart = doc["chart"]
    picture = to_drawing(timeline_layout(chart["events"], chart["incident"]), _WIDTH)
    heads = ["time (UTC)", "block", "event", "transaction"]
    table = _rows(doc["timeline"], ["at", "block", "event", "tx"], heads, [1.2, 0.4, 5, 1.2])
    return [table, Spacer(1, 6), picture]


def _root_cause(doc: dict[str, Any]) -> list[Flowable]:
    return [
        _text(doc["root_cause"], "Describe the root cause in the notes file."),
        *_sub("5 whys", _items(doc["five_whys"], "Ask why five times in the notes file.",
                               numbered=True)),
    ]  # fmt: skip


def _flow(doc: dict[str, Any]) -> list[Flowable]:
    from breakglass.analysis.render import flow_of  # noqa: PLC0415 - Rich is slow to import

    units = doc["units"]
    by_token = {asset: info for (_chain, asset), info in units.items()}
    pictures = [flow_of(a, by_token) for a in doc["analyses"]]
    if not pictures and doc["movement_rows"]:
        pictures = [flow_layout(doc["movement_rows"], names=doc["names"], units=units)]
    return [to_drawing(picture, _WIDTH) for picture in pictures]


def _impact(doc: dict[str, Any]) -> list[Flowable]:
    impact = doc["impact"]
    # As in the HTML and Markdown: without "moved", the movements' "unrecovered" (every hop
    # the attacker made, flash loans included) read as ten times the loss beside "lost".
    cols = ["asset", "chain", "users", "lost", "lost_usd", "moved", "recovered", "frozen",
            "partial", "unrecovered", "distributed"]  # fmt: skip
    heads = ["asset", "chain", "users", "lost", "lost (USD)", "moved", "recovered", "frozen",
             "partly recovered", "unrecovered", "distributed"]  # fmt: skip
    share = [1, 1, 0.8, 1.3, 1, 1.3, 1.1, 1.1, 1.1, 1.3, 1.2]
    story: list[Flowable] = [_rows(impact["funds"], ["figure", "value"], share=[1, 3]),
                             Spacer(1, 6), _rows(impact["rows"], cols, heads, share)]  # fmt: skip
    if impact["price"]:
        story.append(_p(impact["price"]))
    story.append(_p("Amounts in the token's unit where its decimals are known, else in base "
                    "units; the distribution files keep exact base units. Lost is what users "
                    "lost, moved what left in the recorded fund movements (recovered, frozen, "
                    "partly recovered and unrecovered divide it), distributed what "
                    "compensation distributions pay out."))  # fmt: skip
    story += _flow(doc)
    users = _rows(impact["users"], ["user", "chain", "lost", "usd"], ["user", "chain", "lost",
                  "USD"], [4, 1, 2, 1])  # fmt: skip
    return [*story, *_sub("Users who lost funds", users)]


def _response(doc: dict[str, Any]) -> list[Flowable]:
    cols = ["at", "action", "result", "block", "tx"]
    heads = ["time (UTC)", "action", "result", "block", "transaction"]
    return [_rows(doc["response"], cols, heads, [1.2, 5, 0.5, 0.4, 1.2])]


def _times(doc: dict[str, Any]) -> list[Flowable]:
    det = doc["detection"]
    return [
        _rows(doc["times"], ["measure", "value"], share=[1, 2]),
        _p(f"Exploit started: {det['started_at']}. Detected: {det['detected_at']}. "
           f"Alerts: {det['alerts']}; first: {det['first_alert']}."),
    ]  # fmt: skip


def _remediation(doc: dict[str, Any]) -> list[Flowable]:
    story = [_text(doc["remediation"], "Describe the fix and its verification in the notes file.")]
    if doc["eradication"]:
        cols = ["fix", "verdict", "exploit", "honest", "upgrades", "reasons"]
        story.append(_rows(doc["eradication"], cols))
    return story


def _recovery(doc: dict[str, Any]) -> list[Flowable]:
    rec = doc["recovery"]
    story: list[Flowable] = [_p(rec["note"])] if rec["note"] else []
    if rec["policy"]:
        story += _sub("Written policy", _rows(rec["policy"], ["rule", "value"], share=[1, 3]))
    cols = ["token", "lost", "entitled", "distributed", "verdict"]
    story.append(_rows(rec["tokens"], cols))
    return story


def _disclosure(doc: dict[str, Any]) -> list[Flowable]:
    dis = doc["disclosure"]
    heads = ["party", "contact", "engage when", "engaged"]
    parties = _rows(dis["parties"], ["party", "contact", "when", "engaged"], heads, [1, 1, 3, 1])
    updates = _rows(dis["updates"], ["at", "status", "title", "body"], share=[1.2, 0.8, 2, 4])
    return [
        _text(dis["text"], "Say which third parties were told, and when, in the notes file."),
        parties,
        *_sub("Public updates", updates),
    ]


def _filings(doc: dict[str, Any]) -> list[Flowable]:
    return [_rows(doc["filings"], ["regime", "filing", "due", "status"], share=[1, 2, 1.5, 3])]


def _notes(key: str, prompt: str = "Not written yet: fill in the notes file.") -> Callable[
    [dict[str, Any]], list[Flowable]
]:  # fmt: skip
    def build(doc: dict[str, Any]) -> list[Flowable]:
        return [_items(doc[key], prompt)]

    return build


def _lessons(doc: dict[str, Any]) -> list[Flowable]:
    changes = _items(doc["plan_changes"], "No plan changes written yet.")
    story = [_items(doc["lessons"], "No lessons written yet."), *_sub("Plan changes", changes)]
    if doc["plan_items"]:
        heads = ["id", "plan section", "title", "status"]
        cols = ["id", "plan_section", "title", "status"]
        story.append(_rows(doc["plan_items"], cols, heads, [0.3, 1, 4, 0.6]))
    return story


def _actions(doc: dict[str, Any]) -> list[Flowable]:
    cols = ["id", "title", "owner", "due", "kind", "status"]
    heads = ["id", "action item", "owner", "deadline", "kind", "status"]
    return [_rows(doc["action_items"], cols, heads, [0.3, 5, 1, 1, 1, 0.6])]


def _references(doc: dict[str, Any]) -> list[Flowable]:
    return [_rows(doc["references"], ["what", "value"], share=[2, 3])]


_BUILDERS: tuple[Callable[[dict[str, Any]], list[Flowable]], ...] = (
    _summary, _background, _timeline, _root_cause, _impact, _response, _times, _remediation,
    _recovery, _disclosure, _filings, _notes("went_well"), _notes("went_wrong"),
    _notes("lucky"), _lessons, _actions, _references,
)  # fmt: skip


def _title_page(doc: dict[str, Any]) -> list[Flowable]:
    meta = doc["meta"]
    rows: list[list[object]] = [
        ["incident", f"#{meta['id']}: {meta['kind']}, {meta['incident_status']}"],
        ["severity", meta["severity"]],
        [
            "status",
            meta["state"]
            if meta["state"] == meta["status"]
            else f"{meta['state']} ({meta['status']})",
        ],
        ["authors", meta["authors"]],
        ["protocol", meta["protocol"]],
        ["chains", meta["chains"]],
        ["contracts", meta["contracts"]],
        ["updated", meta["updated_at"]],
        ["published", meta["published_at"]],
        ["generated", meta["generated_at"]],
    ]
    return [
        _p(meta["confidentiality"], _MARK),
        Spacer(1, 40),
        _p("Post-mortem", _styles["Heading3"]),
        _p(meta["title"], _styles["Title"]),
        _p(meta["state"].upper(), _STATE),
        Spacer(1, 20),
        _table(["", ""], rows, [1, 4]),
        PageBreak(),
    ]


class _Numbered(Canvas):  # type: ignore[misc]
    """A canvas that writes "page N of M" once it knows M (all pages are held until save)."""

    marking = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            if self._pageNumber > 1:
                self.setFont("Helvetica", 7.5)
                self.setFillColor(colors.HexColor("#555555"))
                self.drawString(18 * mm, 9 * mm, self.marking[:110])
                self.drawRightString(A4[0] - 18 * mm, 9 * mm, f"page {self._pageNumber} of {total}")
            super().showPage()
        super().save()


class _Document(BaseDocTemplate):  # type: ignore[misc]
    """Registers each section heading in the table of contents and as a PDF bookmark."""

    def afterFlowable(self, flowable: Flowable) -> None:
        if isinstance(flowable, Paragraph) and flowable.style.name == "h2":
            text = flowable.getPlainText()
            key = f"s{self.seq.nextf('heading')}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(text, key, level=0)
            self.notify("TOCEntry", (0, text, self.page, key))


def render_pdf(doc: dict[str, Any]) -> bytes:
    """The post-mortem document (see ``postmortem_document``) as PDF bytes."""
    contents = TableOfContents()
    contents.levelStyles = [ParagraphStyle("toc", parent=_BODY, fontSize=10, leading=14)]
    story = [*_title_page(doc), _p("Contents", _styles["Heading2"]), contents, PageBreak()]
    for title, build in zip(doc["sections"], _BUILDERS, strict=True):
        body = build(doc)
        story.append(KeepTogether([Paragraph(escape(title), _H2), body[0]]))
        story += body[1:]
    buffer = io.BytesIO()
    pdf = _Document(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=f"Post-mortem: {_plain(doc['meta']['title'])}",
        author=_plain(doc["meta"]["authors"]),
    )
    frame = Frame(pdf.leftMargin, pdf.bottomMargin, pdf.width, pdf.height, id="body")
    pdf.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    marking = _plain(doc["meta"]["confidentiality"])
    canvas = type("Marked", (_Numbered,), {"marking": marking})
    pdf.multiBuild(story, canvasmaker=canvas)
    return buffer.getvalue()
