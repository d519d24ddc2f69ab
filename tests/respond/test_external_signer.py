"""A pause signed by a remote signer over JSON-RPC ``eth_signTransaction`` lands on anvil.

anvil itself is the remote signer: its unlocked dev account holds PAUSER_ROLE, and breakglass
is given no key at all, only the signer's URL. A relay in front of the same anvil plays a
compromised signer (it signs for another account, or signs a changed transaction): the
signatures are real, and breakglass refuses them before anything is broadcast.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from breakglass.chain import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.plan.models.chain import ExternalSigner
from breakglass.respond import service
from breakglass.respond.env import LiveEnv
from breakglass.respond.gas import Fees, GasStrategy, Urgency
from breakglass.respond.nonces import NonceManager
from breakglass.respond.responder import Responder
from breakglass.respond.sender import TxSender
from breakglass.respond.signers.external import ExternalSignerError, load_external_signer
from breakglass.respond.signers.keys import KeyAccount

pytestmark = pytest.mark.chain

GUARDIAN, INTRUDER, OTHER = 1, 2, 3
JSON_HEADERS = {"content-type": "application/json"}

BODY = """
signers:
  guardian:
    type: external
    url: "{url}"
    address: "{address}"
    headers: {{Authorization: "Bearer ${{SIGNER_TOKEN}}"}}
playbooks:
  - id: guardian-pause
    steps:
      - {{action: pause, contract: token, signer: guardian}}
"""


def test_a_pause_signed_remotely_lands_and_no_key_enters_the_process(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    guardian = fresh_chain.accounts[GUARDIAN]
    loaded = write_plan(BODY, url=fresh_chain.http_url, address=guardian)
    env = LiveEnv(loaded, sessions, environ={"SIGNER_TOKEN": "t0ken-abc"}, receipt_timeout=30)
    nonce_before = token.nonce(guardian)

    result = service.pause_contract(loaded, sessions, "token", signer="guardian", env=env)

    assert result.status == "succeeded", result.steps[0].note
    assert token.paused()
    tx = token.w3.eth.get_transaction(result.steps[0].tx_hash)
    assert tx["from"] == guardian and tx["type"] == 2
    assert token.nonce(guardian) == nonce_before + 1
    # The key stays with anvil: neither the plan, the environment breakglass was given nor the
    # account it signed with holds it (the test process's own environment may: the demo's
    # tests export the same mnemonic's key).
    key = fresh_chain.private_keys[GUARDIAN].removeprefix("0x").lower()
    account = env.signer_account("guardian")
    held = json.dumps({k: repr(v) for k, v in vars(account).items()}).lower()
    assert key not in held
    assert key not in (loaded.base_dir / "breakglass.yaml").read_text().lower()


def _relay(anvil: Anvil, rewrite: Any) -> httpx.MockTransport:
    """Forwards each JSON-RPC request to the real anvil after ``rewrite`` changes it."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        body["params"][0] = rewrite(dict(body["params"][0]))
        answer = httpx.post(anvil.http_url, json=body, timeout=10)
        return httpx.Response(200, content=answer.content)

    return httpx.MockTransport(handle)


def _tx(anvil: Anvil, token: Any) -> dict[str, Any]:
    return {
        "type": 2,
        "chainId": anvil.chain_id,
        "nonce": 7,
        "to": token.address,
        "value": 0,
        "data": bytes.fromhex("8456cb59"),  # pause()
        "gas": 100_000,
        "maxFeePerGas": 3 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }


def _account(anvil: Anvil, transport: httpx.BaseTransport | None = None) -> Any:
    config = ExternalSigner(type="external", url=anvil.http_url, address=anvil.accounts[GUARDIAN])
    return load_external_signer("guardian", config, environ={}, transport=transport)


def test_an_honest_signer_signs_exactly_the_transaction_asked(anvil: Anvil, token: Any) -> None:
    signed = _account(anvil).sign_transaction(_tx(anvil, token))
    # Both sign deterministically (RFC 6979): the same key gives the same bytes.
    local = KeyAccount(anvil.private_keys[GUARDIAN]).sign_transaction(_tx(anvil, token))
    assert signed == local


@pytest.mark.parametrize(
    ("rewrite", "expected"),
    [
        (lambda p, a: {**p, "from": a.accounts[OTHER]}, "signed with 0x"),
        (lambda p, a: {**p, "to": a.accounts[INTRUDER]}, "to changed"),
        (lambda p, a: {**p, "nonce": "0x8", "maxFeePerGas": "0x1"}, "maxFeePerGas, nonce changed"),
        (lambda p, a: {**p, "from": "0x000000000000000000000000000000000000dEaD"}, "refused"),
    ],
    ids=["another-key", "another-recipient", "another-nonce-and-fee", "unknown-account"],
)
def test_a_signature_for_anything_else_is_refused(
    anvil: Anvil, token: Any, rewrite: Any, expected: str
) -> None:
    account = _account(anvil, _relay(anvil, lambda params: rewrite(params, anvil)))
    with pytest.raises(ExternalSignerError, match=expected):
        account.sign_transaction(_tx(anvil, token))


def test_an_unreachable_signer_fails_the_step_loudly(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(
        BODY, url="http://127.0.0.1:9/${SIGNER_TOKEN}", address=fresh_chain.accounts[GUARDIAN]
    )
    env = LiveEnv(loaded, sessions, environ={"SIGNER_TOKEN": "s3cret-path"}, receipt_timeout=5)

    result = service.pause_contract(loaded, sessions, "token", signer="guardian", env=env)

    assert result.status == "failed" and not token.paused()
    note = result.steps[0].note
    assert "signer 'guardian'" in note and "unreachable" in note, note
    assert "s3cret-path" not in note


def test_a_missing_variable_is_named() -> None:
    config = ExternalSigner(
        type="external",
        url="https://signer.internal/${SIGNER_PATH}",
        address="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    )
    with pytest.raises(ExternalSignerError, match="variable SIGNER_PATH is not set"):
        load_external_signer("guardian", config, environ={})


AUTO = (
    BODY
    + """
  - id: drain-pause
    on: [drain]
    steps:
      - {{action: pause, contract: token, signer: guardian, mode: auto}}
rules:
  - {{id: drain, rule: event, contracts: [token],
     params: {{signature: "Paused(address account)"}}}}
"""
)


def test_the_monitor_arms_with_a_remote_signer_and_no_key(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(AUTO, url=fresh_chain.http_url, address=fresh_chain.accounts[GUARDIAN])
    env = LiveEnv(loaded, sessions, environ={"SIGNER_TOKEN": "t0ken-abc"})
    responder = Responder(loaded, chain="local", sessions=sessions, env=env)
    assert responder.preflight() == {}
    # `breakglass pause token` without --signer picks the only key signer, the remote one.
    result = service.pause_contract(loaded, sessions, "token", env=env)
    assert result.status == "succeeded" and token.paused()


def test_a_slow_remote_signer_does_not_hold_the_event_loop(anvil: Anvil, token: Any) -> None:
    """The signer takes 0.5 s (a KMS across a network): the sender's loop keeps ticking
    meanwhile, and the transaction it gets is the real signer's, for the asked nonce."""
    delay = 0.5

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(delay)  # the remote round trip
        answer = httpx.post(
            anvil.http_url, content=request.content, headers=JSON_HEADERS, timeout=10
        )
        return httpx.Response(200, content=answer.content)

    account = _account(anvil, httpx.MockTransport(slow))

    async def run() -> tuple[Any, int]:
        pool = EndpointPool([Endpoint(anvil.http_url)], chain="test")
        sender = TxSender(
            pool, account, anvil.chain_id, NonceManager(pool, account.address), GasStrategy(pool)
        )
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        try:
            fees = Fees(max_fee_per_gas=3 * 10**9, max_priority_fee_per_gas=10**9)
            prepared = await sender.prepare(
                token.address, bytes.fromhex("8456cb59"), urgency=Urgency.EMERGENCY,
                gas_limit=100_000, fees=fees,
            )  # fmt: skip
        finally:
            ticker.cancel()
            await pool.aclose()
        return prepared, ticks

    prepared, ticks = asyncio.run(run())
    assert ticks >= 10, f"the loop ticked {ticks} times in a {delay} s signature"
    local = KeyAccount(anvil.private_keys[GUARDIAN]).sign_transaction(
        {**_tx(anvil, token), "nonce": prepared.nonce}
    )
    assert prepared.raw == bytes(local.raw_transaction)
