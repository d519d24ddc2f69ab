"""What the importers share: names, secrets as references, unknown fields, ABI lookup."""

from __future__ import annotations

import re
from typing import Any

from breakglass.importers.report import ImportReport

__all__ = ["abi_entry", "secret_ref", "slug", "unknown_fields"]

_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:60] or "unnamed"


def secret_ref(value: Any, report: ImportReport, *, file: str, path: str, variable: str) -> str:
    """A secret as a ``${VAR}`` reference; the report says what to put in the variable."""
    if isinstance(value, str):
        value = {"type": "Plain", "value": value}
    if not isinstance(value, dict) or set(value) != {"type", "value"}:
        report.problem(file, path, "expected {type, value} or a string")
        return "${" + variable + "}"
    kind, text = value["type"], str(value["value"])
    if kind == "Environment":
        report.secret(text, f"{file}: {path}", "as for OpenZeppelin Monitor")
        return "${" + text + "}"
    if kind == "Plain":
        report.secret(variable, f"{file}: {path}", "the value written there in plain text")
    elif kind == "HashicorpCloudVault":
        report.secret(variable, f"{file}: {path}", f"the HCP Vault secret {text!r}")
    else:
        report.problem(file, path + ".type", f"unknown secret type {kind!r}")
    return "${" + variable + "}"


def unknown_fields(
    data: dict[str, Any], known: set[str], report: ImportReport, file: str, at: str
) -> None:
    for key in sorted(set(data) - known):
        report.problem(file, f"{at}{key}", "unknown field")


def abi_entry(abi: list[Any], signature: str, kind: str) -> dict[str, Any] | None:
    wanted = signature.replace(" ", "")
    for entry in abi:
        if not isinstance(entry, dict) or entry.get("type") != kind:
            continue
        types = ",".join(str(i.get("type")) for i in entry.get("inputs", []))
        if f"{entry.get('name')}({types})" == wanted:
            return entry
    return None
