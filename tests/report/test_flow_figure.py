"""The fund-flow figure: one layout for SVG and PDF, boxes and markers that never overlap,
amounts in the legend in the token's unit."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest

from breakglass.analysis.assets import AssetInfo
from breakglass.analysis.drawing import FlowEdge, Picture, flow_picture, to_drawing, to_svg
from breakglass.report.postmortem_chart import flow_layout
from breakglass.store.models import FundMovement

pytestmark = pytest.mark.unit

POOL, ATTACKER, EOA, PAIR, EXCHANGE = ("0x" + c * 40 for c in "abcde")
DUSD, DETH = "0x" + "11" * 20, "0x" + "22" * 20


def _move(origin: str, destination: str, asset: str, amount: int, kind: str) -> FundMovement:
    return FundMovement(
        chain="local", origin=origin, destination=destination, asset=asset,
        amount=str(amount), destination_kind=kind, recovery_status="not-recovered", tx_hash="0x",
    )  # fmt: skip


def _demo_like() -> list[FundMovement]:
    """The demo's drain: a flash swap, a borrow against a pumped price, two ways between the
    attacker's contract and its sender."""
    e18 = 10**18
    return [
        _move(ATTACKER, PAIR, DUSD, 400_000 * e18, "exchange"),
        _move(EOA, ATTACKER, DETH, 10 * e18, "unknown"),
        _move(POOL, ATTACKER, DUSD, 110_000 * e18, "unknown"),
        _move(ATTACKER, PAIR, DETH, 66 * e18, "exchange"),
        _move(ATTACKER, EXCHANGE, DUSD, 401_203 * e18, "exchange"),
        _move(ATTACKER, EOA, DUSD, 107_994 * e18, "unknown"),
    ]


def _boxes(picture: Picture) -> list[tuple[float, ...]]:
    return [s.points for s in picture.shapes if s.kind == "rect"]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_boxes_and_markers_do_not_overlap_and_the_legend_speaks_in_units() -> None:
    units = {("local", DUSD): AssetInfo(symbol="dUSD", decimals=18)}
    picture = flow_layout(_demo_like(), names={POOL: "pool", PAIR: "oracle_pair"}, units=units)
    boxes = _boxes(picture)
    assert len(boxes) == 5
    assert not any(_overlap(a, b) for a, b in itertools.combinations(boxes, 2))
    marks = [s.points for s in picture.shapes if s.kind == "circle"]
    assert len(marks) == 6
    for a, b in itertools.combinations(marks, 2):
        assert math.dist(a[:2], b[:2]) > a[2] + b[2], (a, b)
    for mark, box in itertools.product(marks, boxes):
        inside = box[0] <= mark[0] <= box[0] + box[2] and box[1] <= mark[1] <= box[1] + box[3]
        assert not inside
    texts = [s.text for s in picture.shapes if s.kind == "text"]
    assert "3. pool → 0xcccc…cccc: 110,000 dUSD (not recovered)" not in texts  # EOA is not 3's
    assert "3. pool → 0xbbbb…bbbb: 110,000 dUSD (not recovered)" in texts
    assert any("base units of 0x2222…2222" in t for t in texts)  # dETH's decimals unknown
    legend_top = min(s.points[1] for s in picture.shapes if s.text.startswith("1. "))
    assert all(b[1] + b[3] < legend_top for b in boxes)


def test_columns_follow_the_money_from_where_it_starts() -> None:
    picture = flow_layout(_demo_like(), names={POOL: "pool"})
    x = {s.title: s.points[0] for s in picture.shapes if s.kind == "rect"}
    assert x[POOL] < x[ATTACKER]  # the pool only sends: money starts there
    assert x[ATTACKER] < x[PAIR] == x[EXCHANGE] == x[EOA]


def test_svg_and_pdf_come_from_the_same_shapes() -> None:
    edges = [FlowEdge(POOL, ATTACKER, "<b>1 dUSD</b>"), FlowEdge(ATTACKER, ATTACKER, "loop")]
    picture = flow_picture(edges, title="t & <i>", names={POOL: ("<script>", "x")})
    root = ET.fromstring(to_svg(picture))
    texts = [el.text for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "<script>" in texts and "t & <i>" in texts
    drawing = to_drawing(picture, 300)
    assert drawing.width <= 300
    assert len(drawing.contents) == len(picture.shapes)
