"""Reading a contract's ABI file named by the plan, with the plan's directory as a fence.

A plan can come from someone else (a pull request, a shared template), so the file it names
is untrusted: it must be a regular file inside the plan's directory (no ``..`` or absolute
path out of it, no FIFO that hangs the reader, no device that never ends) and small.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from breakglass import safejson

__all__ = ["MAX_ABI_BYTES", "AbiFileError", "read_abi_file"]

MAX_ABI_BYTES = 5 * 1024 * 1024
"""The largest compiler artifacts are a few hundred kilobytes; more is a wrong file."""
ABI_MAX_DEPTH = 512


class AbiFileError(ValueError):
    """An ABI file that may not or cannot be read; the text says which, for a plan issue."""


def _inside(path: Path, base_dir: Path) -> Path:
    resolved = (base_dir / path).resolve()
    if not resolved.is_relative_to(base_dir.resolve()):
        raise AbiFileError("ABI file must be inside the plan's directory")
    return resolved


def read_abi_file(path: Path, *, base_dir: Path) -> list[dict[str, Any]]:
    """The ABI list in ``path`` (relative to ``base_dir``, or absolute inside it): a JSON
    list, or a compiler artifact with an ``abi`` list.

    Raises:
        AbiFileError: outside the plan's directory, not a regular file, too large, not JSON
            or not an ABI.
    """
    resolved = _inside(path, base_dir)
    try:
        # Non-blocking, and checked on the open descriptor: a FIFO swapped in after a stat
        # neither hangs the open nor gets read.
        fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise AbiFileError("ABI file not found") from None
    except OSError as exc:
        raise AbiFileError(f"ABI file cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise AbiFileError("ABI file is not a regular file")
        if info.st_size > MAX_ABI_BYTES:
            raise AbiFileError(
                f"ABI file is {info.st_size / 1_048_576:.1f} MiB; at most "
                f"{MAX_ABI_BYTES // 1_048_576} MiB"
            )
        raw = handle.read(MAX_ABI_BYTES + 1)
    if len(raw) > MAX_ABI_BYTES:
        raise AbiFileError(f"ABI file is over {MAX_ABI_BYTES // 1_048_576} MiB")
    try:
        # Bounded depth: a nested file must not overflow the C stack (compiler artifacts
        # with an AST nest a few hundred levels at most).
        data = safejson.loads(raw, what="ABI file", max_depth=ABI_MAX_DEPTH)
    except safejson.UnsafeJson:
        raise AbiFileError("ABI file is not readable JSON") from None
    abi = data.get("abi") if isinstance(data, dict) else data
    if not isinstance(abi, list) or not all(isinstance(e, dict) and "type" in e for e in abi):
        raise AbiFileError("ABI file does not hold an ABI")
    return abi
