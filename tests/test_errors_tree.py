"""The exception tree drawn in ``breakglass.errors`` matches the code."""

from __future__ import annotations

import importlib
import pkgutil
import re

import breakglass
from breakglass import errors
from breakglass.errors import BreakglassError


def _import_everything() -> None:
    for module in pkgutil.walk_packages(breakglass.__path__, "breakglass."):
        if ".migrations." in module.name or module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_direct_subclass_of_the_root_is_drawn() -> None:
    _import_everything()
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__ or ""))
    direct = {
        cls.__name__
        for cls in BreakglassError.__subclasses__()
        if cls.__module__.startswith("breakglass.") and not cls.__name__.startswith("_")
    }
    assert direct <= drawn, f"not in the drawing of breakglass.errors: {sorted(direct - drawn)}"


def test_every_drawn_error_exists_and_sits_where_it_is_drawn() -> None:
    _import_everything()
    by_name = {cls.__name__: cls for cls in _subclasses(BreakglassError)}
    lines = re.findall(r"^( *(?:│ *)*)[├└]── (\w+)", errors.__doc__ or "", re.MULTILINE)
    base = len(lines[0][0])
    parents: list[type] = [BreakglassError]
    for indent, name in lines:
        depth = (len(indent) - base) // 4
        assert name in by_name, f"{name} is drawn but no such error exists"
        parents = parents[: depth + 1]
        assert issubclass(by_name[name], parents[-1]), f"{name} is not a {parents[-1].__name__}"
        parents.append(by_name[name])
