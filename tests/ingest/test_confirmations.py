"""With confirmations, a block is delivered only once enough blocks are on top of it."""

from __future__ import annotations

import pytest

from breakglass.ingest import BlockStream

pytestmark = pytest.mark.chain


def with_confirmations(harness, confirmations: int) -> BlockStream:
    old = harness.stream
    harness.stream = BlockStream(
        chain=old.chain,
        fetcher=old.fetcher,
        subscribers=old.subscribers,
        confirmations=confirmations,
    )
    return harness.stream


def test_blocks_wait_for_confirmations(harness) -> None:
    with_confirmations(harness, 3)
    harness.follow(1)
    first = harness.height()
    assert harness.recorder.trail() == []
    harness.follow(3)
    assert [n for _, n, _ in harness.recorder.trail()] == [first]
    harness.follow(2)
    assert [n for _, n, _ in harness.recorder.trail()] == [first, first + 1, first + 2]
    view = harness.recorder.view()
    assert view == harness.canonical(range(first, first + 3))


def test_shallow_reorg_below_confirmations_is_never_seen(harness) -> None:
    with_confirmations(harness, 3)
    harness.follow(6)
    delivered = list(harness.recorder.trail())
    harness.reorg(2)  # only unconfirmed blocks change
    harness.sync()
    assert all(kind == "+" for kind, _, _ in harness.recorder.trail())
    assert harness.recorder.trail()[: len(delivered)] == delivered
    view = harness.recorder.view()
    assert view == harness.canonical(range(min(view), max(view) + 1))
