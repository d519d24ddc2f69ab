"""USD figures from the plan's ``analysis.prices`` on anvil: a static price, a SettableFeed
read at past blocks, and a real Uniswap V2 pair (``@uniswap/v2-core``) of OpenZeppelin
``ERC20PresetMinterPauser`` tokens; then a transaction and an incident's losses priced."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
from eth_abi.abi import encode
from pydantic import ValidationError
from rich.console import Console

from breakglass.analysis import analyze_tx
from breakglass.analysis.incident import analyze_incident, store_incident_analysis
from breakglass.analysis.loss_report import losses_json, losses_table
from breakglass.analysis.losses import Loss, PricedLoss, price_losses
from breakglass.analysis.pricing import NO_PRICE, Price, figure, read_prices, to_decimal
from breakglass.analysis.render import from_json, render_tree, to_json
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.plan.models import Analysis, Plan
from breakglass.plan.models.analysis import AssetPrice, FeedPrice, PairPrice, StaticPrice
from breakglass.scenario.vault import calldata

from .scenario import UNIT, Chain, _artifact, deploy, incident_store, plan_data, run_attack

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ASSET = "0x" + "aa" * 20
OTHER = "0x" + "bb" * 20


def _pool(anvil: Anvil) -> EndpointPool:
    return EndpointPool([Endpoint(anvil.http_url)], chain="local")


def _read(anvil: Anvil, configs: Mapping[str, AssetPrice], block: int) -> dict[str, Price]:
    async def go() -> dict[str, Price]:
        pool = _pool(anvil)
        try:
            return await read_prices(pool, configs, list(configs), block)
        finally:
            await pool.aclose()

    return asyncio.run(go())


def _block(receipt: Mapping[str, Any]) -> int:
    return int(receipt["blockNumber"], 16)


def _feed(chain: Chain, answer: int, decimals: int = 8) -> str:
    built = compile_file("SettableFeed.sol")["SettableFeed"]
    args = encode(["uint8", "string", "int256"], [decimals, "test feed", answer])
    return str(chain.deploy(chain.anvil.accounts[0].lower(), built.bytecode, args))


def _token(chain: Chain, name: str) -> str:
    preset = _artifact("@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json")
    args = encode(["string", "string"], [name, name[:3]])
    return str(chain.deploy(chain.anvil.accounts[0].lower(), preset["bytecode"], args))


# --- without a chain ------------------------------------------------------------------------


def test_plan_prices_validate() -> None:
    analysis = Analysis.model_validate(
        {
            "prices": {
                ASSET: {"decimals": 6, "source": {"usd": "1.0"}},
                OTHER: {"decimals": 18, "source": {"feed": "0x" + "cc" * 20}},
                "0x" + "dd" * 20: {
                    "decimals": 18,
                    "source": {"pair": "0x" + "ee" * 20, "quote": ASSET, "quote_decimals": 6},
                },
            }
        }
    )
    price = analysis.price(ASSET.upper().replace("0X", "0x"))
    assert price is not None and price.source == StaticPrice(usd=Decimal("1.0"))
    other = analysis.price(OTHER)
    assert other is not None and isinstance(other.source, FeedPrice)
    assert other.source.feed_decimals == 8
    assert analysis.price("0x" + "12" * 20) is None
    with pytest.raises(ValidationError, match="quote is the asset itself"):
        Analysis.model_validate(
            {"prices": {ASSET: {"decimals": 6, "source": {"pair": OTHER, "quote": ASSET}}}}
        )
    with pytest.raises(ValidationError):
        Analysis.model_validate({"prices": {ASSET: {"decimals": 6, "source": {"usd": 0}}}})
    with pytest.raises(ValidationError):  # a source is one kind, not a mix
        Analysis.model_validate(
            {"prices": {ASSET: {"decimals": 6, "source": {"usd": 1, "feed": OTHER}}}}
        )


def test_missing_price_says_so() -> None:
    usd = figure({}, ASSET, 10**18)
    assert usd.usd is None and usd.price_usd is None and usd.decimals is None
    assert usd.source == NO_PRICE == "no price configured"
    assert usd.text() == "no price configured"
    loss = Loss(ASSET, OTHER, 5, 5, 0, 0, 0, 0)
    (priced,) = price_losses([loss], {})
    assert priced.detail() == {
        "amount": "5", "before": "5", "after": "0", "received": "0", "paid_in": "0",
        "taken": "0", "usd_value": None, "price_usd": None, "decimals": None,
        "price_source": "no price configured",
    }  # fmt: skip
    assert loss.figure is None and loss.detail()["amount"] == "5"


def test_value_is_exact() -> None:
    price = Price(ASSET, Decimal("1.0001"), 6, "static")
    assert price.value(2_500_001) == Decimal("2.5002510001")
    assert price.value(-3_000_000) == Decimal("-3.0003")
    assert Price(ASSET, None, 6, "x (unreadable)").value(1) is None
    assert to_decimal(Fraction(5, 2)) == Decimal("2.5")
    big = Price(ASSET, Decimal("3000.5"), 18, "static").value(2**255)
    assert big is not None and Fraction(big) == Fraction(2**255 * 30005, 10**19)


# --- on anvil -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(anvil: Anvil) -> Chain:
    return Chain(anvil)


def test_static_price(anvil: Anvil, chain: Chain) -> None:
    configs = {ASSET: AssetPrice(decimals=6, source=StaticPrice(usd=Decimal("1.0001")))}
    prices = _read(anvil, configs, chain.block())
    assert prices == {ASSET: Price(ASSET, Decimal("1.0001"), 6, "static")}
    usd = figure(prices, ASSET.upper().replace("0X", "0x"), 2_500_000)
    assert usd.usd == Decimal("2.50025")
    assert usd.to_dict() == {
        "usd_value": "2.50025", "price_usd": "1.0001", "decimals": 6, "price_source": "static",
    }  # fmt: skip
    assert usd.text() == "$2.50 (static)"


def test_feed_read_at_a_past_block(anvil: Anvil, chain: Chain) -> None:
    admin = anvil.accounts[0].lower()
    feed = _feed(chain, 2000_12345678)
    first = chain.block()
    receipt = chain.send(admin, calldata("setAnswer(int256)", 1500 * 10**8), feed)
    second = _block(receipt)
    assert second > first
    configs = {ASSET: AssetPrice(decimals=18, source=FeedPrice(feed=feed))}
    then, now = _read(anvil, configs, first)[ASSET], _read(anvil, configs, second)[ASSET]
    assert then == Price(
        ASSET, Decimal("2000.12345678"), 18, f"chainlink feed {feed} at block {first}"
    )
    assert now == Price(ASSET, Decimal("1500"), 18, f"chainlink feed {feed} at block {second}")
    usd = figure({ASSET: then}, ASSET, 3 * UNIT)
    assert usd.usd == Decimal("6000.37037034")
    assert usd.source == f"chainlink feed {feed} at block {first}"
    # Six decimals of answer.
    six = {ASSET: AssetPrice(decimals=18, source=FeedPrice(feed=feed, feed_decimals=6))}
    assert _read(anvil, six, second)[ASSET].usd == Decimal("150000")


def test_unreadable_feed(anvil: Anvil, chain: Chain) -> None:
    nobody = "0x" + "01" * 20  # no code: the call returns nothing
    configs = {ASSET: AssetPrice(decimals=18, source=FeedPrice(feed=nobody))}
    block = chain.block()
    price = _read(anvil, configs, block)[ASSET]
    assert price.usd is None
    assert price.source == f"chainlink feed {nobody} at block {block} (unreadable)"
    usd = figure({ASSET: price}, ASSET, UNIT)
    assert usd.usd is None and usd.text().startswith("unpriced (chainlink feed")


@dataclass
class PairWorld:
    asset: str
    quote: str
    pair: str
    block: int


@pytest.fixture(scope="module")
def pair_world(anvil: Anvil, chain: Chain) -> PairWorld:
    admin = anvil.accounts[0].lower()
    asset, quote = _token(chain, "Wrapped Thing"), _token(chain, "Stable Dollar")
    built = _artifact("@uniswap/v2-core/build/UniswapV2Factory.json")
    factory = chain.deploy(admin, built["bytecode"], encode(["address"], [admin]))
    chain.send(admin, calldata("createPair(address,address)", asset, quote), factory)
    pair = f"0x{chain.call(factory, 'getPair(address,address)', asset, quote):040x}"
    chain.send(admin, calldata("mint(address,uint256)", pair, 1_000 * UNIT), asset)
    chain.send(admin, calldata("mint(address,uint256)", pair, 2_500 * UNIT), quote)
    receipt = chain.send(admin, calldata("mint(address)", admin), pair)
    return PairWorld(asset, quote, pair, _block(receipt))


def test_uniswap_v2_pair_price(anvil: Anvil, pair_world: PairWorld) -> None:
    w = pair_world
    configs = {
        w.asset: AssetPrice(decimals=18, source=PairPrice(pair=w.pair, quote=w.quote)),
        # The other way round (the pair sorts its tokens by address): 1 / 2.5.
        w.quote: AssetPrice(decimals=18, source=PairPrice(pair=w.pair, quote=w.asset)),
    }
    prices = _read(anvil, configs, w.block)
    source = f"uniswap-v2 pair {w.pair} at block {w.block}"
    assert prices[w.asset] == Price(w.asset, Decimal("2.5"), 18, source)
    assert prices[w.quote] == Price(w.quote, Decimal("0.4"), 18, source)
    usd = figure(prices, w.asset, 3 * UNIT + 1)
    assert usd.usd == Decimal("7.5000000000000000025")
    assert usd.to_dict()["price_usd"] == "2.5" and usd.to_dict()["price_source"] == source
    # Before the pair had reserves its price is undefined: unreadable, not zero.
    empty = _read(anvil, configs, w.block - 1)[w.asset]
    assert empty.usd is None and empty.source.endswith("(unreadable)")


def test_transaction_priced_at_its_block(anvil: Anvil, chain: Chain, pair_world: PairWorld) -> None:
    w = pair_world
    admin, bob = anvil.accounts[0].lower(), anvil.accounts[1].lower()
    chain.send(admin, calldata("mint(address,uint256)", admin, 10 * UNIT), w.asset)
    receipt = chain.send(admin, calldata("transfer(address,uint256)", bob, 4 * UNIT), w.asset)
    block = _block(receipt)
    # Reserves change afterwards: the transaction keeps the price of its own block.
    chain.send(admin, calldata("mint(address,uint256)", w.pair, 1_500 * UNIT), w.quote)
    chain.send(admin, calldata("sync()"), w.pair)
    unpriced = _token(chain, "Unpriced")
    receipt2 = chain.send(admin, calldata("mint(address,uint256)", bob, 7), unpriced)
    configs = {w.asset: AssetPrice(decimals=18, source=PairPrice(pair=w.pair, quote=w.quote))}

    async def go(tx: str) -> Any:
        pool = _pool(anvil)
        try:
            return await analyze_tx(pool, tx, prices=configs)
        finally:
            await pool.aclose()

    analysis = asyncio.run(go(str(receipt["transactionHash"])))
    source = f"uniswap-v2 pair {w.pair} at block {block}"
    doc = analysis.to_dict()
    (transfer,) = doc["transfers"]
    assert transfer["amount"] == str(4 * UNIT)
    assert transfer["usd_value"] == "10" and transfer["price_source"] == source
    changes = {(c["address"], c["asset"]): c for c in doc["balance_changes"]}
    assert changes[admin, w.asset]["usd_value"] == "-10"
    assert changes[bob, w.asset]["price_source"] == source
    assert doc["prices"] == [
        {"asset": w.asset, "price_usd": "2.5", "decimals": 18, "price_source": source}
    ]
    assert from_json(to_json(analysis)).prices == analysis.prices
    console = Console(file=io.StringIO(), width=220)
    console.print(render_tree(analysis))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert f"$10.00 ({source})" in text and "usd (price source)" in text

    other = asyncio.run(go(str(receipt2["transactionHash"])))
    (transfer,) = other.to_dict()["transfers"]
    assert transfer["usd_value"] is None and transfer["price_source"] == NO_PRICE
    assert other.prices == {}


def test_incident_losses_priced_at_containment(tmp_path: Path, anvil: Anvil, chain: Chain) -> None:
    feed = _feed(chain, 99_980_000)  # 0.9998 USD
    scenario = deploy(anvil)
    run_attack(scenario)
    block = scenario.containment_block
    # The price moves after containment: losses keep the containment block's price.
    chain.send(anvil.accounts[0].lower(), calldata("setAnswer(int256)", 50_000_000), feed)
    data = plan_data(anvil, scenario)
    data["analysis"]["prices"] = {
        scenario.token: {"decimals": 18, "source": {"feed": feed, "feed_decimals": 8}}
    }
    plan = Plan.model_validate(data)

    async def go() -> Any:
        pool = _pool(anvil)
        try:
            return await analyze_incident(pool, plan, scenario.exploit_txs, containment_block=block)
        finally:
            await pool.aclose()

    analysis = asyncio.run(go())
    source = f"chainlink feed {feed} at block {block}"
    lost = [x for x in analysis.losses if x.amount > 0]
    assert lost and all(isinstance(x, PricedLoss) for x in analysis.losses)
    for loss in lost:
        assert loss.figure is not None
        assert loss.figure.source == source
        assert loss.figure.usd == Decimal(loss.amount) / Decimal(10**18) * Decimal("0.9998")
        detail = loss.detail()
        assert detail["price_usd"] == "0.9998" and detail["decimals"] == 18
        assert detail["price_source"] == source
    rows = {r["address"]: r for r in orjson.loads(losses_json(analysis.losses))}
    assert rows[lost[0].address]["price_source"] == source
    console = Console(file=io.StringIO(), width=400)
    console.print(losses_table(analysis.losses))
    assert source in console.file.getvalue()  # type: ignore[attr-defined]

    from sqlalchemy import select  # noqa: PLC0415

    from breakglass.recovery.service import _losses  # noqa: PLC0415
    from breakglass.store.models import UserLoss  # noqa: PLC0415

    with incident_store(tmp_path, plan) as (sessions, incident_id):
        with sessions.begin() as session:
            store_incident_analysis(session, incident_id, analysis)
        with sessions.begin() as session:
            stored = list(session.scalars(select(UserLoss)))
            by_address = {r.address: r for r in stored}
            row = by_address[lost[0].address]
            assert row.usd_value == pytest.approx(float(lost[0].amount) / 1e18 * 0.9998)
            assert row.detail["price_source"] == source
            _, prices = _losses(stored)
    assert prices == {scenario.token: (Decimal("0.9998"), 18)}
