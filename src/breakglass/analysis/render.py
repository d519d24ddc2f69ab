"""A :class:`~breakglass.analysis.TxAnalysis` as a Rich tree, as JSON and as a fund-flow
picture (drawn by :mod:`breakglass.analysis.drawing`, in SVG here and in the PDF post-mortem).

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
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from breakglass.analysis import NATIVE, TxAnalysis
from breakglass.analysis.assets import AssetInfo, format_amount
from breakglass.analysis.drawing import FlowEdge, Picture, flow_picture, to_svg
from breakglass.analysis.signatures import Arg
from breakglass.analysis.trace import CallNode, EventLog

__all__ = ["flow_of", "from_json", "render_svg", "render_tree", "to_json"]


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


def _short_address(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}" if len(address) == 42 else address


def _name(analysis: TxAnalysis, address: str) -> str:
    label = analysis.labels.get(address.lower())
    return label if label is not None else _short_address(address)


def _amount(analysis: TxAnalysis, asset: str, amount: int, units: Mapping[str, AssetInfo]) -> str:
    if asset == NATIVE:
        return format_amount(amount, decimals=18, symbol="ETH")
    info = units.get(asset.lower())
    if info is not None and info.decimals is not None:
        return format_amount(
            amount, decimals=info.decimals, symbol=info.symbol or _name(analysis, asset)
        )
    return f"{amount:,} base units of {_name(analysis, asset)}"


def flow_of(analysis: TxAnalysis, units: Mapping[str, AssetInfo] | None = None) -> Picture:
    """The transaction's fund flow as a picture (see :mod:`breakglass.analysis.drawing`): a
    box per address (its plan name when known), a numbered arrow per sender, receiver and
    asset, and the totals in the legend, in the token's unit where ``units`` (by lower-case
    token address) knows its decimals."""
    totals: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    for t in analysis.transfers:
        totals[(t.from_, t.to, t.asset)] += t.amount
    known = units or {}
    edges = [
        FlowEdge(sender, receiver, _amount(analysis, asset, amount, known), note=asset)
        for (sender, receiver, asset), amount in totals.items()
    ]
    names: dict[str, tuple[str, str]] = {}
    for address in {analysis.sender, *(a for key in totals for a in key[:2])} - {""}:
        second = "sender" if address == analysis.sender else _short_address(address)
        name = _name(analysis, address)
        names[address] = (name, second if second != name else "")
    status = "success" if analysis.succeeded else "reverted"
    tx = analysis.tx_hash
    short = f"{tx[:10]}…{tx[-4:]}" if len(tx) == 66 else tx
    title = f"Fund flow of {short} (block {analysis.block_number}, {status})"
    return flow_picture(edges, title=title, names=names, first=analysis.sender or None)


def render_svg(analysis: TxAnalysis, units: Mapping[str, AssetInfo] | None = None) -> str:
    """The fund flow as an SVG document (:func:`flow_of`); every text is escaped."""
    return to_svg(flow_of(analysis, units), xml_declaration=True)
