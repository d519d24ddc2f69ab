"""``breakglass import oz-monitor DIR``: an OpenZeppelin Monitor configuration as a plan.

Networks become chains (RPC URLs by weight become endpoint priorities), monitors become
``event``, ``call`` and ``tx`` rules on their addresses with their conditions translated
(:mod:`breakglass.importers.oz_expr`), filter scripts become ``external-filter`` rules with
the same stdin/stdout contract, and triggers become channels with a notify playbook per
monitor. Every secret becomes a ``${VAR}`` reference listed in the report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from breakglass.importers.common import abi_entry, secret_ref, unknown_fields
from breakglass.importers.common import slug as _slug
from breakglass.importers.oz_expr import (
    OzExpressionError,
    TypeOf,
    parse,
    path_type,
    render_path,
    safe_name,
    translate,
)
from breakglass.importers.oz_expr import Path as ExprPath
from breakglass.importers.oz_triggers import trigger_channel
from breakglass.importers.report import ImportError_, ImportReport, ImportResult, env_name

__all__ = ["import_oz_monitor"]

_NETWORK_FIELDS = {
    "network_type", "slug", "name", "rpc_urls", "chain_id", "network_passphrase",
    "block_time_ms", "confirmation_blocks", "cron_schedule", "max_past_blocks",
    "store_blocks", "recovery_config",
}  # fmt: skip
_UNUSED_NETWORK = ("cron_schedule", "max_past_blocks", "store_blocks", "recovery_config")
_MONITOR_FIELDS = {
    "name", "paused", "networks", "addresses", "match_conditions", "trigger_conditions",
    "triggers", "chain_configurations",
}  # fmt: skip
_CONDITION_KINDS = ("functions", "events", "transactions")
_STATUS = {"Any": None, "Success": "not call.reverted", "Failure": "call.reverted"}
_TX_NAMES = {"value": "tx.value", "from": 'tx["from"]', "to": "tx.to", "hash": "tx.hash"}
_TX_RULE_NAMES = {
    **_TX_NAMES,
    "gas_price": "tx.gas_price",
    "gas_limit": "tx.gas",
    "gas_used": "tx.gas_used",
}
_TX_TYPES = {
    "value": "uint256", "from": "address", "to": "address", "hash": "bytes32",
    "gas_price": "uint256", "gas_limit": "uint256", "gas_used": "uint256",
}  # fmt: skip


def _read_json(path: Path, root: Path, report: ImportReport) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        report.problem(str(path.relative_to(root)), "", f"cannot read: {exc.strerror}")
    except ValueError as exc:
        report.problem(str(path.relative_to(root)), "", f"not JSON: {exc}")
    return None


class _Importer:
    def __init__(self, root: Path, protocol: str) -> None:
        self.root = root
        self.report = ImportReport()
        self.plan: dict[str, Any] = {"version": 1, "protocol": protocol}
        self.chains: dict[str, dict[str, Any]] = {}
        self.contracts: dict[str, dict[str, Any]] = {}
        self.rules: list[dict[str, Any]] = []
        self.channels: dict[str, Any] = {}
        self.playbooks: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.triggers: dict[str, str | None] = {}  # trigger id -> channel name (None: no channel)

    def run(self) -> ImportResult:
        if not self.root.is_dir():
            self.report.problem(str(self.root), "", "not a directory")
            raise ImportError_(self.report)
        for path in sorted((self.root / "networks").glob("*.json")):
            self.network(path)
        for path in sorted((self.root / "triggers").glob("*.json")):
            self.trigger_file(path)
        for path in sorted((self.root / "monitors").glob("*.json")):
            self.monitor(path)
        if not self.rules and not self.report.problems:
            self.report.problem(str(self.root), "monitors/", "no monitors found")
        if self.report.problems:
            raise ImportError_(self.report)
        self.plan.update(chains=self.chains, contracts=self.contracts, rules=self.rules)
        if self.channels:
            self.plan.update(channels=self.channels, playbooks=self.playbooks)
        return ImportResult(self.plan, self.files, self.report)

    # -- networks ---------------------------------------------------------------------------

    def network(self, path: Path) -> None:
        file = f"networks/{path.name}"
        data = _read_json(path, self.root, self.report)
        if not isinstance(data, dict):
            return
        unknown_fields(data, _NETWORK_FIELDS, self.report, file, "")
        slug = str(data.get("slug") or path.stem)
        if data.get("network_type") != "EVM":
            self.report.notes.append(f"{file}: {data.get('network_type')} network {slug} skipped")
            return
        if not isinstance(data.get("chain_id"), int):
            self.report.problem(file, "chain_id", "expected an integer")
            return
        endpoints = []
        urls = data.get("rpc_urls") or []
        if not urls:
            self.report.problem(file, "rpc_urls", "expected at least one URL")
        ranked = sorted(enumerate(urls), key=lambda item: -int(item[1].get("weight", 100)))
        for priority, (index, entry) in enumerate(ranked):
            at = f"rpc_urls[{index}]"
            unknown_fields(entry, {"type_", "url", "weight"}, self.report, file, at + ".")
            if entry.get("type_", "rpc") != "rpc":
                self.report.notes.append(f"{file}: {at} of type {entry.get('type_')} skipped")
                continue
            variable = env_name("OZ", slug, "RPC", str(index + 1))
            url = secret_ref(entry.get("url"), self.report, file=file, path=at + ".url",
                             variable=variable)  # fmt: skip
            endpoints.append({"url": url, "priority": priority})
        chain: dict[str, Any] = {"chain_id": data["chain_id"], "rpc": endpoints}
        if data.get("confirmation_blocks") is not None:
            chain["confirmations"] = int(data["confirmation_blocks"])
        if data.get("block_time_ms"):
            chain["block_time"] = int(data["block_time_ms"]) / 1000
        self.chains[_slug(slug)] = chain
        dropped = [key for key in _UNUSED_NETWORK if key in data]
        if dropped:
            self.report.notes.append(
                f"{file}: {', '.join(dropped)} not needed (breakglass follows new heads)"
            )

    # -- triggers ---------------------------------------------------------------------------

    def trigger_file(self, path: Path) -> None:
        file = f"triggers/{path.name}"
        data = _read_json(path, self.root, self.report)
        if not isinstance(data, dict):
            if data is not None:
                self.report.problem(file, "", "expected an object of triggers by id")
            return
        for trigger_id, trigger in data.items():
            if trigger_id in self.triggers:
                self.report.problem(file, trigger_id, "trigger id defined twice")
                continue
            name = _slug(trigger_id)
            channel = trigger_channel(trigger_id, trigger, self.report, file=file)
            self.triggers[trigger_id] = name if channel is not None else None
            if channel is not None:
                self.channels[name] = channel

    # -- monitors ---------------------------------------------------------------------------

    def monitor(self, path: Path) -> None:
        file = f"monitors/{path.name}"
        data = _read_json(path, self.root, self.report)
        if not isinstance(data, dict):
            return
        unknown_fields(data, _MONITOR_FIELDS, self.report, file, "")
        slug = _slug(str(data.get("name") or path.stem))
        networks = [n for n in data.get("networks") or [] if self._network_ok(n, file)]
        filters = self._filters(data.get("trigger_conditions") or [], file, slug)
        contracts = self._contracts(data.get("addresses") or [], networks, file, slug)
        conditions = data.get("match_conditions") or {}
        unknown_fields(conditions, set(_CONDITION_KINDS), self.report, file, "match_conditions.")
        rule_ids: list[str] = []
        for network in networks:
            suffix = f"-{_slug(network)}" if len(networks) > 1 else ""
            names = [name for name, _ in contracts.get(network, [])]
            abi = [entry for _, spec in contracts.get(network, []) for entry in spec]
            for found in self._rules(conditions, abi, file):
                rule = {
                    "id": f"{slug}{suffix}-{found.pop('suffix')}",
                    "rule": found["rule"],
                    "contracts": list(names),
                    "chain": _slug(network),
                    "params": found["params"],
                }
                if data.get("paused"):
                    rule["enabled"] = False
                rule_ids.append(rule["id"])
                self.rules.append(_wrapped(rule, filters))
        self._notify(data.get("triggers") or [], rule_ids, file, slug, str(data.get("name")))
        if data.get("chain_configurations"):
            self.report.notes.append(
                f"{file}: chain_configurations are not carried (EVM needs none)"
            )

    def _network_ok(self, network: str, file: str) -> bool:
        if _slug(network) in self.chains:
            return True
        self.report.problem(file, f"networks: {network}", "no EVM network with this slug")
        return False

    def _contracts(
        self, addresses: list[Any], networks: list[str], file: str, slug: str
    ) -> dict[str, list[tuple[str, list[dict[str, Any]]]]]:
        found: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}
        for index, entry in enumerate(addresses):
            at = f"addresses[{index}]"
            unknown_fields(entry, {"address", "contract_spec", "abi"}, self.report, file, at + ".")
            address = str(entry.get("address", ""))
            if not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
                self.report.problem(file, at + ".address", f"not an address: {address!r}")
                continue
            spec = entry.get("contract_spec", entry.get("abi")) or []
            if isinstance(spec, dict):  # newer files wrap the ABI by chain kind
                spec = spec.get("EVM", spec.get("evm", []))
            if not isinstance(spec, list):
                self.report.problem(file, at + ".contract_spec", "expected an ABI list")
                continue
            name = f"{slug}-{index + 1}" if len(addresses) > 1 else slug
            if spec:
                abi_file = f"abis/{name}.json"
                self.files[abi_file] = json.dumps(spec, indent=2).encode()
            for network in networks:
                contract: dict[str, Any] = {"chain": _slug(network), "address": address.lower()}
                if spec:
                    contract["abi"] = abi_file
                key = name if len(networks) == 1 else f"{name}-{_slug(network)}"
                self.contracts[key] = contract
                found.setdefault(network, []).append((key, spec))
        return found

    def _rules(self, conditions: dict[str, Any], abi: list[Any], file: str) -> list[dict[str, Any]]:
        txs = conditions.get("transactions") or []
        rules: list[dict[str, Any]] = []
        for kind, rule_kind in (("events", "event"), ("functions", "call")):
            for index, condition in enumerate(conditions.get(kind) or []):
                at = f"match_conditions.{kind}[{index}]"
                rule = self._signature_rule(rule_kind, condition, abi, txs, file, at)
                if rule is not None:
                    rule["suffix"] = f"{rule_kind}-{index + 1}"
                    rules.append(rule)
        if not rules and txs:
            where = self._tx_where(txs, file, _TX_RULE_NAMES, status_field="tx.status")
            if where is not None:
                rules.append({"rule": "tx", "params": {"where": where}, "suffix": "tx"})
        return rules

    def _signature_rule(
        self,
        kind: str,
        condition: dict[str, Any],
        abi: list[Any],
        txs: list[Any],
        file: str,
        at: str,
    ) -> dict[str, Any] | None:
        unknown_fields(condition, {"signature", "expression"}, self.report, file, at + ".")
        signature = str(condition.get("signature", ""))
        entry = abi_entry(abi, signature, "event" if kind == "event" else "function")
        if entry is None:
            self.report.problem(file, at + ".signature", f"{signature} is not in the ABI")
            return None
        inputs = entry.get("inputs", [])
        names = [safe_name(i.get("name") or f"arg{n}") for n, i in enumerate(inputs)]
        types = {name: i["type"] for name, i in zip(names, inputs, strict=True)}
        by_source = {**{i.get("name") or f"arg{n}": names[n] for n, i in enumerate(inputs)},
                     **{str(n): names[n] for n in range(len(inputs))}}  # fmt: skip
        params_text = ", ".join(
            f"{i['type']}{' indexed' if i.get('indexed') else ''} {name}"
            for i, name in zip(inputs, names, strict=True)
        )
        params: dict[str, Any] = {
            ("signature" if kind == "event" else "function"): f"{entry['name']}({params_text})"
        }
        parts: list[str] = []
        if condition.get("expression"):
            translated = self._translate(
                str(condition["expression"]),
                lambda p: render_path(by_source.get(p.base, p.base), p),
                lambda p: path_type(types.get(by_source.get(p.base, "")), p),
                file,
                at + ".expression",
                known=set(by_source),
            )
            if translated is not None:
                parts.append(translated)
        if txs and kind == "call":
            tx_where = self._tx_where(txs, file, _TX_NAMES, status_field=None)
            if tx_where is not None:
                parts.append(tx_where)
        elif txs and _tx_filters(txs):
            self.report.notes.append(
                f"{file}: {at}: transaction conditions are not applied to an event rule "
                "(events come from successful transactions only); it matches more widely"
            )
        if parts:
            params["where"] = " and ".join(f"({p})" if len(parts) > 1 else p for p in parts)
        return {"rule": kind, "params": params}

    def _tx_where(
        self, txs: list[Any], file: str, names: dict[str, str], *, status_field: str | None
    ) -> str | None:
        alternatives: list[str] = []
        for index, condition in enumerate(txs):
            at = f"match_conditions.transactions[{index}]"
            unknown_fields(condition, {"status", "expression"}, self.report, file, at + ".")
            status = condition.get("status", "Any")
            if status not in _STATUS:
                self.report.problem(file, at + ".status", "expected Any, Success or Failure")
                continue
            parts: list[str] = []
            if status != "Any":
                parts.append(
                    str(_STATUS[status])
                    if status_field is None
                    else f"{status_field} == {1 if status == 'Success' else 0}"
                )
            if condition.get("expression"):
                translated = self._translate(
                    str(condition["expression"]),
                    lambda p: render_path(names[p.base], p),
                    lambda p: path_type(_TX_TYPES.get(p.base), p),
                    file,
                    at + ".expression",
                    known=set(names),
                )
                if translated is None:
                    continue
                parts.append(translated)
            if not parts:
                return None  # one condition matches every transaction
            alternatives.append(" and ".join(parts))
        if not alternatives:
            return None
        return (
            " or ".join(f"({a})" for a in alternatives)
            if len(alternatives) > 1
            else alternatives[0]
        )

    def _translate(
        self,
        text: str,
        name_of: Callable[[ExprPath], str],
        type_of: TypeOf,
        file: str,
        at: str,
        *,
        known: set[str],
    ) -> str | None:
        try:
            tree = parse(text)
            unknown = sorted(set(_bases(tree)) - known)
            if not unknown:
                return translate(tree, name_of=name_of, type_of=type_of)
            message = f"unknown name {unknown[0]!r} (known: {', '.join(sorted(known))})"
        except OzExpressionError as exc:
            message = str(exc)
        self.report.problem(file, at, message)
        return None

    def _filters(self, conditions: list[Any], file: str, slug: str) -> list[dict[str, Any]]:
        filters = []
        for index, condition in enumerate(conditions):
            at = f"trigger_conditions[{index}]"
            known = {"script_path", "language", "arguments", "timeout_ms"}
            unknown_fields(condition, known, self.report, file, at + ".")
            script = self.root / str(condition.get("script_path", ""))
            if not script.is_file():
                # Paths are relative to the monitor's working directory; try the config dir.
                script = self.root / "filters" / Path(str(condition.get("script_path"))).name
            if not script.is_file():
                self.report.problem(
                    file, at + ".script_path", f"no such script: {condition.get('script_path')}"
                )
                continue
            target = f"filters/{script.name}"
            self.files[target] = script.read_bytes()
            arguments = condition.get("arguments") or []
            if not isinstance(arguments, list):
                arguments = str(arguments).split()
            filters.append(
                {
                    "script": target,
                    "language": str(condition.get("language", "Bash")).lower(),
                    "arguments": arguments
                    if isinstance(arguments, list)
                    else str(arguments).split(),
                    "timeout_ms": int(condition.get("timeout_ms", 1000)),
                }
            )
        return filters

    def _notify(
        self, triggers: list[str], rule_ids: list[str], file: str, slug: str, title: str
    ) -> None:
        steps = []
        for trigger_id in triggers:
            if trigger_id not in self.triggers:
                self.report.problem(file, f"triggers: {trigger_id}", "no trigger with this id")
                continue
            channel = self.triggers[trigger_id]
            if channel is not None:
                steps.append({"action": "notify", "channel": channel, "message": title})
        if steps and rule_ids:
            self.playbooks.append({"id": f"notify-{slug}", "on": rule_ids, "steps": steps})


def _wrapped(rule: dict[str, Any], filters: list[dict[str, Any]]) -> dict[str, Any]:
    """Rules behind filter scripts run the scripts in order; any false drops the match."""
    if not filters:
        return rule
    return {
        **rule,
        "rule": "external-filter",
        "params": {"kind": rule["rule"], "params": rule["params"], "filters": filters},
    }


def _tx_filters(txs: list[Any]) -> bool:
    return any(c.get("status") not in (None, "Any", "Success") or c.get("expression") for c in txs)


def _bases(node: Any) -> list[str]:
    if hasattr(node, "path"):
        return [node.path.base]
    return [*_bases(node.left), *_bases(node.right)]


def import_oz_monitor(root: Path, *, protocol: str | None = None) -> ImportResult:
    """Read an OpenZeppelin Monitor configuration directory into a plan.

    Raises:
        ImportError_: every problem found (unknown fields, broken references, expressions
            that cannot keep their meaning), all at once.
    """
    return _Importer(root, protocol or root.resolve().name).run()
