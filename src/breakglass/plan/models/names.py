"""Names where an address is expected: a contract or signer of the plan instead of its 0x.

Copying an address around the plan is how a mainnet address ends up in an Arbitrum rule.
Wherever the plan expects an address (analysis assets, feeds, pairs and labels; rule
parameters; playbook step and ``verify`` arguments) it may name a contract or a signer
instead. Analysis names are resolved when the plan loads, to the contract's home chain
(:meth:`Plan.on_chain` moves them to another); rule parameters and step arguments are
resolved on the chain the rule or step acts on.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from breakglass.plan.models.plan import Plan

__all__ = [
    "ADDRESS",
    "addresses_on",
    "explain_name",
    "home_addresses",
    "resolve_analysis_names",
    "resolve_names",
]

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def home_addresses(doc: Mapping[str, Any]) -> dict[str, str]:
    """Per contract or signer name of a raw plan document, its address (a contract's on its
    home chain); names whose address cannot be read are left out."""
    found: dict[str, str] = {}
    signers = doc.get("signers")
    if isinstance(signers, dict):
        for name, signer in signers.items():
            if isinstance(signer, dict) and isinstance(signer.get("address"), str):
                found[str(name)] = signer["address"]
    contracts = doc.get("contracts")
    if isinstance(contracts, dict):
        for name, contract in contracts.items():
            address = _home_address(contract)
            if address is not None:
                found[str(name)] = address
    return found


def _home_address(contract: Any) -> str | None:
    if not isinstance(contract, dict):
        return None
    if isinstance(contract.get("address"), str):
        return str(contract["address"])
    deployments = contract.get("deployments")
    if isinstance(deployments, dict) and deployments:
        first = next(iter(deployments.values()))
        address = first.get("address") if isinstance(first, dict) else first
        return address if isinstance(address, str) else None
    return None


def _name(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, str) and not ADDRESS.match(value) and value in names:
        return names[value]
    return value


def _renamed(item: Any, key: str, names: Mapping[str, str]) -> Any:
    if not isinstance(item, dict) or key not in item:
        return item
    return {**item, key: _name(item[key], names)}


def resolve_analysis_names(doc: Any) -> Any:
    """``doc`` with contract and signer names in ``analysis`` replaced by their home
    addresses; anything else (and unknown names, which the references report) unchanged."""
    if not isinstance(doc, dict) or not isinstance(doc.get("analysis"), dict):
        return doc
    names = home_addresses(doc)
    analysis = dict(doc["analysis"])
    if isinstance(analysis.get("positions"), list):
        analysis["positions"] = [_renamed(p, "asset", names) for p in analysis["positions"]]
    if isinstance(analysis.get("labels"), list):
        analysis["labels"] = [_renamed(x, "address", names) for x in analysis["labels"]]
    if isinstance(analysis.get("prices"), dict):
        analysis["prices"] = {
            _name(asset, names): _price(price, names) for asset, price in analysis["prices"].items()
        }
    return {**doc, "analysis": analysis}


def _price(price: Any, names: Mapping[str, str]) -> Any:
    if not isinstance(price, dict) or not isinstance(price.get("source"), dict):
        return price
    source = {
        key: _name(value, names) if key in ("feed", "pair", "quote") else value
        for key, value in price["source"].items()
    }
    return {**price, "source": source}


def addresses_on(plan: Plan, chain: str) -> dict[str, str]:
    """Per name a step or rule may use on ``chain``, its address there: contracts deployed
    on ``chain`` and signers with a known address (a Safe only on its own chain)."""
    found: dict[str, str] = {}
    for name, signer in plan.signers.items():
        address = getattr(signer, "address", None)
        if address is None or getattr(signer, "chain", chain) != chain:
            continue
        found[name] = str(address)
    for name, contract in plan.contracts.items():
        deployment = contract.deployment(chain)
        if deployment is not None:
            found[name] = deployment.address
    return found


def resolve_names(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` (a rule's parameters, a step's arguments) with every string that is a whole
    name of ``names`` replaced by its address, in lists and mappings too."""
    if isinstance(value, str):
        return _name(value, names)
    if isinstance(value, list):
        return [resolve_names(v, names) for v in value]
    if isinstance(value, dict):
        return {k: resolve_names(v, names) for k, v in value.items()}
    return value


def explain_name(value: str, plan: Plan, chain: str) -> str:
    """Why ``value``, where an address is expected on ``chain``, is not one: a contract
    with no deployment there, or an unknown name (with the closest known one)."""
    contract = plan.contracts.get(value)
    if contract is not None:
        return (
            f"contract {value!r} is not deployed on chain {chain!r} "
            f"(it is on {', '.join(contract.chains)})"
        )
    known = sorted(addresses_on(plan, chain))
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{value!r} is neither an address nor a contract or signer on chain {chain!r}{hint}"
