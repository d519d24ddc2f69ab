"""Every chain of a plan in one process: a chain whose only endpoint died neither stops nor
slows the other, which still raises its alert and pauses its token."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from breakglass import store
from breakglass.devchain import Anvil, DevchainError
from breakglass.events import AlertRaised, Event
from breakglass.ingest import BlockAdded
from breakglass.plan import load_plan
from breakglass.runtime.fleet import build_fleet
from breakglass.store.models import AlertRecord, Page

_spec = importlib.util.spec_from_file_location("cluster_kit", Path(__file__).with_name("kit.py"))
assert _spec is not None and _spec.loader is not None
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)

pytestmark = pytest.mark.chain


def _start(chain_id: int) -> Anvil:
    try:
        return Anvil.start(chain_id=chain_id, block_time=0.5)
    except DevchainError as exc:
        pytest.fail(f"anvil is needed by this test: {exc}", pytrace=False)


@pytest.fixture
def two_chains() -> Iterator[dict[str, tuple[Anvil, Any]]]:
    a, b = _start(31337), _start(42161)
    try:
        yield {"alpha": (a, kit.Token(a)), "beta": (b, kit.Token(b))}
    finally:
        a.stop()
        b.stop()


@pytest.mark.parametrize("dies", ["while watched", "before the start"])
def test_a_dead_chain_neither_stops_nor_slows_the_other(
    tmp_path: Path, two_chains: dict[str, tuple[Anvil, Any]], dies: str
) -> None:
    plan = load_plan(kit.write_plan(tmp_path / "plan.yaml", two_chains, respond=True))
    url = f"sqlite:///{tmp_path / 'bg.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    alpha, beta = two_chains["alpha"], two_chains["beta"]
    environ = {"GUARDIAN_KEY": alpha[0].private_keys[kit.GUARDIAN]}
    seen: dict[str, list[float]] = {"alpha": [], "beta": []}
    alerts: list[AlertRaised] = []

    def on_block(block: BlockAdded, findings: int) -> None:
        seen[block.chain].append(time.monotonic())

    async def heard(event: Event) -> None:
        if isinstance(event, AlertRaised):
            alerts.append(event)

    async def scenario() -> tuple[float, float]:
        fleet = build_fleet(plan, chains=["alpha", "beta"], sessions=sessions, environ=environ)
        fleet.retry_after = 0.5
        fleet.bus.subscribe("test.alerts", [AlertRaised], heard)
        stop = asyncio.Event()
        if dies == "before the start":
            beta[0].stop()
        run = asyncio.create_task(fleet.run(stop, poll_interval=0.1, on_block=on_block))
        while len(seen["alpha"]) < 3 or (dies == "while watched" and len(seen["beta"]) < 3):
            await asyncio.sleep(0.1)
        beta[0].stop()  # every endpoint of beta is dead from here on
        killed = time.monotonic()
        await asyncio.sleep(3.0)
        drained = time.monotonic()
        await asyncio.to_thread(alpha[1].drain)
        while not alpha[1].paused() and time.monotonic() - drained < 15:
            await asyncio.sleep(0.1)
        paused_after = time.monotonic() - drained
        while not alerts and time.monotonic() - drained < 15:
            await asyncio.sleep(0.1)
        assert not run.done(), "a dead chain stopped the process"
        if dies == "before the start":  # it cannot even be identified: retried alone
            assert "beta" in fleet.failures
        stop.set()
        await run
        return killed, paused_after

    killed, paused_after = asyncio.run(scenario())

    after = [t for t in seen["alpha"] if t > killed]
    assert len(after) >= 6, f"alpha delivered {len(after)} blocks in the 3 s after beta died"
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert max(gaps) < 1.5, f"alpha's blocks were held up by up to {max(gaps):.2f} s"
    assert alpha[1].paused() and paused_after < 5
    assert [a.chain for a in alerts] == ["alpha"]
    with sessions() as session:
        assert session.scalars(select(AlertRecord.chain)).all() == ["alpha"]
        pages = session.scalars(select(Page.message)).all()
    if dies == "before the start":  # never silent: the lead is paged once, not per retry
        assert [m for m in pages if "cannot watch chain beta" in m] == pages[:1], pages
