"""``breakglass serve``'s process: the HTTP app, and the events its actions cause delivered.

A person's action on the dashboard or the API (an approval that resumes a playbook, a public
update) writes its events to the outbox like any other stage. The server runs the same
pipeline as the monitor (:func:`~breakglass.runtime.monitor.build_pipeline`: every consumer,
never a partial set, which would mark events delivered that a consumer never saw) and the
notifier's delivery loop, so those events reach the timeline and the channels whether or not
a monitor runs. With a monitor running too, both relays deliver the same rows; consumers
apply each event once and deliveries are claimed, so nothing is done twice.

The server has no health checks, so a dead letter its relay sets aside pages the incident
lead directly (as the monitor's pipeline check does): with no monitor running it would
otherwise reach nobody.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from breakglass.plan.loader import LoadedPlan

__all__ = ["serve"]


def serve(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    *,
    host: str,
    port: int,
    log_level: str = "info",
) -> None:
    """Serve the API and the dashboard until interrupted, delivering events meanwhile."""
    asyncio.run(_serve(loaded, sessions, host=host, port=port, log_level=log_level))


async def _serve(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    *,
    host: str,
    port: int,
    log_level: str,
) -> None:
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from breakglass.detect.health import Condition  # noqa: PLC0415
    from breakglass.detect.health_pipeline import PIPELINE_CHECK  # noqa: PLC0415
    from breakglass.runtime.monitor import build_pipeline, crash_page, page_lead  # noqa: PLC0415
    from breakglass.runtime.supervise import supervised  # noqa: PLC0415
    from breakglass.server import create_app  # noqa: PLC0415

    pipeline = build_pipeline(loaded.plan, sessions)

    def dead_letter(event_id: str, error: str) -> None:
        condition = Condition(
            PIPELINE_CHECK,
            "dead-letters",
            f"event {event_id} could not be delivered",
            f"The server's relay set event {event_id} aside after every attempt failed: "
            f"{error[:200]}",
        )
        page_lead(loaded.plan, pipeline.notifier, condition)

    pipeline.relay.on_dead = dead_letter
    server = uvicorn.Server(
        uvicorn.Config(create_app(loaded, sessions), host=host, port=port, log_level=log_level)
    )
    stop = asyncio.Event()

    def crashed(loop: str, exc: BaseException) -> None:
        crash_page(loaded.plan, pipeline.notifier, loop, exc)

    background = [
        asyncio.create_task(supervised("relay", pipeline.relay.run, stop, on_crash=crashed))
    ]
    if pipeline.notifier is not None:
        background.append(
            asyncio.create_task(
                supervised("notifier", pipeline.notifier.run, stop, on_crash=crashed)
            )
        )
    try:
        await server.serve()
    finally:
        stop.set()
        await asyncio.gather(*background, return_exceptions=True)
