"""A :class:`~breakglass.analysis.TxAnalysis` as a Rich tree, as JSON and as an SVG picture.

JSON (``schema: breakglass.tx-analysis/1``), keys in a fixed order:

* ``tx_hash``, ``block_number``, ``status`` (1 or 0), ``sender``, ``to``, ``value`` (wei),
  ``gas_used``, ``labels`` (address → plan name);
* ``calls``: the call tree; each call has ``type``, ``from``, ``to``, ``value``, ``input``,
  ``output``, ``gas_used``, ``seq``, ``end``, ``depth``, ``error``, ``revert_reason``,
  ``reverted``, ``selector``, ``function`` (``null`` when unknown: read ``input``), ``args``
  and ``outputs`` (lists of ``{name, type, value}`` or ``null``), ``logs`` (each ``address``,
  ``topics``, ``data``, ``seq``, ``log_index``, ``event``, ``args``) and ``calls``;
* ``transfers``: ``{asset, from, to, amount, log_index, seq, usd_value, price_source}``, asset
  ``"ETH"`` for native;
* ``balance_changes``: ``{address, asset, change, usd_value, price_source}``;
* ``flash``: ``{kind, lender, borrower, borrowed, repaid, call_seq, callback_seq}``;
* ``native_check``: ``{ok, gas_fee, priority_fee, coinbase, state, mismatches, note}``;
* ``prices``: ``{asset, price_usd, decimals, price_source}`` of the assets the plan prices.

``usd_value`` is ``null`` and ``price_source`` ``"no price configured"`` for an asset the plan's
``analysis.prices`` does not price; otherwise the source names the feed or pair and the block
(``"chainlink feed 0x… at block N"``, ``"uniswap-v2 pair 0x… at block N"``) or ``"static"``.

Amounts, values, fees and balance changes are decimal strings (256-bit values do not fit a
JavaScript number); decoded argument values are JSON numbers, strings, booleans and lists.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any

import networkx as nx  # type: ignore[import-untyped]
from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from breakglass.analysis import NATIVE, TxAnalysis
from breakglass.analysis.signatures import Arg
from breakglass.analysis.trace import CallNode, EventLog

__all__ = ["from_json", "render_svg", "render_tree", "to_json"]


def to_json(analysis: TxAnalysis) -> str:
    """The analysis as indented JSON text (see the module docstring for the keys)."""
    return json.dumps(analysis.to_dict(), indent=2) + "\n"


def from_json(text: str) -> TxAnalysis:
    """Read back what :func:`to_json` wrote.

    Raises:
        ValueError: not JSON, or not a document of this schema.
    """
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")  # noqa: TRY004 - one error type for bad input
    return TxAnalysis.from_dict(doc)


# --- Rich ---------------------------------------------------------------------------------


def _short(value: Any, limit: int = 66) -> str:
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _arg_text(analysis: TxAnalysis, args: list[Arg]) -> str:
    parts = []
    for a in args:
        value = analysis.label(a.value) if a.type == "address" else _short(a.value)
        parts.append(f"{a.name}={value}")
    return ", ".join(parts)


def _call_label(analysis: TxAnalysis, node: CallNode) -> Text:
    text = Text()
    text.append(f"{node.type} ", style="dim")
    text.append(analysis.label(node.to) if node.to else "?", style="bold")
    if node.function is not None and node.args is not None:
        text.append(f".{node.name}({_arg_text(analysis, node.args)})", style="cyan")
    elif node.selector:
        size = (len(node.input) - 2) // 2
        text.append(f".{node.selector}(<{size} bytes raw>)", style="yellow")
    if node.value:
        text.append(f" value={node.value} wei", style="magenta")
    if node.outputs:
        text.append(f" → {_arg_text(analysis, node.outputs)}", style="green")
    if node.error:
        reason = f": {node.revert_reason}" if node.revert_reason else ""
        text.append(f" ✗ {node.error}{reason}", style="red")
    return text


def _add(analysis: TxAnalysis, tree: Tree, node: CallNode) -> None:
    branch = tree.add(_call_label(analysis, node))
    items: list[tuple[int, CallNode | EventLog]] = [(c.seq, c) for c in node.calls]
    items += [(g.seq, g) for g in node.logs]
    for _, item in sorted(items, key=lambda pair: pair[0]):
        if isinstance(item, CallNode):
            _add(analysis, branch, item)
        elif item.event is not None and item.args is not None:
            name = item.event.split("(", 1)[0]
            where = analysis.label(item.address)
            branch.add(Text(f"emit {where}.{name}({_arg_text(analysis, item.args)})", "blue"))
        else:
            branch.add(Text(f"emit {analysis.label(item.address)} topics={item.topics}", "blue"))


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    return table


def render_tree(analysis: TxAnalysis) -> Group:
    """The call tree, transfers, balance changes, flash loans and native-balance check."""
    status = "success" if analysis.succeeded else "REVERTED"
    tree = Tree(Text(f"tx {analysis.tx_hash} · block {analysis.block_number} · {status}"))
    _add(analysis, tree, analysis.calls)
    priced = bool(analysis.prices)  # a USD column only when the plan prices some asset here
    usd_column = ("usd (price source)",) if priced else ()
    transfers = _table("Transfers", "#", "asset", "from", "to", "amount", *usd_column)
    for t in analysis.transfers:
        asset = t.asset if t.asset == NATIVE else analysis.label(t.asset)
        index = "trace" if t.log_index is None else str(t.log_index)
        usd = (analysis.usd(t.asset, t.amount).text(),) if priced else ()
        transfers.add_row(
            index, asset, analysis.label(t.from_), analysis.label(t.to), str(t.amount), *usd
        )
    changes = _table(
        "Net balance changes (gas excluded)", "address", "asset", "change", *usd_column
    )
    for (address, asset), change in analysis.balance_changes.items():
        shown = asset if asset == NATIVE else analysis.label(asset)
        usd = (analysis.usd(asset, change).text(),) if priced else ()
        changes.add_row(analysis.label(address), shown, f"{change:+d}", *usd)
    parts: list[Any] = [tree, transfers, changes]
    for loan in analysis.flash:
        borrowed = ", ".join(f"{v} {analysis.label(k)}" for k, v in loan.borrowed.items())
        repaid = ", ".join(f"{v} {analysis.label(k)}" for k, v in loan.repaid.items())
        parts.append(
            Text(
                f"{loan.kind}: {analysis.label(loan.borrower)} borrowed {borrowed or 'nothing'}"
                f" from {analysis.label(loan.lender)}, repaid {repaid or 'nothing'}",
                style="bold magenta",
            )
        )
    check = analysis.native_check
    parts.append(Text(check.describe(), style="green" if check.ok else "red"))
    parts.append(Text(f"gas fee paid by {analysis.label(analysis.sender)}: {check.gas_fee} wei"))
    return Group(*parts)


# --- SVG fund flow ------------------------------------------------------------------------

_NODE_W, _NODE_H = 170.0, 40.0
_COL, _ROW, _MARGIN = 300.0, 110.0, 60.0


def _short_address(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}" if len(address) == 42 else address


def _name(analysis: TxAnalysis, address: str) -> str:
    label = analysis.labels.get(address.lower())
    return label if label is not None else _short_address(address)


def _layout(nodes: list[str], edges: set[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """(column, row) of every node: columns are the topological generations of the graph with
    its cycles (a flash loan's borrow and repay) collapsed by networkx; rows keep the order of
    first appearance. (networkx's own layouts need numpy, which is not a dependency.)"""
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(sorted(edges))
    condensed = nx.condensation(graph)
    column: dict[str, int] = {}
    for index, generation in enumerate(nx.topological_generations(condensed)):
        for component in generation:
            for member in condensed.nodes[component]["members"]:
                column[member] = index
    rows: defaultdict[int, int] = defaultdict(int)
    cells: dict[str, tuple[int, int]] = {}
    for node in nodes:
        cells[node] = (column[node], rows[column[node]])
        rows[column[node]] += 1
    return cells


def _trim(point: tuple[float, float], toward: tuple[float, float]) -> tuple[float, float]:
    """Where the segment from a node's centre ``point`` toward ``toward`` leaves its box."""
    dx, dy = toward[0] - point[0], toward[1] - point[1]
    scale = min(
        (_NODE_W / 2 + 4) / abs(dx) if dx else math.inf,
        (_NODE_H / 2 + 4) / abs(dy) if dy else math.inf,
    )
    scale = min(scale, 0.45)
    return point[0] + dx * scale, point[1] + dy * scale


def render_svg(analysis: TxAnalysis) -> str:
    """The fund flow as an SVG document: a box per address (its plan name when known), an
    arrow per sender, receiver and asset with the total amount. Every text is escaped."""
    totals: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    for t in analysis.transfers:
        totals[(t.from_, t.to, t.asset)] += t.amount
    nodes = [analysis.sender] if analysis.sender else []
    for sender, receiver, _ in totals:
        nodes += [a for a in (sender, receiver) if a not in nodes]
    directed = {(a, b) for a, b, _ in totals if a != b}
    cells = _layout(nodes, directed)
    columns = max((c for c, _ in cells.values()), default=0) + 1
    rows = max((r for _, r in cells.values()), default=0) + 1
    width = _MARGIN * 2 + _NODE_W + _COL * (columns - 1)
    height = _MARGIN * 2 + _NODE_H + _ROW * (rows - 1) + 40
    pos = {
        n: (_MARGIN + _NODE_W / 2 + _COL * c, _MARGIN + 40 + _NODE_H / 2 + _ROW * r)
        for n, (c, r) in cells.items()
    }
    svg = ET.Element(
        "svg",
        {"font-family": "sans-serif", "font-size": "12"},
        xmlns="http://www.w3.org/2000/svg",
        width=f"{width:.0f}",
        height=f"{height:.0f}",
        viewBox=f"0 0 {width:.0f} {height:.0f}",
    )
    marker = ET.SubElement(
        ET.SubElement(svg, "defs"),
        "marker",
        id="arrow",
        viewBox="0 0 10 10",
        refX="10",
        refY="5",
        markerWidth="8",
        markerHeight="8",
        orient="auto-start-reverse",
    )
    ET.SubElement(marker, "path", d="M 0 0 L 10 5 L 0 10 z", fill="#555")
    status = "success" if analysis.succeeded else "reverted"
    title = ET.SubElement(svg, "text", {"font-size": "15"}, x=str(_MARGIN), y="28")
    title.text = f"Fund flow of {analysis.tx_hash} (block {analysis.block_number}, {status})"
    groups: defaultdict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for key in sorted(totals):
        groups[(key[0], key[1])].append(key)
    for (sender, receiver), keys in groups.items():
        both_ways = (receiver, sender) in groups and sender != receiver
        for k, key in enumerate(keys):
            bend = 60.0 * (k + 1) if both_ways else 40.0 * (k - (len(keys) - 1) / 2)
            _edge(svg, analysis, pos, key, totals[key], bend)
    for address in nodes:
        _node(svg, analysis, address, pos[address])
    return ET.tostring(svg, encoding="unicode", xml_declaration=True) + "\n"


def _edge(
    svg: ET.Element,
    analysis: TxAnalysis,
    pos: dict[str, tuple[float, float]],
    key: tuple[str, str, str],
    amount: int,
    bend: float,
) -> None:
    sender, receiver, asset = key
    (x1, y1), (x2, y2) = pos[sender], pos[receiver]
    if sender == receiver:  # a transfer to oneself: a loop above the box
        x2, y2, bend = x1 + 1.0, y1, 80.0
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy) or 1.0
    cx, cy = (x1 + x2) / 2 - dy / length * bend, (y1 + y2) / 2 + dx / length * bend
    sx, sy = _trim((x1, y1), (cx, cy))
    ex, ey = _trim((x2, y2), (cx, cy))
    group = ET.SubElement(svg, "g", {"class": "transfer"})
    ET.SubElement(
        group,
        "path",
        {"stroke-width": "1.5", "marker-end": "url(#arrow)"},
        d=f"M {sx:.1f} {sy:.1f} Q {cx:.1f} {cy:.1f} {ex:.1f} {ey:.1f}",
        fill="none",
        stroke="#555",
    )
    asset_name = asset if asset == NATIVE else _name(analysis, asset)
    # Labels of curves that bow sideways grow away from the chord, so two stay apart.
    side = cx - (x1 + x2) / 2
    anchor = "start" if side > 1 else "end" if side < -1 else "middle"
    label = ET.SubElement(
        group,
        "text",
        {"text-anchor": anchor},
        x=f"{(sx + 2 * cx + ex) / 4 + (4 if side > 1 else -4 if side < -1 else 0):.1f}",
        y=f"{(sy + 2 * cy + ey) / 4 - 4:.1f}",
        fill="#a33",
    )
    label.text = f"{amount} {asset_name}"
    ET.SubElement(group, "title").text = f"{sender} → {receiver}: {amount} {asset}"


def _node(svg: ET.Element, analysis: TxAnalysis, address: str, at: tuple[float, float]) -> None:
    group = ET.SubElement(svg, "g", {"class": "address"})
    ET.SubElement(group, "title").text = address
    known = address.lower() in analysis.labels
    ET.SubElement(
        group,
        "rect",
        x=f"{at[0] - _NODE_W / 2:.1f}",
        y=f"{at[1] - _NODE_H / 2:.1f}",
        width=f"{_NODE_W:.0f}",
        height=f"{_NODE_H:.0f}",
        rx="6",
        fill="#e8f0fe" if known else "#f4f4f4",
        stroke="#333",
    )
    text = ET.SubElement(
        group, "text", {"text-anchor": "middle"}, x=f"{at[0]:.1f}", y=f"{at[1] + 4:.1f}"
    )
    name = _name(analysis, address)
    text.text = name if address != analysis.sender else f"{name} (sender)"
