"""What an approval is bound to: the exact action a step would carry out.

``approve`` rebuilds the step's action from the plan as it is *now*. Had the plan changed
between the request and the approval (an ``unpause`` where a ``pause`` stood, another signer
or target), the approver would have approved one thing and another would run. So the action
is hashed when the step starts waiting, the hash is shown with the request, and an approval
goes ahead only when the plan still builds an action with that hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields, is_dataclass
from typing import Any

from breakglass.respond.actions.base import Action

__all__ = ["action_hash"]


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    text = getattr(value, "text", None)  # a parsed check is what its text says
    if isinstance(text, str):
        return text
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


def action_hash(action: Action) -> str:
    """A short hash of everything the action would do: its kind, chain, target, calldata,
    signer (or Safe), checks and message; 16 hex digits after ``0x``."""
    doc = {"type": type(action).__name__, **_plain(action)}
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
    return "0x" + digest[:16]
