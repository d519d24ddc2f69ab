"""The candidate fix of an incident, as written in ``FIX.yaml``, and the artifacts it names.

A fix is a list of steps, each one of ``deploy`` (a new implementation from a compiled
artifact or raw bytecode), ``upgrade`` (a proxy, through its ProxyAdmin) and ``call`` (any
configuration call). A string argument written ``@name`` stands for the address of the
deployment ``name`` made by an earlier step, or of the plan's contract ``name``.
``docs/eradication.md`` documents the format.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from breakglass.plan.models import Address, Name, PlanModel
from breakglass.recovery.policy import RecoveryError

__all__ = [
    "Artifact",
    "CallFix",
    "DeployFix",
    "FixError",
    "FixSpec",
    "FixStep",
    "UpgradeFix",
    "fix_digest",
    "load_artifact",
    "load_fix",
]


class FixError(RecoveryError):
    """A fix cannot be read, applied or verified (the message says which step and why)."""


class DeployFix(PlanModel):
    """Deploy a contract: from ``artifact`` (a JSON file with ``bytecode``, and ``abi`` and
    ``storageLayout`` when present) or from raw ``bytecode``."""

    name: Name
    artifact: str | None = None
    bytecode: str | None = None
    arg_types: list[str] = Field(default_factory=list, description="Constructor argument types.")
    args: list[Any] = Field(default_factory=list)
    sender: Address | None = Field(default=None, alias="from")
    address: Address | None = Field(
        default=None,
        description="Where this implementation is deployed on the live chain, once it is: "
        "restore checks its code against the verified one.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DeployFix:
        if (self.artifact is None) == (self.bytecode is None):
            raise ValueError("give exactly one of `artifact` or `bytecode`")
        return self


class UpgradeFix(PlanModel):
    """Upgrade ``proxy`` to ``implementation`` through its ProxyAdmin (``admin``, else the
    proxy's EIP-1967 admin slot), as the ProxyAdmin's owner."""

    proxy: str
    implementation: str
    admin: str | None = None
    call: str | None = Field(default=None, description="upgradeAndCall with this function.")
    args: list[Any] = Field(default_factory=list)
    previous_artifact: str | None = Field(
        default=None,
        description="Artifact of the implementation being replaced, for its storage layout.",
    )


class CallFix(PlanModel):
    """Call ``function`` (a signature such as ``setCap(uint256)``) on ``to``."""

    to: str
    function: str
    args: list[Any] = Field(default_factory=list)
    value: int = Field(default=0, ge=0)
    sender: str | None = Field(
        default=None, alias="from", description="Default: the target's owner()."
    )


class FixStep(PlanModel):
    deploy: DeployFix | None = None
    upgrade: UpgradeFix | None = None
    call: CallFix | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> FixStep:
        if sum(x is not None for x in (self.deploy, self.upgrade, self.call)) != 1:
            raise ValueError("a step is exactly one of `deploy`, `upgrade` or `call`")
        return self

    @property
    def kind(self) -> str:
        return "deploy" if self.deploy else "upgrade" if self.upgrade else "call"


class FixSpec(PlanModel):
    """A candidate fix and how to judge it."""

    name: str = "fix"
    chain: Name | None = None
    steps: list[FixStep] = Field(min_length=1)
    checks: list[str] = Field(
        default_factory=list,
        description="Views without arguments (e.g. `owner()`) read through every upgraded "
        "proxy before and after the upgrade; any change fails the verification.",
    )
    slots: list[str] = Field(
        default_factory=list, description="Storage slots of every upgraded proxy to compare."
    )
    regression_blocks: int = Field(default=50, ge=0, le=10_000)


@dataclass(frozen=True, slots=True)
class Artifact:
    """A compiled contract: creation bytecode, ABI and solc's storage layout if it has one."""

    path: str
    bytecode: str
    abi: list[dict[str, Any]]
    storage_layout: dict[str, Any] | None


def _bytecode(data: dict[str, Any]) -> str | None:
    value = data.get("bytecode")
    if isinstance(value, dict):  # Foundry writes {"object": "0x…"}
        value = value.get("object")
    if value is None:
        value = data.get("evm", {}).get("bytecode", {}).get("object")
    if not isinstance(value, str) or not value.removeprefix("0x"):
        return None
    return value if value.startswith("0x") else "0x" + value


def load_artifact(path: Path) -> Artifact:
    """Read a compiled artifact (Hardhat, Foundry or solc standard-JSON contract entry).

    Raises:
        FixError: the file is missing, not JSON, or holds no creation bytecode.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FixError(f"cannot read artifact {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise FixError(f"artifact {path} is not JSON: {exc}") from None
    bytecode = _bytecode(data) if isinstance(data, dict) else None
    if bytecode is None:
        raise FixError(f"artifact {path} has no creation bytecode (`bytecode`)")
    layout = data.get("storageLayout")
    return Artifact(
        path=str(path),
        bytecode=bytecode,
        abi=list(data.get("abi") or []),
        storage_layout=layout if isinstance(layout, dict) and "storage" in layout else None,
    )


def _issue(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(top)"
    return f"{where}: {error['msg']}"


def load_fix(path: Path) -> tuple[FixSpec, str]:
    """The fix in ``path`` and its :func:`fix_digest` (which names it in the report).

    Raises:
        FixError: the file cannot be read or is not a valid fix; every problem is listed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FixError(f"cannot read fix {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FixError(f"fix {path} is not YAML: {exc}") from None
    try:
        spec = FixSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_issue(dict(e)) for e in exc.errors())
        raise FixError(f"fix {path}: {problems}") from None
    return spec, fix_digest(spec)


def fix_digest(spec: FixSpec) -> str:
    """sha256 of the fix as data, without the deployments' live addresses: writing down where
    the verified bytecode was deployed does not make it another fix."""
    data = spec.model_dump(mode="json", by_alias=True)
    for step in data["steps"]:
        if step.get("deploy"):
            step["deploy"].pop("address", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
