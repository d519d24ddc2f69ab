"""Structured logging with structlog, and the guarantee that secrets never reach a log line.

Two defences: values registered with :func:`register_secret` (a resolved password, a key)
are replaced wherever they appear in a record, and fields whose names look secret
(``password``, ``private_key``, ``token``, ...) are masked whatever their value.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from breakglass import textsafe

__all__ = ["MASK", "configure_logging", "get_logger", "redact", "register_secret"]

MASK = "***"
_SECRET_FIELD = re.compile(
    r"pass(word|phrase)?|private_?key|secret|token|api_?key|mnemonic|seed", re.IGNORECASE
)
_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Mask ``value`` in every later log record. Short values are ignored: they mask noise."""
    if len(value) < 6:
        return
    _secrets.add(value)
    if value[:2].lower() == "0x":  # a key also travels as bare hex, in either case
        _secrets.update({value[2:], value[2:].lower(), value[2:].upper()})


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        # Logged token names and titles come from the chain: no escape sequence reaches the
        # operator's terminal.
        return textsafe.strip_controls(value)
    if isinstance(value, dict):
        return {k: MASK if _SECRET_FIELD.search(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return _scrub(value.hex())
    return value


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-looking fields and registered secret values, and
    strip control characters (tab and newline kept) from every string."""
    for key in list(event_dict):
        if _SECRET_FIELD.search(key):
            event_dict[key] = MASK
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was set up: a
    stream swapped in and closed later (a test runner's capture) must not break logging."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(
    level: str = "INFO", fmt: str = "console", stream: TextIO | None = None
) -> None:
    """Set up structlog for the process: ``fmt`` is ``console`` for people, ``json`` for tools."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(stream or _CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A bound structlog logger carrying ``logger=name``."""
    return structlog.get_logger().bind(logger=name)
