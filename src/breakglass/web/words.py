"""The dashboard's words: labels for stored values (``awaiting-approval`` → "Awaiting
approval"), and addresses and transactions as the plan's names with links to the chain's
explorer, so a page reads in the terms a person checks on Etherscan, not in column values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup

from breakglass.analysis.assets import (
    cached_asset,
    explorer_link,
    format_amount,
    plan_names,
    short_address,
)
from breakglass.plan.models import Plan
from breakglass.report.timeline_view import (
    StoredEvent,
    TimelineRow,
    people_timeline,
    short_hash,
)

__all__ = ["Links", "label", "plain", "sentence"]

_Kind = Literal["tx", "address", "block", "token"]
_WORDS = {
    "P1": "P1",
    "P2": "P2",
    "P3": "P3",
    "P4": "P4",
    "P5": "P5",
    "tx": "Transaction",
    "comms": "Communication",
    "usd": "USD",
    "incident_lead": "Incident lead",
}


def label(value: object) -> str:
    """A stored value as a label: ``awaiting-approval`` → ``Awaiting approval``."""
    text = str(value)
    if text in _WORDS:
        return _WORDS[text]
    words = text.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def sentence(value: object) -> str:
    """``value`` with its first letter upper-case and the rest as it is (a name, a symbol
    or a revert reason keeps its case, which Jinja's ``capitalize`` would not)."""
    text = str(value)
    return text[:1].upper() + text[1:]


def plain(value: object) -> str:
    """A recorded detail value in words: yes/no for booleans, lists joined, '-' for none."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set):
        return ", ".join(plain(v) for v in value) or "-"
    return str(value)


def _code(text: str) -> Markup:
    return Markup('<code class="hash short">{0}</code>').format(text)


@dataclass(frozen=True)
class Links:
    """Addresses and transactions of the plan's chains as links to their explorer."""

    plan: Plan

    def _explorer(self, chain: str | None) -> str | None:
        config = self.plan.chains.get(chain) if chain else None
        if config is None and len(self.plan.chains) == 1:
            config = next(iter(self.plan.chains.values()))  # a one-chain plan: no doubt
        return config.explorer if config is not None else None

    def _names(self) -> dict[str, str]:
        return plan_names(self.plan)

    def address(self, chain: str | None, address: str | None) -> Markup:
        """The plan's name for ``address`` (else its short form), linked when the chain has an
        explorer; the whole address in the title."""
        if not address:
            return Markup("")
        name = self._names().get(address.lower())
        short = _code(short_address(address))
        inner = Markup("{0} ({1})").format(name, short) if name else short
        return self._link(self._explorer(chain), "address", address, inner)

    def tx(self, chain: str | None, tx_hash: str | None) -> Markup:
        """``0x1234…cdef`` linked to the transaction on the chain's explorer."""
        if not tx_hash:
            return Markup("")
        text = f"{tx_hash[:6]}…{tx_hash[-4:]}" if len(tx_hash) > 20 else tx_hash
        return self._link(self._explorer(chain), "tx", tx_hash, _code(text))

    def block(self, chain: str | None, number: int | None) -> Markup:
        """``block 56`` linked to the block on the chain's explorer."""
        if number is None:
            return Markup("")
        text = Markup("block {0}").format(number)
        return self._link(self._explorer(chain), "block", str(number), text)

    @staticmethod
    def place(location: str, file: object) -> str:
        """``/srv/plan/breakglass.yaml:8:3`` as ``line 8, column 3`` when it is in the plan
        file the page names already; another file keeps its name."""
        prefix = f"{file}:"
        if not location.startswith(prefix):
            return location
        parts = location.removeprefix(prefix).split(":")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            return f"line {parts[0]}, column {parts[1]}"
        return f"line {parts[0]}" if parts and parts[0].isdigit() else location

    def asset(self, chain: str | None, asset: str | None) -> Markup:
        """A token by its symbol when read (linked to its address), else as an address; a
        name that is not an address (``ETH``) as it is."""
        if not asset:
            return Markup("")
        if not (asset.startswith("0x") and len(asset) == 42):
            return Markup("{0}").format(asset)
        info = cached_asset(chain=chain or "", address=asset)
        if info is None or info.symbol is None:
            return self.address(chain, asset)
        return self._link(self._explorer(chain), "token", asset, Markup("{0}").format(info.symbol))

    def amount(self, chain: str | None, asset: str | None, value: object) -> Markup:
        """``18,333.33 dUSD`` (the symbol linked to the token) when its decimals are known,
        else ``1,000 base units of 0x34…`` ; a value that is not a whole number is shown as
        stored, beside the asset."""
        text = str(value)
        info = cached_asset(chain=chain or "", address=asset) if asset else None
        if not text.lstrip("-").isdigit():
            return Markup("{0} {1}").format(text, self.asset(chain, asset))
        if info is None or info.decimals is None:
            return Markup("{0:,} base units of {1}").format(int(text), self.asset(chain, asset))
        number = format_amount(int(text), decimals=info.decimals, symbol=None)
        return Markup('<span class="amount">{0} {1}</span>').format(
            number, self.asset(chain, asset)
        )

    def row_text(self, row: TimelineRow) -> Markup:
        """A timeline row's words with its transaction linked where the words name it
        (``… — tx 0x3952…0d49 in block 56``), else after them."""
        text = Markup("{0}").format(row.text)
        if not row.tx_hash:
            return text
        link = self.tx(row.chain, row.tx_hash)
        before, found, after = row.text.partition(short_hash(row.tx_hash))
        if not found:
            return Markup("{0} {1}").format(row.text, link)
        return Markup("{0}{1}{2}").format(before, link, after)

    def timeline(self, events: Sequence[StoredEvent], chain: str | None) -> list[TimelineRow]:
        """The stored ``events`` as lines for people: one row per playbook step, with its
        phases as detail (:func:`breakglass.report.timeline_view.people_timeline`)."""
        explorers = {name: config.explorer for name, config in self.plan.chains.items()}
        return people_timeline(events, chain=chain, explorers=explorers)

    @staticmethod
    def _link(explorer: str | None, kind: _Kind, value: str, inner: Markup) -> Markup:
        """``inner`` with the whole ``value`` in its title, linked when there is an explorer;
        it wraps only between words, never inside a short hash."""
        url = explorer_link(explorer, kind, value)
        if url is None or not url.startswith(("https://", "http://")):
            return Markup('<span class="ref" title="{0}">{1}</span>').format(value, inner)
        return Markup(
            '<a class="ref" href="{0}" title="{1}" rel="noopener noreferrer">{2}</a>'
        ).format(url, value, inner)
