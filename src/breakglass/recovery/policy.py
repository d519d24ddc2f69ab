"""Applying a plan's compensation policy to per-user losses.

The rules run in this order (``docs/recovery.md`` explains why):

1. **cause**: a cause the policy does not cover entitles nobody to anything;
2. **exclusions**: the attacker cluster and the policy's listed addresses get zero; listed
   names that are not addresses (other than ``attacker-cluster``, the cluster itself) are
   reported as unresolved;
3. **coverage**: each loss is multiplied by the cause's coverage ratio (floored to base units);
4. **per-user cap** (USD): a user whose entitlements are worth more than the cap has each of
   them scaled down so that together they are worth the cap (floored);
5. **dust** (USD): an entitlement worth less than the threshold is dropped;
6. **aggregate cap** (USD): when all entitlements together are worth more than the cap, every
   one is scaled by ``cap / total`` (floored); the rounding remainder stays undistributed.

Amounts are exact ints of base units; all arithmetic runs on :class:`fractions.Fraction` and is
floored once per step, so no step ever hands out more than the rule allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Literal, get_args

from breakglass.errors import BreakglassError
from breakglass.plan.models.policy import CauseCoverage, CompensationPolicy

__all__ = [
    "ATTACKER_CLUSTER",
    "Cause",
    "Compensation",
    "Entitlement",
    "Loss",
    "Price",
    "RecoveryError",
    "apply_policy",
    "format_usd",
]

Cause = Literal["contract-flaw", "user-error", "third-party-flaw"]
Price = tuple[Decimal, int]
"""USD per whole token and the token's decimals."""

ATTACKER_CLUSTER = "attacker cluster"
# How a plan names the attacker cluster in ``exclusions`` (the demo and the example plans
# write ``attacker-cluster``): a name of the cluster excluded anyway, not an unknown list.
_CLUSTER_NAMES = frozenset({"attacker-cluster", "attacker_cluster", "attacker cluster"})
_CAUSE_FIELDS: dict[str, str] = {cause: cause.replace("-", "_") for cause in get_args(Cause)}


class RecoveryError(BreakglassError):
    """Compensation cannot be computed (no policy, no price for a USD rule, bad input)."""


@dataclass(frozen=True, slots=True)
class Loss:
    """One user's loss of one asset: ``amount`` in base units, ``usd`` its value if known."""

    address: str
    asset: str
    amount: int
    usd: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Entitlement:
    """What one address is owed in one asset after the policy, with every adjustment's reason."""

    address: str
    asset: str
    loss: int
    amount: int
    usd: Decimal | None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Compensation:
    """The policy's outcome: entitlements (sorted by address, asset) and what it could not do."""

    cause: Cause
    entitlements: tuple[Entitlement, ...]
    unresolved_exclusions: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def total(self, asset: str) -> int:
        """The sum of entitlements in ``asset``."""
        key = asset.lower()
        return sum(e.amount for e in self.entitlements if e.asset.lower() == key)


@dataclass(slots=True)
class _Row:
    address: str
    asset: str
    loss: int
    amount: int
    reasons: list[str]


def format_usd(value: Decimal | Fraction) -> str:
    """``$1M``, ``$2.5M``, ``$50,000``, ``$0.01``: a USD amount for a reason."""
    amount = (
        Decimal(value.numerator) / Decimal(value.denominator)
        if isinstance(value, Fraction)
        else value
    )
    if amount >= 1_000_000 and (amount / 100_000) == (amount / 100_000).to_integral_value():
        millions = (amount / 1_000_000).normalize()
        return f"${millions:f}M"
    if amount == amount.to_integral_value():
        return f"${int(amount):,}"
    return f"${amount.quantize(Decimal('0.01')):,}"


def _percent(ratio: Fraction) -> str:
    tenths = (ratio * 1000).__floor__()
    whole, part = divmod(tenths, 10)
    return f"{whole}%" if part == 0 else f"{whole}.{part}%"


def _is_address(text: str) -> bool:
    body = text[2:]
    return (
        text[:2].lower() == "0x"
        and len(body) == 40
        and all(c in "0123456789abcdefABCDEF" for c in body)
    )


def _unit_prices(losses: Sequence[Loss], prices: Mapping[str, Price]) -> dict[str, Fraction]:
    """USD per base unit of each asset: the given price, else from the losses' USD values."""
    units: dict[str, Fraction] = {}
    for asset, (usd, decimals) in prices.items():
        units[asset.lower()] = Fraction(usd) / 10**decimals
    totals: dict[str, tuple[Fraction, int]] = {}
    for loss in losses:
        key = loss.asset.lower()
        if key in units or loss.usd is None or loss.amount <= 0:
            continue
        worth, amount = totals.get(key, (Fraction(0), 0))
        totals[key] = (worth + Fraction(loss.usd), amount + loss.amount)
    for key, (worth, amount) in totals.items():
        units[key] = worth / amount
    return units


def _merge(losses: Iterable[Loss]) -> list[_Row]:
    rows: dict[tuple[str, str], _Row] = {}
    for loss in losses:
        if loss.amount < 0:
            raise RecoveryError(f"negative loss {loss.amount} for {loss.address}")
        key = (loss.address.lower(), loss.asset.lower())
        row = rows.get(key)
        if row is None:
            rows[key] = _Row(loss.address, loss.asset, loss.amount, loss.amount, [])
        else:
            row.loss += loss.amount
            row.amount += loss.amount
    return [rows[key] for key in sorted(rows)]


class _Pricer:
    def __init__(self, units: Mapping[str, Fraction]) -> None:
        self.units = units

    def usd(self, row: _Row, rule: str) -> Fraction:
        price = self.units.get(row.asset.lower())
        if price is None:
            raise RecoveryError(f"the {rule} needs a USD price for asset {row.asset}")
        return row.amount * price


def _coverage(policy: CompensationPolicy, cause: Cause) -> CauseCoverage | None:
    coverage: CauseCoverage | None = getattr(policy, _CAUSE_FIELDS[cause])
    return coverage


def _exclude(
    rows: Sequence[_Row], policy: CompensationPolicy, excluded: Mapping[str, str]
) -> tuple[str, ...]:
    exclusions = {address.lower(): reason for address, reason in excluded.items()}
    unresolved = []
    for item in policy.exclusions:
        if item.strip().lower() in _CLUSTER_NAMES:
            continue  # the cluster in ``excluded`` is always excluded; the plan names it
        if _is_address(item):
            exclusions.setdefault(item.lower(), "listed in the policy's exclusions")
        else:
            unresolved.append(item)
    for row in rows:
        reason = exclusions.get(row.address.lower())
        if reason is not None and row.amount:
            row.amount = 0
            row.reasons.append(f"excluded: {reason}")
    return tuple(unresolved)


def _cover(rows: Sequence[_Row], ratio: Fraction) -> None:
    if ratio == 1:
        return
    for row in rows:
        if row.amount:
            row.amount = (row.amount * ratio).__floor__()
            row.reasons.append(f"coverage {_percent(ratio)}")


def _cap_users(rows: Sequence[_Row], cap_usd: Decimal, pricer: _Pricer) -> None:
    cap = Fraction(cap_usd)
    by_user: dict[str, list[_Row]] = {}
    for row in rows:
        if row.amount:
            by_user.setdefault(row.address.lower(), []).append(row)
    for user_rows in by_user.values():
        worth = sum((pricer.usd(r, "per-user cap") for r in user_rows), Fraction(0))
        if worth > cap:
            for row in user_rows:
                row.amount = (row.amount * cap / worth).__floor__()
                row.reasons.append(f"capped at {format_usd(cap_usd)}")


def _drop_dust(rows: Sequence[_Row], threshold_usd: Decimal, pricer: _Pricer) -> None:
    threshold = Fraction(threshold_usd)
    for row in rows:
        if row.amount and pricer.usd(row, "dust threshold") < threshold:
            row.amount = 0
            row.reasons.append(f"dust: under {format_usd(threshold_usd)}")


def _cap_total(rows: Sequence[_Row], cap_usd: Decimal, pricer: _Pricer) -> str | None:
    cap = Fraction(cap_usd)
    live = [row for row in rows if row.amount]
    worth = sum((pricer.usd(r, "aggregate cap") for r in live), Fraction(0))
    if worth <= cap:
        return None
    factor = cap / worth
    reason = f"pro rata {_percent(factor)} under the {format_usd(cap_usd)} aggregate cap"
    for row in live:
        row.amount = (row.amount * factor).__floor__()
        row.reasons.append(reason)
    paid = sum((pricer.usd(r, "aggregate cap") for r in live), Fraction(0))
    left = cap - paid
    exact = (Decimal(left.numerator) / Decimal(left.denominator)).normalize()
    return f"aggregate cap: ${exact:f} left undistributed by rounding"


def apply_policy(
    losses: Sequence[Loss],
    policy: CompensationPolicy,
    cause: Cause,
    *,
    excluded: Mapping[str, str] | None = None,
    prices: Mapping[str, Price] | None = None,
) -> Compensation:
    """Entitlements for ``losses`` under ``policy`` for an incident of ``cause``.

    ``excluded`` maps addresses (e.g. the attacker cluster) to the reason they get nothing;
    ``prices`` gives USD per whole token and decimals per asset, else an asset's price is
    taken from its losses' ``usd`` values. The rules run in the order of the module's
    docstring.

    Raises:
        RecoveryError: an unknown cause, a negative loss, or a USD rule that needs the price
            of an asset without any.
    """
    if cause not in _CAUSE_FIELDS:
        raise RecoveryError(f"unknown cause {cause!r}; use one of {', '.join(_CAUSE_FIELDS)}")
    rows = _merge(losses)
    pricer = _Pricer(_unit_prices(losses, prices or {}))
    coverage = _coverage(policy, cause)
    if coverage is None or not coverage.covered:
        why = "not stated in the policy" if coverage is None else coverage.rationale or "policy"
        for row in rows:
            row.amount = 0
            row.reasons.append(f"not covered: {cause.replace('-', ' ')} ({why})")
        return _finish(cause, rows, pricer, (), ())
    unresolved = _exclude(rows, policy, excluded or {})
    _cover(rows, Fraction(coverage.coverage))
    if policy.per_user_cap_usd is not None:
        _cap_users(rows, policy.per_user_cap_usd, pricer)
    if policy.dust_threshold_usd:
        _drop_dust(rows, policy.dust_threshold_usd, pricer)
    note = None
    if policy.aggregate_cap_usd is not None:
        note = _cap_total(rows, policy.aggregate_cap_usd, pricer)
    return _finish(cause, rows, pricer, unresolved, () if note is None else (note,))


def _finish(
    cause: Cause,
    rows: Sequence[_Row],
    pricer: _Pricer,
    unresolved: tuple[str, ...],
    notes: Sequence[str],
) -> Compensation:
    entitlements = []
    for row in rows:
        price = pricer.units.get(row.asset.lower())
        usd = None
        if price is not None:
            exact = row.amount * price
            usd = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.01"))
        entitlements.append(
            Entitlement(row.address, row.asset, row.loss, row.amount, usd, tuple(row.reasons))
        )
    return Compensation(cause, tuple(entitlements), unresolved, tuple(notes))
