"""Background loops that do not die in silence.

The relay, the notifier's delivery loop and the desk's reminders run beside the monitor. A
bug or an unexpected error in one of them must neither end it quietly (events would wait in
the outbox until someone noticed) nor take the monitor down (the chain must still be watched
and paused). :func:`supervised` restarts such a loop with a growing pause and tells
``on_crash`` each time, which pages the incident lead directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

__all__ = ["supervised"]

_log = structlog.get_logger("breakglass.runtime")


async def supervised(
    name: str,
    run: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
    *,
    on_crash: Callable[[str, BaseException], None] | None = None,
    first_pause: float = 0.5,
    max_pause: float = 30.0,
) -> None:
    """Run ``run(stop)`` until it returns with ``stop`` set; restart it after a crash."""
    pause = first_pause
    while True:
        try:
            await run(stop)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any crash: reported, then restarted
            _log.error("runtime.loop_crashed", loop=name, error=repr(exc)[:300], restart_in=pause)
            if on_crash is not None:
                try:
                    on_crash(name, exc)
                except Exception as failed:  # the report must not kill the loop
                    _log.error("runtime.crash_report_failed", loop=name, error=repr(failed)[:300])
        else:
            if stop.is_set():
                return
            _log.error("runtime.loop_ended", loop=name, restart_in=pause)
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)
        pause = min(max_pause, pause * 2)
