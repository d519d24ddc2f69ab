"""The calls tried on a suspect contract, and a drain in words and data.

Without an ABI the argument types are unknown, so each function is called with a few
argument lists that fit the usual shapes of an attack entry point: none (``attack()``), a
target (``attack(address)``), an amount (``drain(uint256)``), a target and an amount
(``exploit(address,uint256)``); and with the deployer's balance as value. Each list is
padded with zero words up to :data:`_WORDS`, so a function with more static parameters
still decodes (its extra arguments are zero) instead of reverting on short calldata.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from breakglass.analysis.assets import format_amount, short_address
from breakglass.respond.preexec.fork_evm import Call, Outcome

if TYPE_CHECKING:
    from breakglass.respond.preexec.attack_contract import Verdict

__all__ = [
    "TRANSFER_TOPIC",
    "candidate_calls",
    "drain_data",
    "drain_title",
    "trace_summary",
]

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
"""topic0 of ERC-20 ``Transfer(address,address,uint256)``."""

_WORDS = 6


def _word(value: int | str) -> bytes:
    if isinstance(value, str):
        return bytes(12) + bytes.fromhex(value.removeprefix("0x"))
    return value.to_bytes(32, "big")


def _arguments(addresses: Sequence[str], amounts: Sequence[int]) -> Iterator[Sequence[int | str]]:
    yield []
    yield from ([a] for a in addresses)
    yield from ([n] for n in amounts)
    for address in addresses:
        for amount in amounts:
            pair: list[int | str] = [address, amount]
            yield pair


def candidate_calls(
    *,
    contract: str,
    caller: str,
    selectors: Sequence[str],
    addresses: Sequence[str],
    amounts: Sequence[int],
    value: int,
) -> Iterator[Call]:
    """The calls to try, most likely first: every selector without arguments, then with
    each argument list, then the fallback; with ``value`` where it is non-zero.

    Args:
        selectors: ``0x`` + 8 hex, the contract's dispatcher.
        addresses: the watched contracts (the deployer is added).
        amounts: base-unit amounts worth asking for (duplicates and zeros dropped).
    """
    targets = list(dict.fromkeys([*addresses, caller]))
    sizes = [n for n in dict.fromkeys(amounts) if n > 0]
    argument_lists = list(_arguments(targets, sizes))
    padding = bytes(32 * _WORDS)
    for arguments in argument_lists:
        encoded = b"".join(_word(a) for a in arguments)
        for selector in selectors:
            head = bytes.fromhex(selector.removeprefix("0x"))
            yield Call(caller, contract, head + encoded + padding[len(encoded) :])
    if value:
        for selector in selectors:
            data = bytes.fromhex(selector.removeprefix("0x")) + padding
            yield Call(caller, contract, data, value=value)
    yield Call(caller, contract, b"", value=value)  # receive() / fallback()


def trace_summary(
    outcome: Outcome,
    names: Mapping[str, str],
    units: Mapping[str, tuple[int | None, str | None]],
) -> tuple[str, ...]:
    """The drain in words: the call, then each token transfer and other log, in order.

    Args:
        names: lowercase address → name (plan names, "deployer", "contract").
        units: token address → (decimals, symbol), where known.
    """
    call = outcome.call

    def name(address: str) -> str:
        return names.get(address.lower()) or short_address(address)

    selector = "0x" + call.data[:4].hex() if call.data else "fallback"
    lines = [
        f"{name(call.caller)} calls {name(call.to)}.{selector}"
        + (f" with {call.value:,} wei" if call.value else "")
        + f": {'success' if outcome.success else outcome.error}, {outcome.gas_used:,} gas"
    ]
    for log in outcome.logs:
        if log.topics and log.topics[0] == TRANSFER_TOPIC and len(log.topics) == 3:
            decimals, symbol = units.get(log.address, (None, None))
            amount = int.from_bytes(log.data[:32], "big") if len(log.data) >= 32 else 0
            shown = format_amount(
                amount, decimals=decimals, symbol=symbol or short_address(log.address)
            )
            source, to = "0x" + log.topics[1][-40:], "0x" + log.topics[2][-40:]
            lines.append(f"  {shown}: {name(source)} → {name(to)}")
        else:
            topic = log.topics[0][:10] if log.topics else "anonymous"
            lines.append(f"  event {topic}… from {name(log.address)}")
    return tuple(lines[:40])


def drain_title(verdict: Verdict) -> str:
    """``0xef11…64ca (deployed by 0x14dc…9955) drains 30,000 aUSD from vault in simulation,
    calling 0x9890220b``."""
    assert verdict.drain is not None
    creation, call = verdict.creation, verdict.drain.outcome.call
    selector = "0x" + call.data[:4].hex() if call.data else "its fallback"
    lost = ", ".join(
        f"{format_amount(x.amount, decimals=x.decimals, symbol=x.symbol)} from {x.holder_name}"
        for x in verdict.drain.losses
    )
    return (
        f"{short_address(creation.address)} (deployed by {short_address(creation.deployer)})"
        f" drains {lost} in simulation, calling {selector}"
    )


def drain_data(verdict: Verdict) -> dict[str, Any]:
    """A drain's finding data: who deployed what, the replayable call, the losses in base
    units and in words, the steps, why it was simulated, and by what."""
    drain = verdict.drain
    assert drain is not None
    creation, call = verdict.creation, drain.outcome.call
    return {
        "contract": creation.address,
        "deployer": creation.deployer,
        "deployer_nonce": creation.deployer_nonce,
        "creator": creation.creator,
        "pending": creation.pending,
        "call": {
            "from": call.caller,
            "to": call.to,
            "data": "0x" + call.data.hex(),
            "value": call.value,
        },
        "losses": [
            {
                "holder": x.holder_name,
                "address": x.holder,
                "asset": x.asset,
                "symbol": x.symbol,
                "amount": x.amount,
                "shown": format_amount(x.amount, decimals=x.decimals, symbol=x.symbol),
                **({"usd": f"{float(x.usd):.2f}"} if x.usd is not None else {}),
            }
            for x in drain.losses
        ],
        "funded": drain.funded,
        "trace": list(drain.trace),
        "gas_used": drain.outcome.gas_used,
        "reasons": list(verdict.reasons),
        "simulated_calls": verdict.calls,
        "simulation_ms": round(verdict.seconds * 1000, 1),
        "backend": verdict.backend,
    }
