"""The drop window behind balance-drop and tvl-drop, without a chain."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from breakglass.detect.rules.state.balance_drop import DropWindow


def test_a_drop_is_reported_once_and_old_peaks_expire() -> None:
    window = DropWindow(blocks=3, percent=Decimal(20))
    assert window.add(1, Fraction(100)) is None
    assert window.add(2, Fraction(90)) is None
    assert window.add(3, Fraction(70)) == 100  # 30% below the peak of block 1
    assert window.add(4, Fraction(60)) is None  # the same drop
    assert window.add(5, Fraction(60)) is None
    assert window.add(8, Fraction(60)) is None  # block 1 left the window: recovered
    assert window.add(9, Fraction(40)) == 60


def test_a_redelivered_block_replaces_what_was_seen_from_it_on() -> None:
    window = DropWindow(blocks=10, percent=Decimal(20))
    window.add(1, Fraction(100))
    window.add(2, Fraction(1_000))  # on a branch that a reorg drops
    assert window.add(2, Fraction(100)) is None  # the canonical block 2
    assert window.add(3, Fraction(85)) is None
