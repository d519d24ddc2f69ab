"""Every catch-all on the path from a block to a pause and a page says why it is there.

A broad ``except`` is how a failure turns silent. The ones the response path needs (a rule's
bug must not blind the others, a broken channel must not stop the watch) each carry their
reason on the same line, and docs/respond.md lists what each one does with the error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).parents[1] / "src" / "breakglass"
RESPONSE_PATH = ("chain", "ingest", "detect", "respond", "incidents", "notify", "store")
CATCH_ALL = re.compile(r"^\s*except\s*(\(?\s*(Exception|BaseException)\b[^:]*)?:")


def _catch_alls() -> list[tuple[str, int, str]]:
    found = []
    for package in RESPONSE_PATH:
        for path in sorted((SRC / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if CATCH_ALL.match(line):
                    found.append((str(path.relative_to(SRC)), number, line))
    return found


def test_the_response_path_has_catch_alls_to_check() -> None:
    assert len(_catch_alls()) >= 10  # the scan finds them: a broken pattern would pass below


def test_no_bare_except_on_the_response_path() -> None:
    bare = [f"{f}:{n}" for f, n, line in _catch_alls() if re.match(r"^\s*except\s*:", line)]
    assert bare == []


def test_every_catch_all_on_the_response_path_says_why() -> None:
    silent = [f"{f}:{n}: {line.strip()}" for f, n, line in _catch_alls() if "#" not in line]
    assert silent == [], "give each catch-all its reason on the same line:\n" + "\n".join(silent)
