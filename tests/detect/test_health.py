"""The health watch with a clock moved by hand: grace, one alert per episode, resolution,
checks that cannot tell, the incident and page a health alert opens, the heartbeat."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from breakglass.detect import (
    Confidence,
    Detector,
    Finding,
    Rule,
    RuleParams,
    RuleSetup,
    Severity,
    configured_rule,
)
from breakglass.detect.alerts import Alert, AlertBook
from breakglass.detect.health import Condition, HealthWatch, MonitorStatus, Vitals
from breakglass.detect.health_checks import (
    DisabledRules,
    NoNewHead,
    RulesBlindToState,
    Unarmed,
    auto_key_steps,
)
from breakglass.detect.health_pipeline import EventPipeline
from breakglass.detect.heartbeat import Heartbeat
from breakglass.detect.state import StateCall
from breakglass.errors import ConfigError
from breakglass.events import Backlog
from breakglass.ingest import BlockAdded, BlockHeader
from breakglass.plan import load_plan
from breakglass.plan.models import Plan
from breakglass.plan.models.base import Secret
from breakglass.plan.models.chain import Chain
from breakglass.runtime.monitor import build_pipeline
from breakglass.store.models import AlertRecord, Incident, Page

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TOKEN = "0x" + "ab" * 20

PLAN: dict[str, Any] = {
    "protocol": "Acme",
    "people": {"alice": {"name": "Alice", "page": "json://127.0.0.1:9/alice"}},
    "roles": {"incident_lead": ["alice"], "pauser": {"members": ["alice"], "handles": ["pause"]}},
    "chains": {"local": {"chain_id": 31337, "block_time": 2, "rpc": ["http://127.0.0.1:9"]}},
    "contracts": {"token": {"chain": "local", "address": TOKEN}},
    "signers": {"guardian": {"type": "env", "key": "${GUARDIAN_KEY}"}},
    "rules": [{"id": "token-paused", "rule": "paused", "contracts": ["token"]}],
    "playbooks": [
        {
            "id": "contain",
            "on": ["token-paused"],
            "steps": [
                {"action": "pause", "contract": "token", "signer": "guardian"},
                {"action": "pause", "contract": "token", "signer": "guardian", "mode": "approval"},
                {"action": "page", "role": "incident_lead"},
            ],
        }
    ],
}


@dataclass
class Clock:
    """Monotonic seconds and wall time, moved together by :meth:`advance`."""

    seconds: float = 1000.0

    def mono(self) -> float:
        return self.seconds

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds - 1000.0)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@dataclass
class Switch:
    """A check whose conditions the test sets; ``broken`` makes it raise."""

    conditions: list[Condition] = field(default_factory=list)
    broken: bool = False
    name: str = "switch"

    async def __call__(self) -> list[Condition]:
        if self.broken:
            raise ConnectionError("endpoint went away mid-check")
        return list(self.conditions)


COND = Condition("switch", "pool", "pool is unhappy", "details", addresses=(TOKEN,))


def _watch(
    sessions: sessionmaker[Session], clock: Clock, check: Any, **kwargs: Any
) -> tuple[HealthWatch, list[Alert], list[Condition]]:
    alerts: list[Alert] = []
    cleared: list[Condition] = []
    watch = HealthWatch(
        chain="local",
        checks=[check],
        vitals=Vitals(clock=clock.mono),
        book=AlertBook(),
        sessions=sessions,
        on_alert=alerts.append,
        on_clear=cleared.append,
        grace=kwargs.pop("grace", 30.0),
        check_every=1.0,
        clock=clock.wall,
    )
    return watch, alerts, cleared


def test_a_condition_alerts_after_its_grace_once_per_episode_and_resolves(
    sessions: sessionmaker[Session],
) -> None:
    clock, switch = Clock(), Switch([COND])
    watch, alerts, cleared = _watch(sessions, clock, switch)

    async def scenario() -> None:
        assert await watch.tick() == []  # seen: within its grace
        assert [c.key for c in watch.pending] == ["switch:pool"]
        clock.advance(29)
        assert await watch.tick() == []
        clock.advance(1)
        (raised,) = await watch.tick()
        assert raised.finding.rule == "breakglass.health.switch"
        assert raised.finding.severity == "high"
        for _ in range(5):  # standing: no storm
            clock.advance(10)
            assert await watch.tick() == []
        assert [c.key for c in watch.standing] == ["switch:pool"]
        switch.conditions = []
        clock.advance(10)
        await watch.tick()
        assert watch.standing == [] and cleared == [COND]
        switch.conditions = [COND]  # a second episode, after the suppression window
        clock.advance(3600)
        await watch.tick()
        clock.advance(30)
        assert len(await watch.tick()) == 1

    asyncio.run(scenario())
    assert len(alerts) == 2 and alerts[0].dedupe_key != alerts[1].dedupe_key
    with sessions() as session:
        rows = session.scalars(select(AlertRecord).order_by(AlertRecord.id)).all()
        assert [r.rule for r in rows] == ["breakglass.health.switch"] * 2
        assert rows[0].data["resolved_at"] == (T0 + timedelta(seconds=90)).isoformat()
        assert "resolved_at" not in rows[1].data
        assert rows[0].status == "open" and rows[0].addresses == [TOKEN]


def test_a_condition_that_passes_within_its_grace_raises_nothing(
    sessions: sessionmaker[Session],
) -> None:
    clock, switch = Clock(), Switch([COND])
    watch, alerts, cleared = _watch(sessions, clock, switch)

    async def scenario() -> None:
        await watch.tick()
        clock.advance(20)
        switch.conditions = []
        await watch.tick()
        switch.conditions = [COND]  # back again: its grace starts over
        clock.advance(20)
        await watch.tick()
        clock.advance(20)
        assert await watch.tick() == []

    asyncio.run(scenario())
    assert alerts == [] and cleared == []


def test_a_check_that_cannot_tell_neither_raises_nor_clears(
    sessions: sessionmaker[Session],
) -> None:
    clock, switch = Clock(), Switch([COND])
    watch, alerts, cleared = _watch(sessions, clock, switch, grace=0.0)

    async def scenario() -> None:
        await watch.tick()
        switch.broken = True
        with capture_logs() as logs:
            clock.advance(5)
            await watch.tick()
        assert any(e["event"] == "detect.health_check_failed" for e in logs)

    asyncio.run(scenario())
    assert len(alerts) == 1 and cleared == []
    assert [c.key for c in watch.standing] == ["switch:pool"]


def test_a_health_alert_opens_an_incident_and_pages_the_lead(
    sessions: sessionmaker[Session],
) -> None:
    plan = Plan.model_validate(PLAN)
    clock = Clock()
    pipe = build_pipeline(plan, sessions)
    watch, _, _ = _watch(sessions, clock, Switch([COND]), grace=0.0)

    asyncio.run(watch.tick())
    asyncio.run(pipe.relay.drain())  # the alert's event, then the incident's
    with sessions() as session:
        incident = session.scalars(select(Incident)).one()
        assert incident.title == "pool is unhappy" and incident.severity == "P2"
        page = session.scalars(select(Page)).one()
        assert (page.role, page.people, page.incident_id) == (
            "incident_lead",
            ["alice"],
            incident.id,
        )


def test_no_new_head_counts_from_the_last_block_or_the_start() -> None:
    clock = Clock()
    vitals = Vitals(clock=clock.mono)
    check = NoNewHead(vitals, "local", after=30.0)
    clock.advance(29)
    assert asyncio.run(check()) == []
    clock.advance(2)
    (found,) = asyncio.run(check())
    assert "no block yet" in found.description and found.title == "no new block on local for 31s"
    vitals.observe(BlockAdded(chain="local", header=BlockHeader(7, "0x07", "0x06", 0)), {})
    assert asyncio.run(check()) == []
    clock.advance(45)
    (found,) = asyncio.run(check())
    assert "last: block 7" in found.description


def test_the_default_no_head_threshold_is_three_blocks_and_at_least_30s() -> None:
    def chain(**extra: Any) -> Chain:
        return Chain.model_validate({"chain_id": 1, "rpc": ["http://x"], **extra})

    assert chain(block_time=12).no_head_after() == timedelta(seconds=36)
    assert chain(block_time=2).no_head_after() == timedelta(seconds=30)
    assert chain().no_head_after() == timedelta(seconds=30)
    custom = chain(health={"no_head_after": "5s", "grace": "1s", "guardian_min_txs": 5})
    assert custom.no_head_after() == timedelta(seconds=5)
    assert custom.health.grace == timedelta(seconds=1) and custom.health.guardian_min_txs == 5
    assert chain().heartbeat is None
    beat = chain(heartbeat="https://hc-ping.com/${HC_UUID}").heartbeat
    assert beat is not None and beat.every == timedelta(seconds=60)
    with pytest.raises(ValidationError, match="extra"):
        chain(health={"grace_period": "1s"})


class Broken(Rule, register=False):
    id = "broken"
    title = "a rule with a bug"
    category = "test"
    severity = Severity.LOW
    confidence = Confidence.LOW
    description = "raises on every block"
    recommendation = "fix it"

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        raise RuntimeError("bug in rule")


def test_a_rule_that_trips_its_breaker_is_a_standing_condition_not_a_finding() -> None:
    setup = RuleSetup("my-broken", "local", (), RuleParams())
    detector = Detector("local", [Broken(setup)], failure_budget=2, report_disabled=False)
    block = BlockAdded(chain="local", header=BlockHeader(1, "0x01", "0x00", 0))
    assert detector.evaluate(block) == [] and detector.evaluate(block) == []
    assert detector.disabled == ["my-broken"]
    (found,) = asyncio.run(DisabledRules(detector)())
    assert found.key == "rule-disabled:my-broken"
    assert "bug in rule" in found.description


def test_a_rule_whose_views_fail_is_blind() -> None:
    rule = configured_rule("paused", [("token", TOKEN)], chain="local")
    call = StateCall(TOKEN, "paused()", returns=("bool",))
    rule.state_calls = lambda: [call]  # type: ignore[method-assign]
    clock = Clock()
    vitals = Vitals(clock=clock.mono)
    check = RulesBlindToState([rule], vitals)
    block = BlockAdded(chain="local", header=BlockHeader(1, "0x01", "0x00", 0))
    vitals.observe(block, {call: True})
    assert asyncio.run(check()) == []
    vitals.observe(block, {call: None})
    (found,) = asyncio.run(check())
    assert found.key == "rule-state:my-paused" and "paused() on " + TOKEN in found.description


def test_unarmed_steps_are_named() -> None:
    plan = Plan.model_validate(PLAN)
    steps = auto_key_steps(plan, "local")
    assert steps == [("contain step 1 (pause token)", "guardian")]  # not the approval step

    @dataclass
    class Responder:
        armed: int | None = None
        arm_failures: list[str] = field(default_factory=list)

    def check(responder: object) -> list[Condition]:
        return asyncio.run(Unarmed(responder, [w for w, _ in steps], "local")())

    assert check(object()) == []  # a responder that cannot tell
    assert check(Responder(armed=1)) == []
    (none,) = check(Responder(armed=0))
    assert "none of: contain step 1 (pause token)" in none.description
    (some,) = check(Responder(armed=1, arm_failures=["pause token: no key GUARDIAN_KEY"]))
    assert "no key GUARDIAN_KEY" in some.description
    assert asyncio.run(Unarmed(Responder(armed=0), [], "local")()) == []


def test_the_status_line_is_compact() -> None:
    status = MonitorStatus(
        chain="local",
        head=120,
        head_age=1.4,
        lag=0,
        endpoints_healthy=2,
        endpoints=3,
        rules=5,
        rules_disabled=1,
        armed=2,
        standing=("no-code:drain:0xab",),
        last_alert="pool drained",
    )
    assert status.summary() == (
        "local: head 120 (1s ago, 0 behind) | endpoints 2/3 healthy | rules 5 (1 disabled) | "
        "armed 2 | health no-code:drain:0xab | last alert pool drained"
    )


@dataclass
class Pings:
    paths: list[str] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def receiver() -> Iterator[tuple[Pings, int]]:
    pings = Pings()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            pings.paths.append(self.path)
            self.send_response(pings.status)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield pings, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_heartbeat_pings_while_alive_and_never_logs_its_url(
    receiver: tuple[Pings, int],
) -> None:
    pings, port = receiver
    secret = "c0ffee-1234-5678-check-uuid"
    url = Secret(f"http://127.0.0.1:{port}/ping/${{HC_UUID}}")
    alive = [True]
    beat = Heartbeat(url=url, every=0.05, alive=lambda: alive[0], environ={"HC_UUID": secret})

    async def until(check: Callable[[], bool]) -> None:
        for _ in range(500):
            if check():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("timed out")

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(beat.run(stop))
        await until(lambda: beat.sent >= 3)
        alive[0] = False
        await asyncio.sleep(0.1)  # a ping already on its way lands
        sent = beat.sent
        await asyncio.sleep(0.2)
        assert beat.sent == sent  # withheld while the chain is not followed
        pings.status = 500
        alive[0] = True
        await until(lambda: beat.failed >= 1)
        stop.set()
        await task

    with capture_logs() as logs:
        asyncio.run(scenario())
    assert beat.sent >= 3 and set(pings.paths[:3]) == {f"/ping/{secret}"}
    assert beat.failed >= 1
    failed = [e for e in logs if e["event"] == "detect.heartbeat_failed"]
    assert failed and failed[0]["target"] == f"http://127.0.0.1:{port}/…"
    assert secret not in repr(logs)


def test_the_full_example_plan_sets_health_and_heartbeat() -> None:
    full = load_plan(Path(__file__).parents[2] / "examples" / "plans" / "full.yaml").plan
    mainnet = full.chains["mainnet"]
    assert mainnet.health.grace == timedelta(minutes=2)
    assert mainnet.health.guardian_min_txs == 5
    assert mainnet.no_head_after() == timedelta(seconds=60)
    assert mainnet.heartbeat is not None
    assert mainnet.heartbeat.url == Secret("https://hc-ping.com/${HEALTHCHECKS_UUID}")


def test_a_heartbeat_whose_variable_is_unset_stops_the_start() -> None:
    url = Secret("https://hc-ping.com/${HC_UUID}")
    with pytest.raises(ConfigError, match="HC_UUID is not set"):
        Heartbeat(url=url, every=60, alive=lambda: True, environ={})


def test_a_stuck_event_pipeline_is_a_condition_paged_once_per_episode() -> None:
    """Dead letters, or an oldest event older than ``stall_after``: alerts may not be reaching
    incidents and pages, so the watch raises it and ``escalate`` (a direct page) hears of
    each condition once until it clears."""
    state = [Backlog(pending=0, oldest_seconds=None, dead=0)]
    told: list[str] = []
    check = EventPipeline(lambda: state[0], "local", stall_after=60.0, escalate=told_key(told))

    assert asyncio.run(check()) == []
    state[0] = Backlog(pending=3, oldest_seconds=61.0, dead=1)
    found = asyncio.run(check())
    assert sorted(c.key for c in found) == ["events:dead-letters", "events:stalled"]
    dead = next(c for c in found if c.subject == "dead-letters")
    assert dead.severity == "critical" and "1 event(s) could not be delivered" in dead.title
    asyncio.run(check())  # still standing: not told again
    assert sorted(told) == ["events:dead-letters", "events:stalled"]

    state[0] = Backlog(pending=0, oldest_seconds=None, dead=1)  # the relay caught up
    assert [c.key for c in asyncio.run(check())] == ["events:dead-letters"]
    state[0] = Backlog(pending=5, oldest_seconds=90.0, dead=1)  # and fell behind again
    asyncio.run(check())
    assert told.count("events:stalled") == 2


def told_key(told: list[str]) -> Callable[[Condition], None]:
    return lambda condition: told.append(condition.key)
