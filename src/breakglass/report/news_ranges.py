"""Version matching for vulnerability advisories: OSV ranges and GHSA / npm-style ranges.

Versions are compared with :mod:`packaging.version`. Semantic versions that PEP 440 cannot
read (``4.0.0-next.1``) keep their ``major.minor.patch`` and become a ``.dev0`` pre-release of
it, so they still sort before the release. Ranges become :class:`SpecifierSet` objects; npm
operators are rewritten first (docs/news.md lists the conversions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

__all__ = [
    "ecosystem_key",
    "osv_affects",
    "parse_range",
    "parse_version",
    "range_affects",
]

_SEMVER = re.compile(r"^(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-.]?(.+))?$")
_COMPARATOR = re.compile(r"(<=|>=|<|>|==|=|\^|~>|~)?\s*([0-9A-Za-z.*+\-]+)")
# GitHub's ecosystem names → OSV's, lower-cased for comparison.
_ECOSYSTEMS = {
    "pip": "pypi",
    "rust": "crates.io",
    "rubygems": "rubygems",
    "composer": "packagist",
    "erlang": "hex",
    "go": "go",
    "actions": "github actions",
}


def ecosystem_key(ecosystem: str) -> str:
    """A comparable ecosystem name: GHSA's ``pip`` and OSV's ``PyPI`` both give ``pypi``."""
    key = ecosystem.strip().lower()
    return _ECOSYSTEMS.get(key, key)


def parse_version(text: str) -> Version | None:
    """A version from PEP 440 or semver text (``v`` prefix and ``+build`` dropped), or None."""
    text = text.strip().lstrip("=vV").split("+", 1)[0].strip()
    try:
        return Version(text)
    except InvalidVersion:
        pass
    match = _SEMVER.match(text)
    if match is None or not all((part or "0").isdigit() for part in match.group(2, 3)):
        return None
    release = ".".join(part or "0" for part in match.group(1, 2, 3))
    return Version(f"{release}.dev0" if match.group(4) else release)


def _partial(text: str) -> tuple[list[int], int]:
    """The numbers of ``1``, ``1.2`` or ``1.2.x`` and how many of them were given."""
    numbers: list[int] = []
    for part in text.split("-", 1)[0].split(".")[:3]:
        if not part.isdigit():
            break
        numbers.append(int(part))
    given = len(numbers)
    return numbers + [0] * (3 - given), given


def _bump(operator: str, numbers: list[int], given: int) -> int:
    """Which part the upper bound of ``^``, ``~``, ``~>`` or a partial version raises."""
    if operator == "^":
        return next((i for i, n in enumerate(numbers[:given]) if n), given - 1)
    if operator == "~":
        return min(given, 2) - 1
    if operator == "~>":
        return max(given - 2, 0)
    return given - 1  # 1.2 and 1.2.x: every 1.2 release


def _comparator(operator: str, text: str) -> list[str]:
    """PEP 440 specifiers for one npm/GHSA comparator such as ``>= 4.0.0``, ``^1.2`` or ``1.x``."""
    if text in {"*", "x", "X"}:
        return []
    numbers, given = _partial(text)
    if given == 0:
        raise ValueError(f"unreadable version {text!r}")
    exact = parse_version(text) if given == 3 else None
    low = exact or Version(".".join(map(str, numbers)))
    if operator in {"", "=", "=="} and exact is None:
        operator = "partial"
    if operator in {"^", "~", "~>", "partial"}:
        bump = _bump(operator, numbers, given)
        upper = [*numbers[:bump], numbers[bump] + 1] + [0] * (2 - bump)
        return [f">={low}", f"<{'.'.join(map(str, upper))}"]
    return [f"{'==' if operator in {'', '='} else operator}{low}"]


def parse_range(text: str) -> list[SpecifierSet]:
    """A range as alternatives (``||``), each a set of comparators that must all hold.

    Accepts GHSA ranges (``>= 4.0.0, < 4.9.3``, ``= 1.2.3``) and npm ranges (``^4.0.0``,
    ``~1.2``, ``1.2.x``, ``1.0.0 - 2.0.0``, ``>=1 <2 || 3.x``). Raises ValueError when unreadable.
    """
    alternatives: list[SpecifierSet] = []
    for part in text.split("||"):
        alternative = part.strip()
        specs: list[str] = []
        hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", alternative)
        if hyphen:
            specs += _comparator(">=", hyphen.group(1))
            high, given = _partial(hyphen.group(2))
            if given == 3:
                specs += _comparator("<=", hyphen.group(2))
            else:
                upper = [*high[: given - 1], high[given - 1] + 1]
                specs.append(f"<{'.'.join(map(str, upper))}")
        else:
            for operator, version in _COMPARATOR.findall(alternative.replace(",", " ")):
                specs += _comparator(operator, version)
        try:
            alternatives.append(SpecifierSet(",".join(specs)))
        except InvalidSpecifier as exc:
            raise ValueError(f"unreadable range {text!r}: {exc}") from exc
    return alternatives


def range_affects(text: str, version: Version) -> bool:
    """Whether ``version`` lies in the GHSA / npm range ``text`` (pre-releases included)."""
    return any(spec.contains(version, prereleases=True) for spec in parse_range(text))


def _events_affect(events: Sequence[Mapping[str, Any]], version: Version) -> bool:
    """OSV's rule: walk the events in version order; introduced opens, fixed and
    last_affected close (last_affected still covers its own version)."""
    ordered: list[tuple[Version, int, str]] = []
    for event in events:
        for kind, order in (("introduced", 0), ("fixed", 1), ("last_affected", 2)):
            if kind in event:
                raw = str(event[kind])
                parsed = Version("0") if raw == "0" else parse_version(raw)
                if parsed is None:
                    raise ValueError(f"unreadable {kind} version {raw!r}")
                ordered.append((parsed, order, kind))
    affected = False
    for point, _, kind in sorted(ordered):
        if kind == "introduced" and point <= version:
            affected = True
        elif (kind == "fixed" and point <= version) or (
            kind == "last_affected" and point < version
        ):
            affected = False
    return affected


def osv_affects(affected: Mapping[str, Any], version: Version, raw: str) -> bool:
    """Whether one OSV ``affected[]`` entry covers ``version``: listed in ``versions``, or
    inside one of its SEMVER / ECOSYSTEM ``ranges`` (GIT ranges are ignored)."""
    listed: Iterable[Any] = affected.get("versions") or []
    if any(str(v) == raw or parse_version(str(v)) == version for v in listed):
        return True
    for spans in affected.get("ranges") or []:
        if str(spans.get("type", "")).upper() in {"SEMVER", "ECOSYSTEM"} and _events_affect(
            spans.get("events") or [], version
        ):
            return True
    return False
