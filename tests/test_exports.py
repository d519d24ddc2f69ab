"""Each package's ``__all__`` is exactly its public surface."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = [
    "breakglass",
    "breakglass.errors",
    "breakglass.settings",
    "breakglass.logs",
    "breakglass.plan",
    "breakglass.plan.models",
    "breakglass.plan.checks",
    "breakglass.store",
    "breakglass.chain",
    "breakglass.ingest",
    "breakglass.contracts",
    "breakglass.detect",
    "breakglass.detect.expr",
    "breakglass.respond",
    "breakglass.incidents",
    "breakglass.notify",
    "breakglass.recovery",
    "breakglass.analysis",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_matches_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", name).startswith("breakglass")
        and attr not in {"annotations"}
    }
    assert exported <= set(vars(module)), exported - set(vars(module))
    assert public <= exported, f"public but not in __all__: {sorted(public - exported)}"
