"""The calls tried on a suspect contract, and a drain's steps in words.

Without an ABI the argument types are unknown, so each function is called with a few
argument lists that fit the usual shapes of an attack entry point: none (``attack()``), a
target (``attack(address)``), an amount (``drain(uint256)``), a target and an amount
(``exploit(address,uint256)``); and with the deployer's balance as value. Each list is
padded with zero words up to :data:`_WORDS`, so a function with more static parameters
still decodes (its extra arguments are zero) instead of reverting on short calldata.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from breakglass.analysis.assets import format_amount, short_address
from breakglass.respond.preexec.fork_evm import Call, Outcome

__all__ = ["TRANSFER_TOPIC", "candidate_calls", "trace_summary"]

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
