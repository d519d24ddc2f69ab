"""``breakglass import defender serverless.yml``: Defender-as-code resources as a plan.

Monitors of type ``BLOCK`` become ``event``, ``call`` and ``tx`` rules (their expressions
translated like OpenZeppelin Monitor's, :mod:`breakglass.importers.oz_expr`), notification
channels become channels with a notify playbook per monitor, and relayers become signers:
Defender keys cannot be exported, so each relayer gets a new breakglass key signer, and the
import writes the Safe Transaction Builder batch that grants ``PAUSER_ROLE`` to it on the
contracts named with ``--grant-on``. Relayer policies become the chain's gas cap; receiver
allow-lists and private transactions are reported, since breakglass sends only the plan's
own steps.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from breakglass.importers.common import abi_entry
from breakglass.importers.oz_expr import OzExpressionError, parse, path_type, render_path, translate
from breakglass.importers.report import ImportError_, ImportReport, ImportResult, env_name
from breakglass.importers.safe_grant import pauser_grant_batch

__all__ = ["CHAIN_IDS", "import_defender"]

CHAIN_IDS = {
    "mainnet": 1, "sepolia": 11155111, "goerli": 5, "holesky": 17000, "optimism": 10,
    "arbitrum": 42161, "base": 8453, "matic": 137, "polygon": 137, "bsc": 56, "xdai": 100,
    "avalanche": 43114, "linea": 59144, "scroll": 534352, "zksync": 324,
}  # fmt: skip
_REF = re.compile(r"\$\{([^}]+)\}")
_SEVERITY = {"high": "high", "medium": "medium", "low": "low", "critical": "critical"}
_MONITOR_FIELDS = {
    "name", "type", "network", "risk-category", "severity-level", "addresses", "abi",
    "alert-threshold", "paused", "action-condition", "action-trigger", "confirm-level",
    "notify-config", "conditions", "skip-abi-validation", "alert-messages",
}  # fmt: skip
_FORTA_FIELDS = {"forta-node-id", "agent-ids", "forta-last-processed-time"}
_TX_NAMES = {"value": "tx.value", "from": 'tx["from"]', "to": "tx.to", "gasPrice": "tx.gas_price",
             "gasLimit": "tx.gas", "gasUsed": "tx.gas_used"}  # fmt: skip
_TX_TYPES = {"value": "uint256", "from": "address", "to": "address", "gasPrice": "uint256",
             "gasLimit": "uint256", "gasUsed": "uint256"}  # fmt: skip


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "unnamed"


class _Defender:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.name
        self.report = ImportReport()
        self.resources: dict[str, Any] = {}
        self.new_signer: str | None = None

    def resolve(self, value: Any, at: str, *, secret: str | None = None) -> Any:
        """Serverless variables: resource references become names, ``${env:X}`` becomes
        ``${X}``, ``${file(...)}`` is read, and anything else a secret variable to set."""
        if not isinstance(value, str) or "${" not in value:
            return value
        match = _REF.fullmatch(value.strip())
        if match is None:
            self.report.problem(self.file, at, "a variable inside a longer text is not read")
            return value
        inner = match.group(1).strip()
        if inner.startswith("self:resources."):
            parts = inner.removeprefix("self:resources.").split(".")
            if len(parts) != 2 or parts[1] not in (self.resources.get(parts[0]) or {}):
                self.report.problem(self.file, at, f"broken reference {value}")
            return parts[-1]
        if inner.startswith("env:"):
            variable = inner.removeprefix("env:")
            self.report.secret(variable, f"{self.file}: {at}", "as for Defender")
            return "${" + variable + "}"
        if inner.startswith("file("):
            target = self.path.parent / inner[5:].split(")")[0].strip("'\" ")
            try:
                return json.loads(target.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                self.report.problem(self.file, at, f"cannot read {target.name}: {exc}")
                return None
        variable = env_name("DEFENDER", secret or at)
        self.report.secret(variable, f"{self.file}: {at}", f"the value of {value}")
        return "${" + variable + "}"

    def run(self, grant_on: list[str], safe: str | None, new_signer: str | None) -> ImportResult:
        try:
            document = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            self.report.problem(self.file, "", f"cannot read: {exc}")
            raise ImportError_(self.report) from None
        resources = (document or {}).get("resources") or {}
        if isinstance(resources.get("Resources"), dict):  # the older plugin's layout
            resources = resources["Resources"]
        self.resources = resources
        plan: dict[str, Any] = {"version": 1, "protocol": str(document.get("service", "defender"))}
        chains: dict[str, Any] = {}
        channels = self.channels(resources.get("notifications") or {})
        rules: list[dict[str, Any]] = []
        playbooks: list[dict[str, Any]] = []
        contracts: dict[str, Any] = {}
        for key, monitor in (resources.get("monitors") or {}).items():
            self.monitor(key, monitor, chains, contracts, rules, playbooks, channels)
        self.new_signer = new_signer
        signers, files = self.relayers(resources, chains, grant_on, safe, contracts)
        if self.report.problems:
            raise ImportError_(self.report)
        plan.update(chains=chains, contracts=contracts, signers=signers, rules=rules)
        if channels:
            plan.update(channels=channels, playbooks=playbooks)
        return ImportResult(plan, files, self.report)

    def chain(self, network: str, chains: dict[str, Any], at: str) -> str | None:
        if network not in CHAIN_IDS:
            self.report.problem(self.file, at, f"unknown network {network!r}")
            return None
        variable = env_name(network, "RPC_URL")
        if network not in chains:
            chains[network] = {"chain_id": CHAIN_IDS[network], "rpc": ["${" + variable + "}"]}
            self.report.secret(variable, f"{self.file}: {at}", f"a {network} RPC URL")
        return network

    def channels(self, notifications: dict[str, Any]) -> dict[str, Any]:
        channels: dict[str, Any] = {}
        for key, entry in notifications.items():
            at = f"resources.notifications.{key}"
            kind, config = entry.get("type"), entry.get("config") or {}
            name = _slug(key)
            if kind in ("slack", "discord", "webhook", "datadog", "pager-duty", "opsgenie"):
                url = self.resolve(config.get("url"), f"{at}.config.url", secret=f"{key}_url")
                if kind == "pager-duty":
                    key_at = f"{at}.config.routing-key"
                    routing = self.resolve(config.get("routing-key"), key_at, secret=f"{key}_key")
                    url = f"pagerduty-events://{routing}"
                channels[name] = {"url": url, "description": entry.get("name")}
            elif kind == "telegram":
                token = self.resolve(config.get("bot-token"), f"{at}.config.bot-token",
                                     secret=f"{key}_token")  # fmt: skip
                chat = config.get("chat-id", "")
                channels[name] = {
                    "url": f"tgram://{token}/{chat}",
                    "description": entry.get("name"),
                }
            elif kind == "email":
                emails = [
                    str(self.resolve(e, f"{at}.config.emails")) for e in config.get("emails") or []
                ]
                variable = env_name("DEFENDER", key, "SMTP")
                self.report.secret(
                    variable,
                    f"{self.file}: {at}",
                    "an Apprise mailtos:// URL (SMTP account) to send from",
                )
                channels[name] = {"url": "${" + variable + "}?to=" + ",".join(emails),
                                  "description": entry.get("name")}  # fmt: skip
            else:
                self.report.problem(self.file, f"{at}.type", f"unknown notification type {kind!r}")
        return channels

    def monitor(
        self,
        key: str,
        monitor: dict[str, Any],
        chains: dict[str, Any],
        contracts: dict[str, Any],
        rules: list[dict[str, Any]],
        playbooks: list[dict[str, Any]],
        channels: dict[str, Any],
    ) -> None:
        at = f"resources.monitors.{key}"
        for field in sorted(set(monitor) - _MONITOR_FIELDS - _FORTA_FIELDS):
            self.report.problem(self.file, f"{at}.{field}", "unknown field")
        if monitor.get("type") != "BLOCK":
            self.report.notes.append(
                f"{at}: {monitor.get('type')} monitors are not imported (their alerts come "
                "from Forta, which breakglass does not read yet)"
            )
            return
        network = self.chain(str(monitor.get("network")), chains, f"{at}.network")
        abi = self.resolve(monitor.get("abi"), f"{at}.abi") or []
        if network is None:
            return
        slug = _slug(key)
        names = []
        for index, address in enumerate(monitor.get("addresses") or []):
            name = f"{slug}-{index + 1}" if len(monitor["addresses"]) > 1 else slug
            contracts[name] = {"chain": network, "address": str(address).lower()}
            names.append(name)
        severity = _SEVERITY.get(str(monitor.get("severity-level", "high")).lower(), "high")
        described = f"Defender monitor {monitor.get('name', key)}"
        if monitor.get("risk-category"):
            described += f" (risk category {monitor['risk-category']})"
        conditions = monitor.get("conditions") or {}
        found: list[dict[str, Any]] = []
        for kind, rule_kind in (("event", "event"), ("function", "call")):
            for index, condition in enumerate(conditions.get(kind) or []):
                condition_at = f"{at}.conditions.{kind}[{index}]"
                rule = self.signature_rule(rule_kind, condition, abi, condition_at)
                if rule is not None:
                    found.append({"id": f"{slug}-{rule_kind}-{index + 1}", **rule})
        if conditions.get("transaction"):
            text, where_at = str(conditions["transaction"]), f"{at}.conditions.transaction"
            tx_where = self.expression(text, _TX_NAMES, _TX_TYPES, where_at)
            if tx_where is not None and not found:
                found.append({"id": f"{slug}-tx", "rule": "tx", "params": {"where": tx_where}})
            elif tx_where is not None:
                self.report.notes.append(
                    f"{at}: the transaction condition is not applied to its event and "
                    "function rules"
                )
        if monitor.get("alert-threshold"):
            self.threshold(monitor["alert-threshold"], found, f"{at}.alert-threshold")
        for rule in found:
            rule.update(contracts=names, chain=network, severity=severity, description=described)
            if monitor.get("paused"):
                rule["enabled"] = False
            rules.append(rule)
        notify = monitor.get("notify-config") or {}
        steps = []
        for index, channel in enumerate(notify.get("channels") or []):
            name = _slug(str(self.resolve(channel, f"{at}.notify-config.channels[{index}]")))
            if name in channels:
                steps.append({"action": "notify", "channel": name, "message": described})
        if steps and found:
            playbooks.append(
                {"id": f"notify-{slug}", "on": [r["id"] for r in found], "steps": steps}
            )

    def threshold(self, threshold: Any, found: list[dict[str, Any]], at: str) -> None:
        """Defender alerts once ``amount`` matches fall within ``window-seconds``: each event
        condition becomes a ``window`` rule counting its matches (no key: all of them),
        which reports when the count exceeds ``amount - 1``."""
        amount = threshold.get("amount") if isinstance(threshold, dict) else None
        seconds = threshold.get("window-seconds") if isinstance(threshold, dict) else None
        if not isinstance(amount, int) or amount < 1 or not isinstance(seconds, int) or seconds < 1:
            self.report.problem(self.file, at, "expected amount and window-seconds, whole and > 0")
            return
        windowed = 0
        for rule in found:
            if rule["rule"] != "event":
                continue
            params = rule["params"]
            rule["id"] = rule["id"].replace("-event-", "-window-")
            rule["rule"] = "window"
            rule["params"] = {
                "event": params["signature"],
                **({"where": params["where"]} if "where" in params else {}),
                "measure": "count",
                "seconds": seconds,
                "threshold": amount - 1,
            }
            windowed += 1
        said = f"{at} ({amount} in {seconds}s)"
        if windowed:
            self.report.notes.append(
                f"{said}: each event condition counts its own matches in a `window` rule "
                "(Defender counts the monitor's matching transactions across all conditions; "
                "two matching events in one transaction count twice here)"
            )
        if len(found) > windowed:
            self.report.notes.append(
                f"{said}: function and transaction conditions alert on every match, since "
                "breakglass windows count events only; to hold them to the threshold, watch "
                "an event the call emits with a `window` rule instead, or set the rule's "
                "suppress_for to group repeats"
            )

    def signature_rule(
        self, kind: str, condition: dict[str, Any], abi: list[Any], at: str
    ) -> dict[str, Any] | None:
        signature = str(condition.get("signature", ""))
        entry = abi_entry(abi, signature, "event" if kind == "event" else "function")
        if entry is None:
            self.report.problem(self.file, f"{at}.signature", f"{signature} is not in the ABI")
            return None
        from breakglass.importers.oz_expr import safe_name  # noqa: PLC0415

        inputs = entry.get("inputs", [])
        names = [safe_name(i.get("name") or f"arg{n}") for n, i in enumerate(inputs)]
        text = ", ".join(
            f"{i['type']}{' indexed' if i.get('indexed') else ''} {n}"
            for i, n in zip(inputs, names, strict=True)
        )
        params: dict[str, Any] = {
            ("signature" if kind == "event" else "function"): f"{entry['name']}({text})"
        }
        if condition.get("expression"):
            by_name = {i.get("name") or f"arg{n}": names[n] for n, i in enumerate(inputs)}
            by_name.update({f"${n}": names[n] for n in range(len(inputs))})
            types = {
                by_name[k]: i["type"]
                for k, i in zip(list(by_name)[: len(inputs)], inputs, strict=True)
            }
            source = {k: v for k, v in by_name.items()}
            source_types = {k: types[v] for k, v in source.items()}
            text = str(condition["expression"])
            where = self.expression(text, source, source_types, f"{at}.expression")
            if where is None:
                return None
            params["where"] = where
        return {"rule": kind, "params": params}

    def expression(
        self, text: str, names: dict[str, str], types: dict[str, str], at: str
    ) -> str | None:
        # Defender writes `=` for equality and `$0` for a parameter by position.
        normal = re.sub(r"(?<![=!<>])=(?!=)", "==", text).replace("$", "")
        names = {k.lstrip("$"): v for k, v in names.items()}
        types = {k.lstrip("$"): v for k, v in types.items()}
        try:
            tree = parse(normal)
            return translate(
                tree,
                name_of=lambda p: render_path(names[p.base], p),
                type_of=lambda p: path_type(types.get(p.base), p),
            )
        except (OzExpressionError, KeyError) as exc:
            self.report.problem(self.file, at, f"{exc}")
            return None

    def relayers(
        self,
        resources: dict[str, Any],
        chains: dict[str, Any],
        grant_on: list[str],
        safe: str | None,
        contracts: dict[str, Any],
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        signers: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        policies = resources.get("policies") or {}
        for key, relayer in (resources.get("relayers") or {}).items():
            at = f"resources.relayers.{key}"
            if not isinstance(relayer, dict):
                self.report.notes.append(f"{at}: an existing relayer ({relayer}) is not imported")
                continue
            network = self.chain(str(relayer.get("network")), chains, f"{at}.network")
            name = _slug(key)
            password = env_name(key, "KEYSTORE_PASSWORD")
            signers[name] = {
                "type": "keystore",
                "path": f"keys/{name}.json",
                "password": "${" + password + "}",
            }
            self.report.secret(
                password,
                f"{self.file}: {at}",
                f"the password of a new keystore keys/{name}.json (Defender keys cannot be "
                "exported: create one, e.g. with `cast wallet new keys/`)",
            )
            policy_name = self.resolve(relayer.get("policy"), f"{at}.policy")
            policy = policies.get(policy_name) if isinstance(policy_name, str) else None
            if policy and network is not None:
                if policy.get("gas-price-cap"):
                    chains[network]["gas"] = {"max_fee_gwei": policy["gas-price-cap"]}
                if policy.get("whitelist-receivers"):
                    allowed = ", ".join(str(a).lower() for a in policy["whitelist-receivers"])
                    self.report.notes.append(
                        f"{at}: whitelist-receivers is not imported: a breakglass signer has no "
                        "receiver allow-list, it sends only the plan's playbook steps to the "
                        "plan's contracts. Keep the contracts a playbook step of signer "
                        f"{name} targets among the ones Defender allowed ({allowed})"
                    )
                if policy.get("private-transactions"):
                    self.report.notes.append(
                        f"{at}: private-transactions is not imported: breakglass has no "
                        f"private-send switch. To keep {name}'s transactions out of the public "
                        f"mempool, make a private relay (e.g. Flashbots Protect) the first "
                        f"rpc endpoint of chain {network} (priority 0): transactions go to "
                        "the endpoints in priority order, so a failover sends through the "
                        "next, public one"
                    )
        if grant_on:
            unknown = [c for c in grant_on if c not in contracts]
            if unknown:
                self.report.problem(
                    self.file,
                    "--grant-on",
                    f"no imported contract {', '.join(unknown)} "
                    f"(contracts: {', '.join(sorted(contracts))})",
                )
            elif not signers:
                self.report.problem(self.file, "--grant-on", "no relayer to replace")
            else:
                chain = contracts[grant_on[0]]["chain"]
                batch = pauser_grant_batch(
                    signer=self.new_signer,chain_id=CHAIN_IDS[chain], safe=safe,
                                           targets=[contracts[c]["address"] for c in grant_on],
                                           signer_variable=next(iter(signers)))  # fmt: skip
                files["safe-grant-pauser.json"] = json.dumps(batch, indent=2).encode()
                if self.new_signer is None:
                    self.report.notes.append(
                        "safe-grant-pauser.json: put the new signer's address in place of "
                        "NEW_SIGNER_ADDRESS (or give --new-signer)"
                    )
                self.report.notes.append(
                    "safe-grant-pauser.json: load it in the Safe's Transaction Builder"
                )
        return signers, files


def import_defender(
    path: Path,
    *,
    grant_on: list[str] | None = None,
    safe: str | None = None,
    new_signer: str | None = None,
) -> ImportResult:
    """Read a Defender-as-code ``serverless.yml`` into a plan.

    Raises:
        ImportError_: every problem found, at once.
    """
    return _Defender(path).run(list(grant_on or []), safe, new_signer)
