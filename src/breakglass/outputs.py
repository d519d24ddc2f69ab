"""Where commands write files: missing directories are created, and what cannot be written
becomes an :class:`~breakglass.errors.OutputError` that names the path and the reason.

Every command that writes a report, a page or an export goes through these helpers, so
``--out existing-file/x`` or a read-only directory gives the same one-line message
everywhere instead of a ``NotADirectoryError`` traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from breakglass.errors import OutputError

__all__ = ["output_dir", "output_file", "write_bytes", "write_text", "writing"]

_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EISDIR: "it is a directory",
}


def _blocking_file(path: Path) -> Path | None:
    """The nearest existing ancestor (or ``path`` itself) that is not a directory."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def _reason(path: Path, exc: OSError) -> str:
    blocker = _blocking_file(path.parent) if path.parent != path else None
    if blocker is not None:
        return f"{blocker} is a file, not a directory"
    return _REASONS.get(exc.errno or 0, exc.strerror or type(exc).__name__)


@contextmanager
def writing(path: Path, *, what: str = "write") -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` into an :class:`OutputError`.

    Raises:
        OutputError: ``cannot <what> <path>: <reason>``.
    """
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot {what} {path}: {_reason(path, exc)}") from None


def output_dir(path: Path) -> Path:
    """Create the directory ``path`` (and its parents) if missing; return it.

    Raises:
        OutputError: when a part of the path is a file or the directory cannot be created.
    """
    blocker = _blocking_file(path)
    if blocker is not None:
        what = "is a file" if blocker == path else "is a file, not a directory"
        raise OutputError(f"cannot create directory {path}: {blocker} {what}")
    with writing(path, what="create directory"):
        path.mkdir(parents=True, exist_ok=True)
    return path


def output_file(path: Path, *, default_name: str | None = None) -> Path:
    """Where to write the file ``path``: its missing parent directories are created.

    Args:
        path: the file the person named.
        default_name: when ``path`` is an existing directory, the file goes in it under
            this name; without one, a directory is an error.

    Raises:
        OutputError: when the path is a directory (and no default name is given), or its
            parent cannot be created.
    """
    if path.is_dir():
        if default_name is None:
            raise OutputError(f"cannot write {path}: it is a directory; name a file")
        path = path / default_name
    output_dir(path.parent)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path``, creating its directory; return the path.

    Raises:
        OutputError: when the file cannot be written.
    """
    return write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, creating its directory; return the path.

    Raises:
        OutputError: when the file cannot be written.
    """
    target = output_file(path)
    with writing(target):
        target.write_bytes(data)
    return target
