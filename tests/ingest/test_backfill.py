"""Backfill: every log once, in block order, through provider limits and interruptions."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from breakglass import store
from breakglass.chain.errors import (
    AllEndpointsFailed,
    EndpointError,
    ResponseTooLarge,
    RpcError,
)
from breakglass.chain.middleware import Retry
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.contracts.solc import compile_file
from breakglass.devchain import Anvil
from breakglass.errors import ConfigError
from breakglass.ingest.backfill import (
    BackfillCheckpoint,
    BackfillError,
    BackfillProgress,
    BadBlockRange,
    UnknownChain,
    backfill,
    backfill_key,
    is_range_too_large,
    plan_target,
)
from breakglass.plan import load_plan

ROOT = Path(__file__).parents[2]
TOO_MANY = {"code": -32005, "message": "query returned more than 10000 results"}
EMITS = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4]  # Transfer logs per tx
OTHER_EMITS = [2, 7, 1]

Log = dict[str, Any]


# --- helpers ---------------------------------------------------------------------------------


def checkpoint_for(tmp_path: Path, key: str = "backfill:local:0-latest") -> BackfillCheckpoint:
    url = f"sqlite:///{tmp_path / 'backfill.db'}"
    store.upgrade(url)
    return BackfillCheckpoint(store.session_factory(store.make_engine(url)), key)


@dataclass
class Collector:
    """An ``on_logs`` that records every call and can fail on the ``fail_on``-th one."""

    fail_on: int | None = None
    calls: list[tuple[int, int, list[Log]]] = field(default_factory=list)

    async def __call__(self, start: int, stop: int, logs: list[Log]) -> None:
        if self.fail_on is not None and len(self.calls) + 1 == self.fail_on:
            raise KeyboardInterrupt  # stands in for a crash in the consumer
        self.calls.append((start, stop, logs))

    @property
    def logs(self) -> list[Log]:
        return [log for _, _, logs in self.calls for log in logs]


def ids(logs: list[Log]) -> list[tuple[int, int]]:
    return [(int(log["blockNumber"], 16), int(log["logIndex"], 16)) for log in logs]


def assert_contiguous(calls: list[tuple[int, int, list[Log]]], start: int, end: int) -> None:
    expected = start
    for first, last, logs in calls:
        assert first == expected and first <= last
        assert all(first <= int(log["blockNumber"], 16) <= last for log in logs)
        expected = last + 1
    assert expected == end + 1


class LimitingTransport(httpx.AsyncBaseTransport):
    """Forwards to the real node, but refuses ``eth_getLogs`` wider than ``max_blocks``."""

    def __init__(self, max_blocks: int) -> None:
        self.max_blocks = max_blocks
        self.inner = httpx.AsyncHTTPTransport()
        self.refused = 0
        self.widths: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(await request.aread())
        if isinstance(body, dict) and body.get("method") == "eth_getLogs":
            query = body["params"][0]
            width = int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
            self.widths.append(width)
            if width > self.max_blocks:
                self.refused += 1
                envelope = {"jsonrpc": "2.0", "id": body["id"], "error": TOO_MANY}
                return httpx.Response(200, content=orjson.dumps(envelope))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(frozen=True)
class Storm:
    address: str
    other: str
    first: int
    last: int
    expected: list[Log]
    """Logs of ``address`` in [first, last], as one eth_getLogs call returns them."""


def send(anvil: Anvil, to: str | None, data: str) -> dict[str, Any]:
    tx: dict[str, Any] = {"from": anvil.accounts[0], "data": data, "gas": hex(3_000_000)}
    if to is not None:
        tx["to"] = to
    tx_hash = anvil.rpc("eth_sendTransaction", [tx])
    deadline = time.monotonic() + 10
    while (receipt := anvil.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
        assert time.monotonic() < deadline, f"{tx_hash} was not mined"
        time.sleep(0.01)
    assert receipt["status"] == "0x1"
    result: dict[str, Any] = receipt
    return result


def height(anvil: Anvil) -> int:
    return int(anvil.rpc("eth_blockNumber", []), 16)


@pytest.fixture(scope="module")
def storm(anvil: Anvil) -> Storm:
    """Two EventStorms; the first emits sum(EMITS) Transfers over many blocks, gaps included."""
    bytecode = compile_file("EventStorm.sol")["EventStorm"].bytecode
    address = send(anvil, None, bytecode)["contractAddress"]
    other = send(anvil, None, bytecode)["contractAddress"]
    selector = keccak(text="transfers(uint256)")[:4]
    first = height(anvil) + 1
    for index, count in enumerate(EMITS):
        send(anvil, address, "0x" + (selector + encode(["uint256"], [count])).hex())
        if index < len(OTHER_EMITS):
            send(anvil, other, "0x" + (selector + encode(["uint256"], [OTHER_EMITS[index]])).hex())
        anvil.rpc("anvil_mine", [hex(index % 3)])  # empty blocks between some of them
    last = height(anvil)
    query = {"fromBlock": hex(first), "toBlock": hex(last), "address": address}
    expected = anvil.rpc("eth_getLogs", [query])
    assert len(expected) == sum(EMITS)
    return Storm(address, other, first, last, expected)


def run_backfill(pool: EndpointPool, **kwargs: Any) -> Any:
    async def go() -> Any:
        try:
            return await backfill(pool=pool, chain="local", **kwargs)
        finally:
            await pool.aclose()

    return asyncio.run(go())


# --- against a real anvil ---------------------------------------------------------------------


@pytest.mark.chain
def test_backfill_returns_every_log_in_order(anvil: Anvil, storm: Storm, tmp_path: Path) -> None:
    collector = Collector()
    seen: list[BackfillProgress] = []
    result = run_backfill(
        EndpointPool([Endpoint(anvil.http_url)]),
        start=storm.first,
        end=storm.last,
        addresses=[storm.address],
        on_logs=collector,
        checkpoint=checkpoint_for(tmp_path),
        concurrency=3,
        initial_range=4,
        max_range=8,
        progress=seen.append,
    )
    assert collector.logs == storm.expected
    assert_contiguous(collector.calls, storm.first, storm.last)
    assert result.logs == sum(EMITS)
    assert result.blocks == storm.last - storm.first + 1
    assert result.chunks == len(collector.calls) > 1
    assert seen[-1].blocks_done == seen[-1].total_blocks == result.blocks


@pytest.mark.chain
def test_without_addresses_every_contract_is_included(
    anvil: Anvil, storm: Storm, tmp_path: Path
) -> None:
    collector = Collector()
    run_backfill(
        EndpointPool([Endpoint(anvil.http_url)]),
        start=storm.first,
        end=storm.last,
        addresses=None,
        on_logs=collector,
        checkpoint=checkpoint_for(tmp_path),
    )
    by_address = [log["address"].lower() for log in collector.logs]
    assert by_address.count(storm.address.lower()) == sum(EMITS)
    assert by_address.count(storm.other.lower()) == sum(OTHER_EMITS)
    assert ids(collector.logs) == sorted(ids(collector.logs))


@pytest.mark.chain
def test_too_many_results_splits_until_it_fits(anvil: Anvil, storm: Storm, tmp_path: Path) -> None:
    transport = LimitingTransport(max_blocks=3)
    pool = EndpointPool(
        [Endpoint(anvil.http_url)], transport=transport, retry=Retry(attempts=2, backoff=0.01)
    )
    collector = Collector()
    result = run_backfill(
        pool,
        start=storm.first,
        end=storm.last,
        addresses=[storm.address],
        on_logs=collector,
        checkpoint=checkpoint_for(tmp_path),
        concurrency=2,
        initial_range=50,
        grow_after=2,
    )
    assert collector.logs == storm.expected
    assert_contiguous(collector.calls, storm.first, storm.last)
    assert transport.refused > 0 and result.splits > 0
    assert transport.widths[0] == storm.last - storm.first + 1  # the first ask is the whole range
    assert all(w <= 50 for w in transport.widths)


@pytest.mark.chain
def test_interrupted_backfill_resumes_exactly_once(
    anvil: Anvil, storm: Storm, tmp_path: Path
) -> None:
    checkpoint = checkpoint_for(tmp_path, backfill_key("local", storm.first, storm.last))
    options = {
        "start": storm.first,
        "end": storm.last,
        "addresses": [storm.address],
        "checkpoint": checkpoint,
        "concurrency": 4,
        "initial_range": 3,
        "max_range": 3,
    }
    crashed = Collector(fail_on=4)
    with pytest.raises(KeyboardInterrupt):
        run_backfill(EndpointPool([Endpoint(anvil.http_url)]), on_logs=crashed, **options)
    assert len(crashed.calls) == 3
    assert checkpoint.load() == crashed.calls[-1][1]

    resumed = Collector()
    result = run_backfill(EndpointPool([Endpoint(anvil.http_url)]), on_logs=resumed, **options)
    assert result.resumed_from == crashed.calls[-1][1] + 1
    assert crashed.logs + resumed.logs == storm.expected  # nothing twice, nothing missed
    assert_contiguous(crashed.calls + resumed.calls, storm.first, storm.last)

    again = Collector()
    done = run_backfill(EndpointPool([Endpoint(anvil.http_url)]), on_logs=again, **options)
    assert again.calls == [] and done.blocks == 0 and done.logs == 0


@pytest.mark.chain
def test_range_beyond_the_head_is_refused(anvil: Anvil, tmp_path: Path) -> None:
    with pytest.raises(BadBlockRange, match="beyond the chain's head"):
        run_backfill(
            EndpointPool([Endpoint(anvil.http_url)]),
            start=0,
            end=height(anvil) + 1000,
            addresses=None,
            on_logs=Collector(),
            checkpoint=checkpoint_for(tmp_path),
        )


# --- the command, end to end ------------------------------------------------------------------


def write_plan(tmp_path: Path, url: str, address: str) -> Path:
    abi = compile_file("EventStorm.sol")["EventStorm"].abi
    (tmp_path / "EventStorm.json").write_bytes(orjson.dumps(abi))
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "protocol: Storm Test\n"
        "chains:\n"
        "  local:\n"
        "    chain_id: 31337\n"
        f'    rpc: ["{url}"]\n'
        "contracts:\n"
        "  storm:\n"
        "    chain: local\n"
        f'    address: "{address}"\n'
        "    abi: EventStorm.json\n",
        encoding="utf-8",
    )
    return plan


def cli(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "BREAKGLASS_HOME": str(tmp_path / "home"),
    }
    env.pop("BREAKGLASS_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "breakglass", "backfill", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.e2e
@pytest.mark.chain
def test_cli_backfills_and_summarises(anvil: Anvil, storm: Storm, tmp_path: Path) -> None:
    plan = write_plan(tmp_path, anvil.http_url, storm.address)
    args = ("--plan", plan, "--chain", "local", "--from", storm.first, "--to", storm.last)
    result = cli(tmp_path, *args, "--range", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    blocks = storm.last - storm.first + 1
    total = sum(EMITS)
    assert f"blocks {blocks}, logs {total}, decoded {total}, undecoded 0" in result.stdout
    assert "logs/s" in result.stdout
    again = cli(tmp_path, *args)
    assert again.returncode == 0
    assert "already backfilled, nothing to do" in again.stdout

    latest = cli(tmp_path, "--plan", plan, "--chain", "local", "--from", storm.first)
    assert latest.returncode == 0, latest.stderr
    assert f"logs {total}," in latest.stdout


@pytest.mark.e2e
@pytest.mark.chain
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--chain", "local", "--from", "10", "--to", "5"), "--from 10 is after --to 5"),
        (("--chain", "nowhere", "--from", "0", "--to", "5"), "no chain 'nowhere'"),
        (("--chain", "local", "--from", "0", "--to", "soon"), "neither a block number"),
    ],
)
def test_cli_bad_input_exits_2(
    anvil: Anvil, storm: Storm, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    plan = write_plan(tmp_path, anvil.http_url, storm.address)
    result = cli(tmp_path, "--plan", plan, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join((result.stdout + result.stderr).split())
    assert "Traceback" not in result.stdout + result.stderr


# --- without a chain -------------------------------------------------------------------------


def mock_pool(head: int, seen: list[str]) -> EndpointPool:
    def answer(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        seen.append(body["method"])
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": hex(head)})

    return EndpointPool([Endpoint("http://node.test")], transport=httpx.MockTransport(answer))


@pytest.fixture
def offline_checkpoint(tmp_path: Path) -> Iterator[BackfillCheckpoint]:
    yield checkpoint_for(tmp_path)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (10, 5, "--from 10 is after --to 5"),
        (-1, 5, "cannot be negative"),
        (0, -3, "cannot be negative"),
    ],
)
def test_bad_ranges_fail_before_any_call(
    offline_checkpoint: BackfillCheckpoint, start: int, end: int, message: str
) -> None:
    seen: list[str] = []
    with pytest.raises(BadBlockRange, match=message):
        run_backfill(
            mock_pool(100, seen),
            start=start,
            end=end,
            addresses=None,
            on_logs=Collector(),
            checkpoint=offline_checkpoint,
        )
    assert seen == []


def test_start_after_latest_is_refused(offline_checkpoint: BackfillCheckpoint) -> None:
    with pytest.raises(BadBlockRange, match="after the chain's head 7"):
        run_backfill(
            mock_pool(7, []),
            start=8,
            end="latest",
            addresses=None,
            on_logs=Collector(),
            checkpoint=offline_checkpoint,
        )


def test_bad_settings_are_config_errors(offline_checkpoint: BackfillCheckpoint) -> None:
    with pytest.raises(ConfigError, match="concurrency"):
        run_backfill(
            mock_pool(7, []),
            start=0,
            end=1,
            addresses=None,
            on_logs=Collector(),
            checkpoint=offline_checkpoint,
            concurrency=0,
        )


def test_a_single_block_too_large_everywhere_is_a_clear_error(
    offline_checkpoint: BackfillCheckpoint,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        if body["method"] == "eth_blockNumber":
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": "0x9"})
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "error": TOO_MANY})

    pool = EndpointPool(
        [Endpoint("http://node.test")],
        transport=httpx.MockTransport(answer),
        retry=Retry(attempts=1),
    )
    with pytest.raises(BackfillError, match="block 4 alone is too large"):
        run_backfill(
            pool,
            start=4,
            end=6,
            addresses=None,
            on_logs=Collector(),
            checkpoint=offline_checkpoint,
        )


@pytest.mark.parametrize(
    ("error", "too_large"),
    [
        (
            RpcError(-32005, "query returned more than 10000 results", endpoint="e", method="m"),
            True,
        ),
        (RpcError(-32602, "Log response size exceeded.", endpoint="e", method="m"), True),
        (RpcError(-32000, "block range is too wide", endpoint="e", method="m"), True),
        (RpcError(-32000, "too many results", endpoint="e", method="m"), True),
        (ResponseTooLarge("body over cap", endpoint="e", method="m"), True),
        (RpcError(-32000, "header not found", endpoint="e", method="m"), False),
        (RpcError(429, "rate limit exceeded", endpoint="e", method="m"), False),
    ],
)
def test_too_large_classification(error: EndpointError, too_large: bool) -> None:
    assert is_range_too_large(error) is too_large
    timeout = RpcError(-32000, "timeout", endpoint="a", method="m")
    wrapped = AllEndpointsFailed("eth_getLogs", [timeout, error])
    assert is_range_too_large(wrapped) is too_large


def test_unknown_chain_names_the_known_ones(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        'protocol: P\nchains:\n  main:\n    chain_id: 1\n    rpc: ["http://x.test"]\n',
        encoding="utf-8",
    )
    with pytest.raises(UnknownChain, match=r"no chain 'side' \(chains: main\)"):
        plan_target(load_plan(plan), "side")
