"""The node's own simulation (``eth_simulateV1``) behind :class:`ForkEVM`'s interface.

Where pyrevm cannot serve (not installed for the platform, or a chain whose precompiles
and opcodes revm does not know), the node simulates instead. One ``eth_simulateV1`` request
runs, in one simulated block on the forked state: the calls kept so far, the balance reads
before, the call, and the balance reads after, with the funding given by
:meth:`NodeFork.set_balance` as state overrides. ``traceTransfers`` makes the node report
native currency moves as ``Transfer`` logs of ``0xeeee…eeee``; the native deltas are read
from those, the token deltas from the reads.

Each call is a round trip, so this is slower than the in-process fork (a few ms per call
on a local node); :func:`open_fork` says which one was used, and findings carry it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal

import httpx
import orjson

from breakglass.respond.preexec.fork_evm import (
    NATIVE,
    Call,
    ForkEVM,
    Holding,
    NextBlock,
    Outcome,
    SimLog,
    SimulationError,
    revert_reason,
)

__all__ = ["Backend", "NodeFork", "SimulationRefused", "open_fork", "probe_simulate"]

Backend = Literal["auto", "pyrevm", "node"]
"""Which simulator to use: pyrevm when installed (``auto``), or one of them only."""

_TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
_ETH_LOGGER = "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
_BALANCE_OF = "0x70a08231"
_READER = "0x000000000000000000000000000000000000b1a5"


class SimulationRefused(SimulationError):
    """The node answered, with an error: it lacks the method or rejected the request."""


_SERVED: dict[str, bool] = {}
"""Per node URL, whether it serves ``eth_simulateV1`` (asked once per process)."""


class NodeFork:
    """Calls simulated by the node at ``url`` on the state after block ``at``.

    Args:
        client: the HTTP client to send with (shared between forks of one screen).

    Raises (from every method):
        SimulationError: the node could not be reached or refused the request; the message
            never holds the URL.
    """

    backend: ClassVar[str] = "eth_simulateV1"

    def __init__(
        self, url: str, *, at: str | int, client: httpx.Client, timeout: float = 10.0
    ) -> None:
        self._url = url
        self._client = client
        self._timeout = timeout
        self.at = at if isinstance(at, str) else hex(at)
        self._overrides: dict[str, dict[str, str]] = {}
        self._kept: list[dict[str, Any]] = []
        self.calls = 0

    def _rpc(self, method: str, params: list[Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        try:
            response = self._client.post(
                self._url,
                content=orjson.dumps(body),
                headers={"content-type": "application/json"},
                timeout=self._timeout,
            )
            answer = orjson.loads(response.content)
        except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
            raise SimulationError(
                f"{method} at block {self.at} failed: {type(exc).__name__}"
            ) from None  # the transport's message may hold the URL
        if not isinstance(answer, dict) or "error" in answer:
            error = answer.get("error") if isinstance(answer, dict) else answer
            message = error.get("message") if isinstance(error, dict) else error
            raise SimulationRefused(f"{method} at block {self.at} refused: {str(message)[:200]}")
        return answer.get("result")

    # -- state ------------------------------------------------------------------------------

    def balance(self, address: str) -> int:
        override = self._overrides.get(address.lower(), {}).get("balance")
        if override is not None:
            return int(override, 16)
        return int(str(self._rpc("eth_getBalance", [address.lower(), self.at])), 16)

    def set_balance(self, address: str, wei: int) -> None:
        self._overrides.setdefault(address.lower(), {})["balance"] = hex(wei)

    def code(self, address: str) -> bytes:
        raw = str(self._rpc("eth_getCode", [address.lower(), self.at]) or "0x")
        return bytes.fromhex(raw.removeprefix("0x"))

    def nonce(self, address: str) -> int:
        return int(str(self._rpc("eth_getTransactionCount", [address.lower(), self.at])), 16)

    def token_balance(self, token: str, holder: str) -> int | None:
        data = bytes.fromhex(_BALANCE_OF[2:] + "00" * 12 + holder.lower()[2:])
        output = self.view(token, data)
        return int.from_bytes(output[:32], "big") if output and len(output) >= 32 else None

    def view(self, to: str, data: bytes) -> bytes | None:
        (result,) = self._simulate([_tx(Call(_READER, to, data, gas=1_000_000))])
        return _output(result) if result.get("status") == "0x1" else None

    # -- calls ------------------------------------------------------------------------------

    def deploy(self, caller: str, init_code: bytes, value: int = 0) -> str | None:
        """Not served: ``eth_simulateV1`` is not asked to run constructors (anvil's refuses a
        call without a recipient), so a pending deployment needs the in-process fork.

        Raises:
            SimulationError: always.
        """
        raise SimulationError(
            "a pending deployment is simulated by pyrevm only (simulator: auto or pyrevm)"
        )

    def call(self, call: Call, *, watch: Iterable[Holding] = (), keep: bool = False) -> Outcome:
        """Like :meth:`ForkEVM.call`: ``call`` with the ``watch`` balances around it."""
        holdings: tuple[Holding, ...] = tuple(dict.fromkeys(watch))
        tokens = [h for h in holdings if h.asset != NATIVE]
        reads = [
            _tx(
                Call(
                    _READER,
                    h.asset,
                    bytes.fromhex(_BALANCE_OF[2:] + "00" * 12 + h.holder.lower()[2:]),
                )
            )
            for h in tokens
        ]
        self.calls += 1
        results = self._simulate([*reads, _tx(call), *reads])
        before, result, after = (
            results[: len(reads)],
            results[len(reads)],
            results[len(reads) + 1 :],
        )
        success = result.get("status") == "0x1"
        output = _output(result)
        gas = int(str(result.get("gasUsed") or "0x0"), 16)
        if not success:
            return Outcome(call, False, output, gas, error=revert_reason(output))
        deltas: dict[Holding, int] = {}
        for holding, was, now in zip(tokens, before, after, strict=True):
            if was.get("status") == "0x1" and now.get("status") == "0x1":
                change = _word(now) - _word(was)
                if change:
                    deltas[holding] = change
        logs: list[SimLog] = []
        for raw in result.get("logs") or ():
            address = str(raw.get("address", "")).lower()
            topics = tuple(str(t).lower() for t in raw.get("topics") or ())
            data = bytes.fromhex(str(raw.get("data") or "0x").removeprefix("0x"))
            if address == _ETH_LOGGER and topics[:1] == (_TRANSFER,) and len(topics) == 3:
                amount = int.from_bytes(data[:32], "big")
                for holding in holdings:
                    if holding.asset == NATIVE and "0x" + topics[1][-40:] == holding.holder:
                        deltas[holding] = deltas.get(holding, 0) - amount
                    if holding.asset == NATIVE and "0x" + topics[2][-40:] == holding.holder:
                        deltas[holding] = deltas.get(holding, 0) + amount
                continue
            logs.append(SimLog(address, topics, data))
        if keep:
            self._kept.append(_tx(call))
        return Outcome(
            call, True, output, gas, tuple(logs), None, {h: d for h, d in deltas.items() if d}
        )

    def _simulate(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "blockStateCalls": [{"calls": [*self._kept, *calls]}],
            "traceTransfers": True,
            "validation": False,
        }
        if self._overrides:
            request["blockStateCalls"][0]["stateOverrides"] = self._overrides
        blocks = self._rpc("eth_simulateV1", [request, self.at])
        try:
            results = list(blocks[0]["calls"])[len(self._kept) :]
        except (TypeError, KeyError, IndexError) as exc:
            raise SimulationError(f"eth_simulateV1 answered in an unknown shape: {exc}") from exc
        if len(results) != len(calls):
            raise SimulationError("eth_simulateV1 answered for another number of calls")
        return results


def _tx(call: Call) -> dict[str, Any]:
    return {
        "from": call.caller.lower(),
        "to": call.to.lower(),
        "input": "0x" + call.data.hex(),
        "value": hex(call.value),
        "gas": hex(call.gas),
    }


def _output(result: dict[str, Any]) -> bytes:
    return bytes.fromhex(str(result.get("returnData") or "0x").removeprefix("0x"))


def _word(result: dict[str, Any]) -> int:
    return int.from_bytes(_output(result)[:32], "big")


def probe_simulate(url: str, client: httpx.Client) -> bool:
    """Whether the node at ``url`` serves ``eth_simulateV1`` (one empty simulation).

    Raises:
        SimulationError: the node could not be reached: no answer either way.
    """
    try:
        NodeFork(url, at="latest", client=client, timeout=5.0)._rpc(
            "eth_simulateV1", [{"blockStateCalls": [{"calls": []}]}, "latest"]
        )
    except SimulationRefused:
        return False
    return True


def open_fork(
    url: str,
    *,
    at: str | int,
    next_block: NextBlock,
    chain_id: int,
    backend: Backend = "auto",
    client: httpx.Client | None = None,
) -> ForkEVM | NodeFork:
    """A fork of block ``at``: pyrevm in process unless ``backend`` says otherwise or pyrevm
    is not installed, else the node's ``eth_simulateV1`` once the node says it serves it.

    Raises:
        SimulationError: the chosen backend is unavailable, or the node cannot be reached.
    """
    if backend in ("auto", "pyrevm"):
        try:
            return ForkEVM(url, at=at, next_block=next_block, chain_id=chain_id)
        except SimulationError:
            if backend == "pyrevm":
                raise
    client = client or httpx.Client()
    served = _SERVED.get(url)
    if served is None:
        served = _SERVED[url] = probe_simulate(url, client)
    if not served:
        missing = "" if backend == "node" else " and pyrevm is not installed"
        raise SimulationError(f"the node serves no eth_simulateV1{missing}: nothing can simulate")
    return NodeFork(url, at=at, client=client)
