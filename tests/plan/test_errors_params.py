"""Rule parameter errors name their field path; a union reports the member that was meant;
a value that looks like a secret is never repeated in a message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from breakglass.detect.setup import rule_problems
from breakglass.plan import PlanLoadError, load_plan
from breakglass.plan.issues import name_list

TOKEN = "0x6b175474e89094c44da98b954eedeac495271d0f"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"

PLAN = """\
protocol: Test
chains:
  main: {chain_id: 1, rpc: ["http://127.0.0.1:8545"]}
contracts:
  pool: {chain: main, address: "0x1111111111111111111111111111111111111111"}
  feed: {chain: main, address: "0x5f4ec3df9cbd43714fe2740f5e3616155c5b8419"}
rules:
  - id: ok
    rule: upgraded
    contracts: [pool]
  - id: drain
    rule: large-outflow
    contracts: [pool]
    params: PARAMS
"""


def problems(tmp_path: Path, params: str) -> list[str]:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.replace("PARAMS", params))
    loaded = load_plan(path)
    return [p.located(loaded) for p in rule_problems(loaded)]


def test_a_misspelt_parameter_names_its_path_and_the_right_one(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, f'{{token: "{TOKEN}", treshold_usd: 5, price: {{usd: 1}}}}')
    assert ":14:" in problem  # the line of the rule's params
    assert (
        "rules[1].params.treshold_usd: unknown field 'treshold_usd'; did you mean "
        "'threshold_usd'? (expected one of: decimals, native, price, symbol, threshold, "
        "threshold_usd, token)"
    ) in problem
    assert "Extra inputs" not in problem


def test_a_bad_feed_gives_one_error_at_the_feed(tmp_path: Path) -> None:
    params = f'{{token: "{TOKEN}", threshold_usd: 5, price: {{feed: "not a feed!"}}}}'
    found = problems(tmp_path, params)
    assert len(found) == 1, found
    assert "rules[1].params.price.feed: " in found[0]
    assert "StaticPrice" not in found[0] and "usd" not in found[0]


def test_a_price_that_fits_no_member_reports_one_member(tmp_path: Path) -> None:
    found = problems(tmp_path, f'{{token: "{TOKEN}", threshold_usd: 5, price: {{usd: -1}}}}')
    assert len(found) == 1, found
    assert "rules[1].params.price.usd: " in found[0]
    assert "greater than 0" in found[0]


def test_a_rule_wide_mistake_points_at_params(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, f'{{token: "{TOKEN}"}}')
    assert "rules[1].params: set exactly one of threshold or threshold_usd" in problem


def test_a_secret_in_a_parameter_is_not_repeated(tmp_path: Path) -> None:
    [problem] = problems(
        tmp_path, f'{{token: "{TOKEN}", threshold: 5, symbol: "tgram://{BOT_TOKEN}/1"}}'
    )
    assert "rules[1].params.symbol" in problem
    assert BOT_TOKEN not in problem
    assert "looks like a secret (not shown)" in problem


def test_a_secret_in_a_bad_rpc_url_is_not_repeated(tmp_path: Path) -> None:
    key = "abcdef0123456789abcdef0123"
    path = tmp_path / "plan.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        protocol: Test
        chains:
          main: {{chain_id: 1, rpc: ["htps//rpc.example/?apikey={key}"]}}
        """)
    )
    with pytest.raises(PlanLoadError) as caught:
        load_plan(path)
    text = str(caught.value)
    assert "chains.main.rpc[0]" in text
    assert key not in text


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "none defined"),
        (3, "one of: n00, n01, n02"),
        (12, "one of: " + ", ".join(f"n{i:02}" for i in range(12))),
        (15, "one of: " + ", ".join(f"n{i:02}" for i in range(12)) + " (and 3 more)"),
    ],
)
def test_name_lists_say_how_many_were_left_out(count: int, expected: str) -> None:
    assert name_list(f"n{i:02}" for i in reversed(range(count))) == expected
