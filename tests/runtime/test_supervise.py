"""A background loop that crashes is reported and restarted, never ended in silence."""

from __future__ import annotations

import asyncio

from breakglass.runtime.supervise import supervised


def test_a_crashing_loop_is_reported_and_restarted_until_stopped() -> None:
    runs: list[int] = []
    crashes: list[tuple[str, str]] = []

    async def relay(stop: asyncio.Event) -> None:
        runs.append(len(runs))
        if len(runs) <= 2:
            raise RuntimeError(f"crash {len(runs)}")
        await stop.wait()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            supervised(
                "relay",
                relay,
                stop,
                on_crash=lambda n, e: crashes.append((n, str(e))),
                first_pause=0.01,
            )
        )
        while len(runs) < 3:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 2)

    asyncio.run(scenario())
    assert runs == [0, 1, 2]
    assert crashes == [("relay", "crash 1"), ("relay", "crash 2")]


def test_a_loop_that_returns_early_is_started_again_and_a_failing_report_is_survived() -> None:
    runs: list[int] = []

    async def notifier(stop: asyncio.Event) -> None:
        runs.append(1)
        if len(runs) == 1:
            return  # ended although nobody asked it to
        if len(runs) == 2:
            raise ValueError("boom")
        await stop.wait()

    def broken_report(name: str, exc: BaseException) -> None:
        raise OSError("pager down")

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            supervised("notifier", notifier, stop, on_crash=broken_report, first_pause=0.01)
        )
        while len(runs) < 3:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 2)

    asyncio.run(scenario())
    assert len(runs) == 3
