"""The monitor reads the units of the tokens its rules watch (``symbol()``/``decimals()`` of a
real OpenZeppelin token on anvil), once, in a task of its own, so a large-outflow title says
``aUSD`` although the rule's parameters name no symbol."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from breakglass import store
from breakglass.analysis import assets
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.detect.setup import rule_detector
from breakglass.detect.units import read_rule_units, read_units_soon, rule_tokens
from breakglass.devchain import Anvil
from breakglass.plan import load_plan
from breakglass.runtime.monitor import build_monitor

pytestmark = pytest.mark.chain


def test_the_monitor_reads_the_watched_token_unit_for_alert_titles(
    token: Any, evaluate: Any
) -> None:
    admin, vault, attacker = (token.anvil.accounts[i] for i in (0, 7, 8))
    token.call(admin, "mint", vault, 2_000 * 10**18)
    rule = rule_detector(
        "large-outflow",
        [("vault", vault)],
        chain="local",
        params={"token": token.address, "threshold": 500},
    )
    assert rule_tokens(rule.rules) == [token.address.lower()]
    assert assets.cached_asset(chain="local", address=token.address) is None

    async def start() -> None:
        pool = EndpointPool([Endpoint(token.anvil.http_url)], chain="local")
        stop = asyncio.Event()
        try:
            task = read_units_soon(rule.rules, pool=pool, chain="local", stop=stop)
            assert not task.done()  # started, not awaited: the monitor goes on meanwhile
            await asyncio.wait_for(task, timeout=10)
        finally:
            await pool.aclose()

    asyncio.run(start())
    assert assets.cached_asset(chain="local", address=token.address) == assets.AssetInfo("aUSD", 18)
    receipt = token.call(vault, "transfer", attacker, 1_250 * 10**18)
    (finding,) = evaluate(rule, receipt)
    short = f"{attacker[:6].lower()}…{attacker[-4:].lower()}"
    assert finding.title == f"1,250 aUSD left vault to {short}"


def test_an_address_that_is_no_token_leaves_titles_in_tokens(token: Any) -> None:
    not_a_token = token.anvil.accounts[9]  # an account: every call returns nothing
    rule = rule_detector(
        "large-outflow",
        [("vault", token.anvil.accounts[7])],
        chain="local",
        params={"token": not_a_token, "threshold": 1},
    )

    async def read() -> dict[str, assets.AssetInfo]:
        pool = EndpointPool([Endpoint(token.anvil.http_url)], chain="local")
        try:
            return await read_rule_units(rule.rules, pool=pool, chain="local")
        finally:
            await pool.aclose()

    assert asyncio.run(read()) == {}


def test_the_reads_end_when_the_monitor_stops() -> None:
    rule = rule_detector(
        "large-outflow",
        [("vault", "0x" + "11" * 20)],
        chain="local",
        params={"token": "0x" + "22" * 20, "threshold": 1},
    )

    async def stopped() -> bool:
        # A loopback port nobody listens on: the reads would retry; the stop ends them.
        pool = EndpointPool([Endpoint("http://127.0.0.1:9")], chain="local")
        stop = asyncio.Event()
        try:
            task = read_units_soon(rule.rules, pool=pool, chain="local", stop=stop)
            stop.set()
            await asyncio.wait_for(task, timeout=5)
            return task.done()
        finally:
            await pool.aclose()

    assert asyncio.run(stopped())


def test_the_running_monitor_titles_an_outflow_in_the_token_unit(
    anvil: Anvil, make_token: Any, tmp_path: Path
) -> None:
    token = make_token()
    admin, vault, attacker = (anvil.accounts[i] for i in (0, 5, 6))
    token.call(admin, "mint", vault, 5_000 * 10**18)
    path = tmp_path / "plan.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        protocol: T
        chains:
          local: {{chain_id: 31337, rpc: ["{anvil.http_url}"]}}
        contracts:
          vault: {{chain: local, address: "{vault}"}}
        rules:
          - {{id: drain, rule: large-outflow, contracts: [vault], severity: critical,
              params: {{token: "{token.address}", threshold: 1000}}}}
        """)
    )
    plan = load_plan(path)
    url = f"sqlite:///{(tmp_path / 'breakglass.db').as_posix()}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))

    def stored() -> list[str]:
        with sessions() as session:
            return [a.title for a in store.list_alerts(session)]

    async def monitored() -> list[str]:
        stop = asyncio.Event()
        app = build_monitor(plan, chain="local", sessions=sessions, respond=False, incidents=False)
        task = asyncio.create_task(app.run(stop, poll_interval=0.05))
        deadline = time.monotonic() + 15
        while assets.cached_asset(chain="local", address=token.address) is None:
            assert not task.done() and time.monotonic() < deadline, "the unit was never read"
            await asyncio.sleep(0.02)
        await asyncio.to_thread(token.call, vault, "transfer", attacker, 1_500 * 10**18)
        while not stored():
            assert not task.done() and time.monotonic() < deadline, "no alert was stored"
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)
        return stored()

    short = f"{attacker[:6].lower()}…{attacker[-4:].lower()}"
    assert asyncio.run(monitored()) == [f"1,500 aUSD left vault to {short}"]
