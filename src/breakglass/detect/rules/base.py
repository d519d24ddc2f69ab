"""Shared shapes of built-in rules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from breakglass.chain.codec import DecodedLog
from breakglass.detect.finding import Finding
from breakglass.detect.rule import Rule
from breakglass.ingest.events import BlockAdded

__all__ = ["EventRule"]


class EventRule(Rule):
    """Any occurrence of the rule's event on a watched contract is the finding.

    ``headline`` is formatted with the contract's plan name and the event's arguments.
    """

    abstract = True
    headline: ClassVar[str]

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        contract = self.target_name(log.address)
        args = {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in log.args.items()}
        title = self.headline.format(contract=contract, **args)
        involved = [log.address, *(v for v in args.values() if _is_address(v))]
        yield self.finding(
            block, log, title=title, description=self.description, addresses=involved, data=args
        )


def _is_address(value: object) -> bool:
    return isinstance(value, str) and len(value) == 42 and value.startswith("0x")
