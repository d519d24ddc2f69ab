"""Cross-references inside a plan: every name a section uses must exist where it points.

References are checked on the raw document, not on the validated models, so that a plan
with a type error in one section still gets its dangling references reported in the same
run. The table below is the whole contract: what refers to what.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from breakglass.plan.issues import Path, name_list
from breakglass.plan.issues import format_path as _format_path

__all__ = ["REFERENCES", "RefProblem", "Reference", "check_references"]

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")

Targets = Callable[[dict[str, Any]], dict[str, Any]]


def _keys(section: str, *, where: Callable[[Any], bool] | None = None) -> Targets:
    def targets(doc: dict[str, Any]) -> dict[str, Any]:
        found = doc.get(section)
        if not isinstance(found, dict):
            return {}
        return {str(k): v for k, v in found.items() if where is None or where(v)}

    return targets


def _ids(section: str) -> Targets:
    def targets(doc: dict[str, Any]) -> dict[str, Any]:
        found = doc.get(section)
        if not isinstance(found, list):
            return {}
        return {str(item["id"]): item for item in found if isinstance(item, dict) and "id" in item}

    return targets


def _either(*sources: Targets) -> Targets:
    def targets(doc: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for source in sources:
            found.update(source(doc))
        return found

    return targets


_CONTRACT_OR_SIGNER = _either(_keys("contracts"), _keys("signers"))


def _is_safe(signer: Any) -> bool:
    return isinstance(signer, dict) and signer.get("type") == "safe"


def _is_key(signer: Any) -> bool:
    return not _is_safe(signer)


@dataclass(frozen=True)
class Reference:
    """``pattern`` finds the referring values; ``targets`` lists the names they may take.

    A pattern is a tuple of keys with three wildcards: ``*`` for every value of a mapping or
    item of a list, ``@keys`` for every key of a mapping, and ``@members`` for a role's
    members, which may be written as a bare list.
    """

    pattern: tuple[str, ...]
    kind: str
    targets: Targets
    allow_address: bool = False
    wrong_kind: str | None = None  # said when the name exists but is filtered out
    skip: Callable[[dict[str, Any]], bool] | None = None  # on the mapping holding the value


REFERENCES: tuple[Reference, ...] = (
    Reference(("roles", "*", "@members", "*"), "person", _keys("people")),
    Reference(("contracts", "*", "chain"), "chain", _keys("chains")),
    Reference(("contracts", "*", "deployments", "@keys"), "chain", _keys("chains")),
    # A ProxyAdmin or a Timelock owns a contract as often as a signer does.
    Reference(
        ("contracts", "*", "owner"), "signer or contract", _CONTRACT_OR_SIGNER, allow_address=True
    ),
    Reference(
        ("contracts", "*", "admin"), "signer or contract", _CONTRACT_OR_SIGNER, allow_address=True
    ),
    Reference(("signers", "*", "chain"), "chain", _keys("chains")),
    Reference(
        ("signers", "*", "local_owners", "*"),
        "signer",
        _keys("signers", where=_is_key),
        wrong_kind="is a Safe; a Safe acts through a safe-proposal step",
    ),
    Reference(("rules", "*", "contracts", "*"), "contract", _keys("contracts")),
    Reference(("rules", "*", "chain"), "chain", _keys("chains")),
    Reference(("playbooks", "*", "on", "*"), "rule", _ids("rules")),
    Reference(("playbooks", "*", "steps", "*", "contract"), "contract", _keys("contracts")),
    Reference(("playbooks", "*", "steps", "*", "chain"), "chain", _keys("chains")),
    Reference(
        ("playbooks", "*", "steps", "*", "signer"),
        "signer",
        _keys("signers", where=_is_key),
        wrong_kind="is a Safe; a Safe acts through a safe-proposal step",
    ),
    Reference(
        ("playbooks", "*", "steps", "*", "safe"),
        "Safe",
        _keys("signers", where=_is_safe),
        wrong_kind="is a key signer, not a Safe",
    ),
    Reference(("playbooks", "*", "steps", "*", "channel"), "channel", _keys("channels")),
    Reference(
        ("playbooks", "*", "steps", "*", "role"),
        "role",
        _keys("roles"),
        # revoke-role's `role` is the contract's own role (MINTER_ROLE), not a plan role
        skip=lambda step: step.get("action") == "revoke-role",
    ),
    Reference(("playbooks", "*", "steps", "*", "owner"), "role", _keys("roles")),
    Reference(("playbooks", "*", "steps", "*", "approver"), "role", _keys("roles")),
    Reference(("playbooks", "*", "steps", "*", "on_failure"), "playbook", _ids("playbooks")),
    Reference(("communication", "internal", "*"), "channel", _keys("channels")),
    Reference(("communication", "external", "*"), "channel", _keys("channels")),
    Reference(("communication", "spokesperson"), "role", _keys("roles")),
    Reference(("deployment", "reviewers", "*"), "role", _keys("roles")),
    Reference(("compensation_policy", "decision_owner"), "role", _keys("roles")),
    Reference(
        ("restore", "safe"),
        "Safe",
        _keys("signers", where=_is_safe),
        wrong_kind="is a key signer, not a Safe",
    ),
    Reference(("restore", "approvals", "*"), "role", _keys("roles")),
    Reference(("news_sources", "channel"), "channel", _keys("channels")),
    Reference(("news_sources", "components", "*", "owner"), "person", _keys("people")),
    Reference(("external_parties", "*", "owner"), "role", _keys("roles")),
    Reference(("regulatory", "duties", "*", "owner"), "role", _keys("roles")),
    Reference(("scenarios", "*", "dependencies", "*"), "dependency", _keys("dependencies")),
    Reference(("scenarios", "*", "detected_by", "*"), "rule", _ids("rules")),
    Reference(("scenarios", "*", "mitigated_by", "*"), "playbook", _ids("playbooks")),
    Reference(("drills", "schedule", "*", "scenario"), "scenario", _keys("scenarios")),
    Reference(("drills", "schedule", "*", "owner"), "role", _keys("roles")),
    *(
        Reference(pattern, "contract or signer", _CONTRACT_OR_SIGNER, allow_address=True)
        for pattern in (
            ("analysis", "positions", "*", "asset"),
            ("analysis", "labels", "*", "address"),
            ("analysis", "prices", "@keys"),
            ("analysis", "prices", "*", "source", "feed"),
            ("analysis", "prices", "*", "source", "pair"),
            ("analysis", "prices", "*", "source", "quote"),
        )
    ),
)

_UNIQUE_IDS = (("rules",), ("playbooks",), ("regulatory", "duties"))


@dataclass(frozen=True)
class RefProblem:
    path: Path
    message: str
    expected: str | None = None
    found: str | None = None


def _walk(node: Any, pattern: tuple[str, ...], path: Path) -> Iterator[tuple[Path, Any]]:
    if not pattern:
        yield path, node
        return
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if isinstance(node, dict):
            for key, value in node.items():
                yield from _walk(value, rest, (*path, str(key)))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from _walk(value, rest, (*path, index))
    elif head == "@keys":
        if isinstance(node, dict):
            for key in node:
                yield (*path, str(key)), key
    elif head == "@members":
        if isinstance(node, list):
            yield from _walk(node, rest, path)
        elif isinstance(node, dict) and "members" in node:
            yield from _walk(node["members"], rest, (*path, "members"))
    elif isinstance(node, dict) and head in node:
        yield from _walk(node[head], rest, (*path, head))


def _unknown(
    ref: Reference, name: str, known: dict[str, Any], doc: dict[str, Any]
) -> RefProblem | None:
    if name in known:
        return None
    if ref.allow_address and _ADDRESS.match(name):
        return None
    if ref.wrong_kind and name in _keys("signers")(doc):
        return RefProblem(path=(), message=f"{name!r} {ref.wrong_kind}", found=repr(name))
    message = f"unknown {ref.kind} {name!r}"
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    listing = name_list(known)
    if ref.allow_address:
        listing += ", or a 0x address"
    return RefProblem(path=(), message=message, expected=listing, found=repr(name))


def _at(doc: Any, path: Path) -> dict[str, Any]:
    """The mapping at ``path`` (as ``_walk`` wrote it), or an empty one."""
    node = doc
    for key in path:
        if isinstance(node, dict):
            node = next((v for k, v in node.items() if str(k) == str(key)), None)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            return {}
    return node if isinstance(node, dict) else {}


# The section each kind of name is defined in, for collapsing the references to a missing
# section into one problem.
_SECTION_OF = {
    "person": "people",
    "chain": "chains",
    "contract": "contracts",
    "signer": "signers",
    "Safe": "signers",
    "rule": "rules",
    "playbook": "playbooks",
    "channel": "channels",
    "role": "roles",
    "dependency": "dependencies",
    "scenario": "scenarios",
}


def _missing_section(doc: dict[str, Any], section: str, paths: list[Path]) -> RefProblem:
    """One problem for every use of a section the plan lacks, at the first use."""
    count = len(paths)
    state = "is empty" if section in doc and doc[section] is not None else "is missing"
    uses = "reference depends" if count == 1 else "references depend"
    return RefProblem(
        paths[0],
        f"the `{section}:` section {state}; {count} {uses} on it",
        expected=f"a `{section}:` section defining the names used",
    )


def check_references(doc: Any) -> list[RefProblem]:
    """Every dangling reference and duplicate id in a raw plan document."""
    if not isinstance(doc, dict):
        return []
    problems: list[RefProblem] = []
    missing: dict[str, list[Path]] = {}
    for ref in REFERENCES:
        known = ref.targets(doc)
        home = _SECTION_OF.get(ref.kind)
        absent = home is not None and not doc.get(home)
        for path, value in _walk(doc, ref.pattern, ()):
            if value is None or isinstance(value, dict | list):
                continue  # a wrong type is the schema's to report
            if ref.skip is not None and ref.skip(_at(doc, path[:-1])):
                continue
            if absent and home is not None:  # one root cause, not one error per use
                missing.setdefault(home, []).append(path)
                continue
            problem = _unknown(ref, str(value), known, doc)
            if problem is not None:
                problems.append(RefProblem(path, problem.message, problem.expected, problem.found))
    for home, paths in missing.items():
        problems.append(_missing_section(doc, home, paths))
    for section in _UNIQUE_IDS:
        seen: set[str] = set()
        for path, value in _walk(doc, (*section, "*", "id"), ()):
            if isinstance(value, str) and value in seen:
                problems.append(
                    RefProblem(
                        path,
                        f"duplicate id {value!r}; ids must be unique in {_format_path(section)}",
                    )
                )
            seen.add(str(value))
    return problems
