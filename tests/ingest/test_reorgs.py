"""Reorgs and rollbacks on a real anvil: subscribers see exactly the right sequence."""

from __future__ import annotations

import pytest

from breakglass.ingest import BlockStream

pytestmark = pytest.mark.chain


def test_follows_new_blocks_in_order(harness) -> None:
    harness.mine(3)
    harness.sync()
    start = harness.height()
    harness.mine(4)
    harness.sync()  # four blocks behind: the gap is filled by parent hash
    trail = harness.recorder.trail()
    assert [n for _, n, _ in trail][-4:] == list(range(start + 1, start + 5))
    assert all(kind == "+" for kind, _, _ in trail)
    view = harness.recorder.view()
    assert view == harness.canonical(range(min(view), max(view) + 1))
    harness.sync()  # the same head again delivers nothing
    assert len(harness.recorder.trail()) == len(trail)


@pytest.mark.parametrize("depth", range(1, 11))
def test_reorg_of_depth(harness, depth: int) -> None:
    harness.follow(12)
    tip = harness.height()
    old = harness.canonical(range(tip - depth + 1, tip + 1))
    before = len(harness.recorder.events)

    harness.reorg(depth)
    harness.sync()

    new = harness.canonical(range(tip - depth + 1, tip + 1))
    assert all(old[n] != new[n] for n in old)
    expected = [("-", n, old[n]) for n in range(tip, tip - depth, -1)]
    expected += [("+", n, new[n]) for n in range(tip - depth + 1, tip + 1)]
    assert harness.recorder.trail()[before:] == expected
    view = harness.recorder.view()
    assert view == harness.canonical(range(min(view), max(view) + 1))


def test_reorg_to_a_longer_branch(harness) -> None:
    harness.follow(5)
    tip = harness.height()
    before = len(harness.recorder.events)
    harness.reorg(3)
    harness.mine(2)
    harness.sync()
    kinds = [(kind, n) for kind, n, _ in harness.recorder.trail()[before:]]
    assert kinds == [("-", tip), ("-", tip - 1), ("-", tip - 2)] + [
        ("+", n) for n in range(tip - 2, tip + 3)
    ]
    view = harness.recorder.view()
    assert view == harness.canonical(range(min(view), max(view) + 1))


def test_rollback_then_new_block(harness) -> None:
    harness.follow(6)
    tip = harness.height()
    old = harness.canonical(range(tip - 1, tip + 1))
    before = len(harness.recorder.events)
    harness.rpc("anvil_rollback", [2])
    harness.sync()  # a shorter chain alone retracts nothing until a block proves the fork
    assert harness.recorder.trail()[before:] == []
    harness.transfer()  # mined at once, and unlike the orphaned block at that height
    harness.sync()
    new_hash = harness.canonical(range(tip - 1, tip))[tip - 1]
    assert harness.recorder.trail()[before:] == [
        ("-", tip, old[tip]),
        ("-", tip - 1, old[tip - 1]),
        ("+", tip - 1, new_hash),
    ]
    view = harness.recorder.view()
    assert view == harness.canonical(range(min(view), max(view) + 1))


def test_reorg_deeper_than_known_history_reanchors(harness) -> None:
    harness.follow(2)
    tip = harness.height()
    delivered = harness.recorder.view()
    harness.reorg(4)
    harness.sync()
    trail = harness.recorder.trail()[len(delivered) :]
    assert [(k, n) for k, n, _ in trail] == [("-", tip), ("-", tip - 1), ("+", tip)]
    assert harness.recorder.view() == harness.canonical(range(tip, tip + 1))


def test_a_failing_subscriber_trips_its_breaker_without_stopping_the_stream(harness) -> None:
    calls = []

    async def broken(event) -> None:
        calls.append(event.number)
        raise RuntimeError("subscriber bug")

    old = harness.stream
    harness.stream = BlockStream(
        chain=old.chain,
        fetcher=old.fetcher,
        checkpoints=old.checkpoints,
        subscribers=[broken, harness.recorder],
        subscriber_failure_budget=3,
    )
    start = harness.height()
    harness.follow(5)
    assert len(calls) == 3  # switched off after three consecutive failures
    assert harness.stream.open_breakers == [0]
    assert [n for _, n, _ in harness.recorder.trail()][-5:] == list(range(start + 1, start + 6))
