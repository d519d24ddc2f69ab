"""JSON-RPC 2.0 envelopes: building requests and reading answers, shared by every transport.

Pure functions: the HTTP and WebSocket clients do the I/O and hand the decoded answer here, so
both raise the same errors for the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from breakglass.chain.errors import MalformedResponse, RpcError

__all__ = ["Call", "batch_body", "batch_label", "batch_results", "call_body", "result_of", "single"]

Call = tuple[str, Sequence[Any]]


def call_body(request_id: int, method: str, params: Sequence[Any]) -> dict[str, Any]:
    """One request object."""
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


def batch_body(ids: Sequence[int], calls: Sequence[Call]) -> list[dict[str, Any]]:
    """A batch of request objects, ``ids[i]`` for ``calls[i]``."""
    return [call_body(i, m, p) for i, (m, p) in zip(ids, calls, strict=True)]


def batch_label(calls: Sequence[Call]) -> str:
    """How errors name a batch: its first method and its size."""
    return f"batch[{calls[0][0]}…x{len(calls)}]"


def single(answer: object, request_id: int, *, endpoint: str, method: str) -> Any:
    """The ``result`` of the answer to request ``request_id``.

    Raises:
        RpcError: an error envelope, also a request-level one (``id`` null).
        MalformedResponse: not an object, wrong id, or neither result nor error.
    """
    if not isinstance(answer, dict):
        raise MalformedResponse("answer is not an object", endpoint=endpoint, method=method)
    if answer.get("id") is None and "error" in answer:
        result_of(answer, endpoint=endpoint, method=method)  # e.g. invalid request
    if answer.get("id") != request_id:
        raise MalformedResponse("answer id does not match", endpoint=endpoint, method=method)
    return result_of(answer, endpoint=endpoint, method=method)


def batch_results(
    answer: object, ids: Sequence[int], calls: Sequence[Call], *, endpoint: str
) -> list[Any]:
    """The results of a batch answer, in the order of ``calls``.

    Raises:
        RpcError: the first call (in order) that answered with an error envelope, or an error
            envelope answering the whole batch.
        MalformedResponse: the answer is not a list, has a bad item or misses an id.
    """
    label = batch_label(calls)
    if not isinstance(answer, list):
        # A node may answer a whole batch with one error envelope.
        if isinstance(answer, dict) and "error" in answer:
            result_of(answer, endpoint=endpoint, method=label)
        raise MalformedResponse("batch answer is not a list", endpoint=endpoint, method=label)
    by_id: dict[object, dict[str, Any]] = {}
    for item in answer:
        if not isinstance(item, dict) or isinstance(item.get("id"), bool | float):
            raise MalformedResponse("bad batch item", endpoint=endpoint, method=label)
        by_id[item.get("id")] = item
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise MalformedResponse(
            f"batch answer misses {len(missing)} of {len(ids)} ids", endpoint=endpoint, method=label
        )
    return [
        result_of(by_id[i], endpoint=endpoint, method=m)
        for i, (m, _) in zip(ids, calls, strict=True)
    ]


def result_of(envelope: dict[str, Any], *, endpoint: str, method: str) -> Any:
    """The ``result`` of one response object.

    Raises:
        RpcError: the object carries a well-formed ``error``.
        MalformedResponse: a malformed ``error``, or neither ``result`` nor ``error``.
    """
    error = envelope.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise MalformedResponse("error is not an object", endpoint=endpoint, method=method)
        code, message = error.get("code"), error.get("message")
        if not isinstance(code, int) or isinstance(code, bool):
            raise MalformedResponse("error code not int", endpoint=endpoint, method=method)
        raise RpcError(
            code, str(message)[:500], data=error.get("data"), endpoint=endpoint, method=method
        )
    if "result" not in envelope:
        raise MalformedResponse("neither result nor error", endpoint=endpoint, method=method)
    return envelope["result"]
