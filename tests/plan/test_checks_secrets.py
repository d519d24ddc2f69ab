"""A finding about a leaked secret says what and where, never the secret; the shapes that
are not secrets (a bytes32 role, a ${VAR} reference, prose) are left alone."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from breakglass.plan import load_plan
from breakglass.plan.checks import check_plan
from breakglass.plan.secret_shapes import secret_kind

FIXTURES = Path(__file__).parents[1] / "fixtures" / "plans" / "checks"
TODAY = date(2026, 11, 23)


def _secrets_in(fixture: Path) -> list[str]:
    """The literal credentials the fixture holds: long runs of key-like characters."""
    text = fixture.read_text(encoding="utf-8")
    return [s for s in re.findall(r"[A-Za-z0-9_:-]{16,}", text) if any(c.isdigit() for c in s)]


def test_no_finding_repeats_a_secret() -> None:
    fixture = FIXTURES / "secrets.literal" / "fail.yaml"
    secrets = _secrets_in(fixture)
    assert len(secrets) >= 5
    results = check_plan(load_plan(fixture), today=TODAY).results
    shown = "\n".join(f"{r.message} {r.location}" for r in results)
    assert "holds a Telegram bot token" in shown
    for secret in secrets:
        assert secret not in shown
    assert "hunter2" not in shown


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("https://x.example/rpc?api_key=0123456789abcdef", "'api_key' query parameter"),
        ("wss://x.example/ws?token=0123456789abcdef", "'token' query parameter"),
        ("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", "URL's path"),
        ("xoxb-123456789012-abcdefABCDEF", "a Slack token"),
        ("ghp_" + "a1" * 18, "a GitHub token"),
        ("AKIA" + "ABCDEFGHIJKLMNOP", "an AWS access key"),
        ("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", "private key"),
        ("htps//rpc.example/?apikey=0123456789abcdef", "'apikey' query parameter"),
    ],
)
def test_secret_shapes(value: str, kind: str) -> None:
    found = secret_kind(value)
    assert found is not None and kind in found


@pytest.mark.parametrize(
    "value",
    [
        "https://eth-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY}",
        "https://user:${PASSWORD}@rpc.example",
        "https://etherscan.io/address/0x6b175474e89094c44da98b954eedeac495271d0f",
        "https://github.com/OpenZeppelin/openzeppelin-contracts/security/advisories",
        "Plain language; say whether funds are safe and when the next update comes.",
        "abandon ability able about above absent absorb abstract",  # 8 words: not a phrase
        "bob@acme.example",
    ],
)
def test_not_secrets(value: str) -> None:
    assert secret_kind(value) is None


def test_a_bytes32_in_a_call_is_not_a_private_key() -> None:
    role = "0x9f2df0fed2c77648de5860a4cc508cd0818c85b8b8a1ab4ceeef8d981c8956a6"
    assert secret_kind(role, free_text=False) is None
    assert secret_kind(role) is not None
