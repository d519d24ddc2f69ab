"""The shape each JSON-RPC method's ``result`` must have, checked before anyone reads it.

A node that answers ``result: null`` or a number where a hex string belongs is as broken as
one that drops the connection: the pool fails over instead of handing the value to code that
would crash on it (a ``TypeError`` in gas estimation, an ``AttributeError`` in fee pricing).
Methods not listed here pass through unchecked; their callers read them defensively.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from breakglass.chain.errors import MalformedResponse

__all__ = ["check_result"]

_DATA = re.compile(r"^0x(?:[0-9a-fA-F]{2})*$")
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
# Lenient on quantities with leading zeros: some nodes send them and they parse fine.
_LOOSE_QUANTITY = re.compile(r"^0x[0-9a-fA-F]{1,64}$")


def _quantity(value: object) -> bool:
    return isinstance(value, str) and bool(_LOOSE_QUANTITY.match(value))


def _data(value: object) -> bool:
    return isinstance(value, str) and bool(_DATA.match(value))


def _hash(value: object) -> bool:
    return isinstance(value, str) and bool(_HASH.match(value))


def _block(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    return (
        _quantity(value.get("number"))
        and _hash(value.get("hash"))
        and _quantity(value.get("timestamp"))
        and (value.get("baseFeePerGas") is None or _quantity(value.get("baseFeePerGas")))
    )


def _fee_history(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    base = value.get("baseFeePerGas")
    if not isinstance(base, list) or not base or not all(map(_quantity, base)):
        return False
    reward = value.get("reward")
    return reward is None or (
        isinstance(reward, list)
        and all(isinstance(row, list) and all(map(_quantity, row)) for row in reward)
    )


def _logs(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _latest(params: Sequence[Any]) -> bool:
    return bool(params) and params[0] in ("latest", "safe", "finalized")


# (check, whether null is a valid answer given the params)
_SHAPES: dict[str, tuple[Callable[[object], bool], Callable[[Sequence[Any]], bool]]] = {
    "eth_blockNumber": (_quantity, lambda _p: False),
    "eth_chainId": (_quantity, lambda _p: False),
    "eth_gasPrice": (_quantity, lambda _p: False),
    "eth_maxPriorityFeePerGas": (_quantity, lambda _p: False),
    "eth_estimateGas": (_quantity, lambda _p: False),
    "eth_getBalance": (_quantity, lambda _p: False),
    "eth_getTransactionCount": (_quantity, lambda _p: False),
    "eth_call": (_data, lambda _p: False),
    "eth_getCode": (_data, lambda _p: False),
    "eth_sendRawTransaction": (_hash, lambda _p: False),
    "eth_feeHistory": (_fee_history, lambda _p: False),
    # A numbered block may not exist yet and a hash may be unknown; "latest" always exists.
    "eth_getBlockByNumber": (_block, lambda p: not _latest(p)),
    "eth_getBlockByHash": (_block, lambda _p: True),
    "eth_getLogs": (_logs, lambda _p: False),
}


def check_result(method: str, params: Sequence[Any], result: object, *, endpoint: str) -> None:
    """Raise when ``result`` cannot be an honest answer to ``method(params)``.

    Raises:
        MalformedResponse: the result is null where a value is due, or of the wrong type.
    """
    shape = _SHAPES.get(method)
    if shape is None or (params and params[0] == "pending"):
        return  # a pending block has no hash yet
    check, may_be_null = shape
    if result is None:
        if may_be_null(params):
            return
        raise MalformedResponse("result is null", endpoint=endpoint, method=method)
    if not check(result):
        raise MalformedResponse(
            f"result has the wrong shape ({type(result).__name__})",
            endpoint=endpoint,
            method=method,
        )
