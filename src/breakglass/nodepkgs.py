"""Finding files that npm installed: the anvil binary, solcjs, real contract artefacts.

``npm install`` puts them under ``node_modules/`` at the project root. breakglass runs from
that checkout, from a subdirectory of it, or installed elsewhere while the current directory
is the project, so both the current directory and this package's location are searched,
each with its parents.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["find_node_file"]


def find_node_file(relpath: Path, *, exists: Callable[[Path], bool] = Path.is_file) -> Path | None:
    """The first ``<dir>/<relpath>`` for which ``exists`` holds, or ``None``.

    ``relpath`` starts with ``node_modules``; pass ``exists=Path.is_dir`` for a directory.
    """
    searched: set[Path] = set()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for directory in (start, *start.parents):
            if directory in searched:
                continue
            searched.add(directory)
            candidate = directory / relpath
            if exists(candidate):
                return candidate
    return None
