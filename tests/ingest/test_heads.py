"""Head sources on a real anvil."""

from __future__ import annotations

import asyncio

import pytest

from breakglass.devchain import Anvil
from breakglass.ingest import WsHeads

pytestmark = pytest.mark.chain


def test_ws_heads_start_with_the_current_head_then_follow(anvil: Anvil) -> None:
    """A block mined before the subscription is live is not lost: the latest block comes
    first, without waiting for the chain to move."""
    anvil.rpc("evm_mine", [])
    latest = anvil.rpc("eth_getBlockByNumber", ["latest", False])

    async def scenario() -> list[str]:
        seen: list[str] = []
        heads = aiter(WsHeads(anvil.ws_url))
        header, _ = await asyncio.wait_for(anext(heads), 5)
        seen.append(header.hash)
        await asyncio.to_thread(anvil.rpc, "evm_mine", [])
        header, _ = await asyncio.wait_for(anext(heads), 5)
        seen.append(header.hash)
        await heads.aclose()  # type: ignore[attr-defined]
        return seen

    first, second = asyncio.run(scenario())
    assert first == latest["hash"]
    assert second == anvil.rpc("eth_getBlockByNumber", ["latest", False])["hash"]
