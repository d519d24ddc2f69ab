"""The doctor's rules without a chain: when two endpoints are one node, its docs, its surface."""

from __future__ import annotations

import asyncio
import importlib
import re
import types
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from breakglass.doctor import CHECKS, node_key, provider_key, run_doctor
from breakglass.doctor.base import DoctorCheck, Finding
from breakglass.doctor.context import DoctorContext, shown_url
from breakglass.plan import load_plan
from breakglass.plan.checks.base import CheckStatus
from breakglass.plan.models.base import Secret

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://localhost:8545", "http://127.0.0.1:8545/"),
        ("https://eth.example.org/v2/KEY", "wss://ETH.example.org/v2/KEY"),
        ("https://eth.example.org:443/rpc?key=1&x=2", "https://eth.example.org/rpc?x=2&key=1"),
    ],
)
def test_the_same_node_behind_two_spellings(a: str, b: str) -> None:
    assert node_key(a) == node_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8546"),
        ("https://eth-mainnet.g.alchemy.com/v2/KEY1", "https://eth-mainnet.g.alchemy.com/v2/KEY2"),
        ("https://mainnet.infura.io/v3/a", "https://rpc.ankr.com/eth"),
    ],
)
def test_different_nodes(a: str, b: str) -> None:
    assert node_key(a) != node_key(b)


def test_two_keys_at_one_provider_are_one_provider() -> None:
    a = provider_key("https://eth-mainnet.g.alchemy.com/v2/KEY1")
    assert a == "alchemy.com"
    assert a == provider_key("wss://arb-mainnet.g.alchemy.com/v2/KEY2")
    assert provider_key("https://mainnet.infura.io/v3/x") == "infura.io"
    # A team's own nodes are not a provider that fails as one.
    assert provider_key("http://127.0.0.1:8545") is None
    assert provider_key("http://10.0.0.7:8545") is None


def test_urls_are_shown_without_the_values_of_their_variables() -> None:
    whole = Secret("${RPC_URL}")
    assert shown_url(whole, "https://eth.example.org/v2/s3cret") == (
        "${RPC_URL} (https://eth.example.org/…)"
    )
    part = Secret("https://eth.example.org/v2/${KEY}")
    assert shown_url(part, "https://eth.example.org/v2/s3cret") == part.template
    literal = Secret("https://eth.example.org/v2/literal-key")
    assert "literal-key" not in shown_url(literal, literal.template)


def test_every_check_is_documented_with_what_it_needs_and_the_fix() -> None:
    doc = (ROOT / "docs" / "doctor.md").read_text()
    headings = re.findall(r"^### `([a-z.-]+)`", doc, flags=re.MULTILINE)
    assert headings == [check.id for check in CHECKS]
    assert len({check.id for check in CHECKS}) == len(CHECKS)
    flat = " ".join(doc.split())
    for check in CHECKS:
        assert f"*Needs:* {' '.join(check.needs.split())}" in flat, check.id
        assert f"*How to fix a failure:* {' '.join(check.fix.split())}" in flat, check.id


def test_a_check_without_its_metadata_is_refused() -> None:
    with pytest.raises(TypeError, match="must define fix"):
        type("Broken", (DoctorCheck,), {"id": "x.y", "title": "t", "needs": "n"})


def test_all_matches_public_names() -> None:
    module = importlib.import_module("breakglass.doctor")
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", "breakglass").startswith("breakglass")
        and name != "annotations"
    }
    assert public == set(module.__all__)


def test_malformed_urls_fail_their_rows_without_quoting_them(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "protocol: X\n"
        'chains: {a: {chain_id: 1, rpc: ["http://[::1", "${U}", "${MISSING}"]}}\n'
        'channels: {c: "not-a-url", d: "${U}"}\n'
    )
    secret = "http://[s3cret"
    report = run_doctor(loaded=load_plan(plan), environ={"U": secret})
    rows = {(r.check_id, r.subject): r for r in report.results}
    assert report.failed
    assert rows["endpoints.chain-id", "a rpc[0]"].message == (
        "the URL as the plan writes it does not parse"
    )
    # A written URL without an http(s) or ws(s) scheme no longer loads (tests/hardening).
    assert rows["endpoints.chain-id", "a rpc[1]"].message == "${U} does not parse"
    missing = rows["endpoints.chain-id", "a rpc[2]"]
    assert (missing.status, missing.message) == (
        CheckStatus.WARN,
        "not checked: environment variable MISSING is not set",
    )
    assert rows["env.variables", "${MISSING}"].status is CheckStatus.FAIL
    assert rows["channels.delivery", "c"].status is CheckStatus.FAIL
    assert rows["channels.delivery", "d"].status is CheckStatus.FAIL
    assert all("s3cret" not in r.message for r in report.results)


def test_a_check_that_breaks_fails_without_quoting_the_error(tmp_path: Path) -> None:
    class Breaks(DoctorCheck):
        id = "test.breaks"
        title = "Breaks halfway"
        needs = "nothing"
        fix = "nothing"

        async def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
            yield Finding.ok("first", "seen before the failure")
            raise ValueError("http://node.example/v2/s3cret-key is unreachable")

    plan = tmp_path / "plan.yaml"
    plan.write_text("protocol: X\n")
    ctx = DoctorContext(loaded=load_plan(plan), environ={})
    results = asyncio.run(Breaks().run(ctx))
    assert [(r.subject, r.status) for r in results] == [
        ("first", CheckStatus.PASS),
        ("(check)", CheckStatus.FAIL),
    ]
    assert results[1].message == "the check broke (ValueError); please report it"


def test_pauses_are_checked_on_every_chain_their_contract_is_deployed_on() -> None:
    """The multichain example pauses its Comptroller on the alert's chain: the doctor
    checks that pause on Ethereum and on Arbitrum (each deployment's address), and a
    ``--chain arbitrum`` run checks the Arbitrum one alone."""
    from breakglass.doctor.contracts import pause_steps  # noqa: PLC0415

    loaded = load_plan(ROOT / "examples/plans/multichain.yaml")
    comptroller = loaded.plan.contracts["comptroller"]
    steps, problems = pause_steps(DoctorContext(loaded=loaded, environ={}))
    assert problems == []
    found = {(s.chain, s.to.lower()) for s in steps if s.contract == "comptroller"}
    assert found == {
        (chain, comptroller.on(chain).address.lower()) for chain in ("ethereum", "arbitrum")
    }
    only, _ = pause_steps(DoctorContext(loaded=loaded, environ={}, chain="arbitrum"))
    assert {s.chain for s in only} == {"arbitrum"}


def test_code_is_looked_for_at_every_deployment() -> None:
    """A contract declared once with deployments on two chains has its code looked for at
    its address on each; ``--chain arbitrum`` looks at the Arbitrum ones, named by chain
    and placed at their deployment in the plan (no node answers here: not checked)."""
    from breakglass.doctor.contracts import CodeCheck  # noqa: PLC0415

    loaded = load_plan(ROOT / "examples/plans/multichain.yaml")
    ctx = DoctorContext(loaded=loaded, environ={}, chain="arbitrum", timeout=1)

    async def findings() -> list[Finding]:
        return [f async for f in CodeCheck().findings(ctx)]

    found = {f.subject: f.path for f in asyncio.run(findings())}
    deployed = [n for n, c in loaded.plan.contracts.items() if "arbitrum" in c.chains]
    assert "comptroller" in deployed
    assert found == {
        f"{n} on arbitrum": ("contracts", n, "deployments", "arbitrum", "address") for n in deployed
    }
