"""A restarted stream resumes from its checkpoint: nothing twice, nothing missed."""

from __future__ import annotations

import pytest

from breakglass.ingest import BlockStream

pytestmark = pytest.mark.chain


def restarted(harness) -> BlockStream:
    old = harness.stream
    return BlockStream(
        chain=old.chain,
        fetcher=old.fetcher,
        checkpoints=old.checkpoints,
        subscribers=old.subscribers,
    )


def test_resume_fills_the_gap_without_repeats(harness) -> None:
    harness.follow(3)
    harness.stream = restarted(harness)
    assert harness.stream.tip is not None
    assert harness.stream.tip.number == harness.height()
    harness.mine(5)  # while "down"
    harness.sync()
    view = harness.recorder.view()  # raises if any block was delivered twice
    assert view == harness.canonical(range(min(view), max(view) + 1))


def test_reorg_while_down_is_retracted_after_restart(harness) -> None:
    harness.follow(6)
    tip = harness.height()
    orphaned = harness.canonical(range(tip - 2, tip + 1))
    harness.stream = restarted(harness)
    harness.reorg(3)
    harness.mine(1)
    harness.sync()
    removed = [(n, h) for kind, n, h in harness.recorder.trail() if kind == "-"]
    assert removed == [(n, orphaned[n]) for n in range(tip, tip - 3, -1)]
    view = harness.recorder.view()
    assert view == harness.canonical(range(min(view), max(view) + 1))
