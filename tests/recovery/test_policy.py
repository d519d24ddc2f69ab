"""The compensation policy's rules, one at a time and together, with exact base units."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from breakglass.plan.models.policy import CauseCoverage, CompensationPolicy
from breakglass.recovery import (
    ATTACKER_CLUSTER,
    Loss,
    RecoveryError,
    apply_policy,
    entitlements_csv,
    entitlements_json,
    format_usd,
)

USDC = "0x" + "a0" * 20  # 6 decimals, $1
WETH = "0x" + "e0" * 20  # 18 decimals, $2,000
PRICES = {USDC: (Decimal(1), 6), WETH: (Decimal(2000), 18)}
ALICE, BOB, CAROL, MALLORY = ("0x" + c * 40 for c in "abcd")
USD = 10**6
ETH = 10**18


def policy(**fields: Any) -> CompensationPolicy:
    fields.setdefault("contract_flaw", CauseCoverage(covered=True))
    return CompensationPolicy(**fields)


def amounts(result: Any) -> dict[tuple[str, str], int]:
    return {(e.address, e.asset): e.amount for e in result.entitlements}


def reasons(result: Any, address: str) -> list[str]:
    return [r for e in result.entitlements if e.address == address for r in e.reasons]


def test_full_coverage_pays_every_loss_exactly() -> None:
    losses = [Loss(ALICE, USDC, 123_456_789), Loss(BOB, WETH, 3 * ETH + 7)]
    result = apply_policy(losses, policy(), "contract-flaw", prices=PRICES)
    assert amounts(result) == {(ALICE, USDC): 123_456_789, (BOB, WETH): 3 * ETH + 7}
    assert all(e.reasons == () for e in result.entitlements)
    assert result.entitlements[0].usd == Decimal("123.46")


def test_coverage_ratio_floors_to_base_units() -> None:
    cover = policy(contract_flaw=CauseCoverage(covered=True, coverage=Decimal("0.8")))
    losses = [Loss(ALICE, USDC, 1_000_001), Loss(BOB, WETH, 3)]
    result = apply_policy(losses, cover, "contract-flaw")
    assert amounts(result) == {(ALICE, USDC): 800_000, (BOB, WETH): 2}
    assert reasons(result, ALICE) == ["coverage 80%"]


def test_uncovered_cause_entitles_nobody() -> None:
    rules = policy(user_error=CauseCoverage(covered=False, rationale="own mistake"))
    losses = [Loss(ALICE, USDC, 5 * USD), Loss(BOB, USDC, 7 * USD)]
    result = apply_policy(losses, rules, "user-error")
    assert amounts(result) == {(ALICE, USDC): 0, (BOB, USDC): 0}
    assert reasons(result, ALICE) == ["not covered: user error (own mistake)"]
    unstated = apply_policy(losses, rules, "third-party-flaw")
    assert reasons(unstated, BOB) == ["not covered: third party flaw (not stated in the policy)"]
    assert unstated.total(USDC) == 0


def test_per_user_cap_in_usd_uses_the_price() -> None:
    rules = policy(per_user_cap_usd=Decimal(50_000))
    losses = [Loss(ALICE, USDC, 80_000 * USD), Loss(BOB, WETH, 10 * ETH)]  # $80k, $20k
    result = apply_policy(losses, rules, "contract-flaw", prices=PRICES)
    assert amounts(result) == {(ALICE, USDC): 50_000 * USD, (BOB, WETH): 10 * ETH}
    assert reasons(result, ALICE) == ["capped at $50,000"]
    assert reasons(result, BOB) == []


def test_per_user_cap_spans_the_users_assets() -> None:
    rules = policy(per_user_cap_usd=Decimal(50_000))
    # $30,000 + $40,000 = $70,000: both scaled by 5/7, floored.
    losses = [Loss(ALICE, USDC, 30_000 * USD), Loss(ALICE, WETH, 20 * ETH)]
    result = apply_policy(losses, rules, "contract-flaw", prices=PRICES)
    assert amounts(result) == {
        (ALICE, USDC): 21_428_571_428,
        (ALICE, WETH): 14_285_714_285_714_285_714,
    }
    usd = sum(e.usd or 0 for e in result.entitlements)
    assert usd <= 50_000


def test_dust_threshold_drops_tiny_entitlements() -> None:
    rules = policy(dust_threshold_usd=Decimal(1))
    losses = [Loss(ALICE, USDC, 999_999), Loss(BOB, USDC, 1_000_000)]
    result = apply_policy(losses, rules, "contract-flaw", prices=PRICES)
    assert amounts(result) == {(ALICE, USDC): 0, (BOB, USDC): 1_000_000}
    assert reasons(result, ALICE) == ["dust: under $1"]


def test_aggregate_cap_is_pro_rata_and_never_over_distributes() -> None:
    rules = policy(aggregate_cap_usd=Decimal(100))
    losses = [Loss(a, USDC, 100 * USD) for a in (ALICE, BOB, CAROL)]
    result = apply_policy(losses, rules, "contract-flaw", prices=PRICES)
    assert amounts(result) == {
        (ALICE, USDC): 33_333_333,
        (BOB, USDC): 33_333_333,
        (CAROL, USDC): 33_333_333,
    }
    assert result.total(USDC) == 99_999_999  # the one base unit of rounding stays undistributed
    assert reasons(result, ALICE) == ["pro rata 33.3% under the $100 aggregate cap"]
    assert result.notes == ("aggregate cap: $0.000001 left undistributed by rounding",)


def test_aggregate_cap_uneven_losses() -> None:
    rules = policy(aggregate_cap_usd=Decimal(1_000_000))
    losses = [
        Loss(ALICE, USDC, 1_000_000 * USD),
        Loss(BOB, USDC, 600_000 * USD + 1),
        Loss(CAROL, WETH, 17 * ETH),  # $34,000
    ]
    result = apply_policy(losses, rules, "contract-flaw", prices=PRICES)
    # factor = 1e12 / 1_634_000_000_001 of each amount, floored
    assert amounts(result) == {
        (ALICE, USDC): 611_995_104_038,
        (BOB, USDC): 367_197_062_423,
        (CAROL, WETH): 10_403_916_768_659_483_527,
    }
    assert reasons(result, BOB) == ["pro rata 61.1% under the $1M aggregate cap"]
    paid = sum(e.usd or 0 for e in result.entitlements)
    assert paid <= 1_000_000


def test_exclusions_get_nothing_and_do_not_use_the_aggregate_cap() -> None:
    rules = policy(aggregate_cap_usd=Decimal(200), exclusions=["0x" + "C" * 40, "ofac-list"])
    losses = [Loss(a, USDC, 100 * USD) for a in (ALICE, BOB, CAROL, MALLORY)]
    excluded = {MALLORY: "attacker cluster"}
    result = apply_policy(losses, rules, "contract-flaw", excluded=excluded, prices=PRICES)
    assert amounts(result) == {
        (ALICE, USDC): 100 * USD,
        (BOB, USDC): 100 * USD,
        (CAROL, USDC): 0,
        (MALLORY, USDC): 0,
    }
    assert reasons(result, MALLORY) == ["excluded: attacker cluster"]
    assert reasons(result, CAROL) == ["excluded: listed in the policy's exclusions"]
    assert result.unresolved_exclusions == ("ofac-list",)


def test_attacker_cluster_in_exclusions_names_the_cluster_not_an_unknown_list() -> None:
    rules = policy(exclusions=["attacker-cluster", "ofac-list"])
    losses = [Loss(a, USDC, 100 * USD) for a in (ALICE, MALLORY)]
    result = apply_policy(
        losses, rules, "contract-flaw", excluded={MALLORY: ATTACKER_CLUSTER}, prices=PRICES
    )
    assert amounts(result) == {(ALICE, USDC): 100 * USD, (MALLORY, USDC): 0}
    assert result.unresolved_exclusions == ("ofac-list",)


def test_rules_run_in_the_documented_order() -> None:
    rules = policy(
        contract_flaw=CauseCoverage(covered=True, coverage=Decimal("0.5")),
        per_user_cap_usd=Decimal(1_000),
        dust_threshold_usd=Decimal(10),
        aggregate_cap_usd=Decimal(900),
    )
    losses = [
        Loss(ALICE, USDC, 5_000 * USD),  # 50% → $2,500 → capped $1,000
        Loss(BOB, USDC, 19_999_999),  # 50% → $9.9999995 floored → dust
        Loss(CAROL, USDC, 400 * USD),  # 50% → $200
    ]
    result = apply_policy(losses, rules, "contract-flaw", prices=PRICES)
    # $1,200 left > $900: factor 3/4
    assert amounts(result) == {(ALICE, USDC): 750 * USD, (BOB, USDC): 0, (CAROL, USDC): 150 * USD}
    assert reasons(result, ALICE) == [
        "coverage 50%",
        "capped at $1,000",
        "pro rata 75% under the $900 aggregate cap",
    ]
    assert reasons(result, BOB) == ["coverage 50%", "dust: under $10"]


def test_duplicate_losses_are_merged_and_prices_come_from_usd_values() -> None:
    rules = policy(per_user_cap_usd=Decimal(150))
    losses = [
        Loss(ALICE, USDC, 100 * USD, Decimal(100)),
        Loss(ALICE.upper().replace("0X", "0x"), USDC, 100 * USD, Decimal(100)),
    ]
    result = apply_policy(losses, rules, "contract-flaw")
    assert [(e.loss, e.amount) for e in result.entitlements] == [(200 * USD, 150 * USD)]


def test_usd_rule_without_a_price_is_an_error() -> None:
    with pytest.raises(RecoveryError, match="needs a USD price"):
        apply_policy([Loss(ALICE, USDC, 1)], policy(dust_threshold_usd=Decimal(1)), "contract-flaw")


def test_formats() -> None:
    assert [format_usd(Decimal(v)) for v in ("1000000", "2500000", "50000", "0.5")] == [
        "$1M",
        "$2.5M",
        "$50,000",
        "$0.50",
    ]
    result = apply_policy([Loss(ALICE, USDC, 10**30)], policy(), "contract-flaw")
    assert entitlements_csv(result.entitlements).splitlines()[1] == (
        f"{ALICE},{USDC},{10**30},{10**30},,"
    )
    assert f'"amount": "{10**30}"' in entitlements_json(result)
