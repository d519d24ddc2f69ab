"""A token the monitor cannot read the unit of is named in the log: its address is public, and
a field called ``token`` would be masked as a secret (``token=***``), leaving the operator no
way to tell which watched token says nothing of itself."""

from __future__ import annotations

import asyncio
import io

import orjson
import pytest

from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.detect.setup import rule_detector
from breakglass.detect.units import read_rule_units
from breakglass.devchain import Anvil
from breakglass.logs import configure_logging

pytestmark = pytest.mark.chain

NO_CODE = "0x" + "7a" * 20  # no contract there: neither symbol() nor decimals() answers


def test_an_unreadable_token_is_logged_by_its_address(anvil: Anvil) -> None:
    rule = rule_detector(
        "large-outflow",
        [("vault", anvil.accounts[7])],
        chain="local",
        params={"token": NO_CODE, "threshold": 500},
    )
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)

    async def read() -> None:
        pool = EndpointPool([Endpoint(anvil.http_url)], chain="local")
        try:
            assert await read_rule_units(rule.rules, pool=pool, chain="local") == {}
        finally:
            await pool.aclose()

    try:
        asyncio.run(read())
    finally:
        configure_logging("WARNING", "console")
    records = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    unknown = [r for r in records if r["event"] == "detect.token_unit_unknown"]
    assert unknown, records
    assert NO_CODE in unknown[0].values(), unknown[0]
