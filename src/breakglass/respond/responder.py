"""Playbooks run by the monitor: findings in, containment out, as fast as the chain allows.

On start, every automatic contract step of the playbooks bound to this chain's rules (and
of the fallbacks they name) is armed: gas estimated and fees priced, so that when a finding
arrives its precheck and simulation take one round trip and the signed broadcast one more.
On each new block fees and nonces are refreshed in the background. A playbook runs once per
trigger window: the same drain seen in three blocks starts one run, not three. The window
never outlasts the containment, though: within it a playbook is held back only while a run
of it is in flight or while every contract its automatic steps pause is still paused (their
prechecks, read in one batch). An attacker who triggers a pause on purpose, waits for the
team to unpause and then drains gets a second pause, not silence.

A signer such a step needs whose key cannot be loaded (its variable unset, its keystore
unreadable) stops the start: a monitor that watches while its pause cannot be sent is the
failure found only when the exploit comes. ``allow_unarmed`` starts it anyway, and
:attr:`Responder.arm_failures` says what cannot act.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from breakglass.detect.finding import Finding
from breakglass.errors import BreakglassError, ConfigError
from breakglass.ingest import BlockAdded
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models.response import Mode, Playbook
from breakglass.respond.actions.base import Action
from breakglass.respond.actions.contract import ContractAction
from breakglass.respond.env import LiveEnv
from breakglass.respond.journal import Journal, OnStepEvent
from breakglass.respond.runner import PlaybookRunner, RunResult, playbooks_for
from breakglass.respond.sender import SendGuard, send_guard
from breakglass.respond.templates import finding_context

__all__ = ["Responder", "UnarmedResponder"]

_log = structlog.get_logger("breakglass.respond")


class UnarmedResponder(ConfigError):
    """Signers that automatic steps need cannot be loaded, and running unarmed was not allowed.

    Attributes:
        problems: per signer name, why its key cannot be loaded.
    """

    def __init__(self, chain: str, problems: dict[str, str], users: dict[str, list[str]]) -> None:
        lines = "\n".join(
            f"  {reason} (needed by: {'; '.join(users[signer])})"
            for signer, reason in problems.items()
        )
        super().__init__(
            f"chain {chain!r}: automatic steps could not act, because the keys of their "
            f"signers cannot be loaded:\n{lines}\n"
            "Fix the signers, or start with --allow-unarmed to watch and alert without them, "
            "or --watch-only to run no playbooks."
        )
        self.chain = chain
        self.problems = problems


class Responder:
    """Runs the plan's playbooks for the findings of ``chain`` (a detect ``Reactor``).

    Args:
        env: where actions act (default: the plan's own chains and keys).
        on_event: sees every step phase as it happens (timeline, benchmarks).
        urgent_wait: the most :meth:`react` holds up the block's processing, in seconds,
            while the first steps of the started playbooks get their transactions out.
        allow_unarmed: start even when signers of automatic steps cannot be loaded.

    After :meth:`start`, ``armed`` is the number of armed actions and ``arm_failures`` has
    one sentence per automatic action that cannot act, naming its signer and why.
    """

    def __init__(
        self,
        loaded: LoadedPlan,
        *,
        chain: str,
        sessions: sessionmaker[Session],
        env: LiveEnv | None = None,
        on_event: OnStepEvent | None = None,
        urgent_wait: float = 2.0,
        allow_unarmed: bool = False,
    ) -> None:
        self.loaded = loaded
        self.chain = chain
        self.env = env or LiveEnv(loaded, sessions)
        self.journal = Journal(sessions, on_event=on_event)
        self.runner = PlaybookRunner(loaded.plan, self.env, self.journal, chain=chain)
        self.urgent_wait = urgent_wait
        self.allow_unarmed = allow_unarmed
        self.armed = 0
        self.arm_failures: list[str] = []
        self.crashes: list[str] = []
        self._signer_problems: dict[str, str] | None = None
        self.window = loaded.plan.alerting.suppress_for
        self.results: list[RunResult] = []
        self._last_run: dict[str, float] = {}
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.guard: Callable[[str, str], SendGuard] | None = None
        """Scale-out mode: per (trigger, playbook), what every broadcast of the run must
        pass (the signer's lease and the effect's idempotency key)."""

    def playbooks(self) -> list[Playbook]:
        """The playbooks that rules of this chain can start."""
        rules = {r.id for r in self.loaded.plan.rules if r.chain in (None, self.chain)}
        return [p for p in self.loaded.plan.playbooks if set(p.on) & rules or p.severities]

    def preflight(self) -> dict[str, str]:
        """Load the key of every signer an automatic contract step may use.

        Returns:
            Per signer that cannot be loaded, why (empty when all can).

        Raises:
            UnarmedResponder: a signer cannot be loaded and ``allow_unarmed`` is false.
        """
        if self._signer_problems is None:
            problems: dict[str, str] = {}
            users: dict[str, list[str]] = {}
            for playbook, action in self._auto_actions():
                users.setdefault(action.signer, []).append(f"{action.summary} in {playbook}")
                if self.env.dry_run or action.signer in problems:
                    continue
                try:
                    self.env.signer_account(action.signer)
                except BreakglassError as exc:
                    problems[action.signer] = str(exc)
            if problems and not self.allow_unarmed:
                raise UnarmedResponder(self.chain, problems, users)
            self._signer_problems = problems
        return self._signer_problems

    async def start(self) -> None:
        """Check the signers (see :meth:`preflight`), then arm every automatic action.

        Raises:
            UnarmedResponder: a signer cannot be loaded and ``allow_unarmed`` is false.
        """
        problems = self.preflight()
        armed = 0
        failures: list[str] = []
        for playbook, action in self._auto_actions():
            if action.signer in problems:
                failures.append(
                    f"{action.summary} (playbook {playbook}) cannot act: {problems[action.signer]}"
                )
            elif action.chain == self.chain:
                error = await self._arm(action)
                if error is None:
                    armed += 1
                else:
                    failures.append(f"{action.summary} (playbook {playbook}) is not armed: {error}")
        self.armed, self.arm_failures = armed, failures
        _log.info("respond.armed", chain=self.chain, actions=armed)
        if failures:
            _log.error("respond.unarmed", chain=self.chain, failures=failures)

    def signers(self) -> set[str]:
        """The signers automatic steps of this chain's playbooks send with (scale-out mode
        takes their leases)."""
        return {action.signer for _, action in self._auto_actions()}

    def _auto_actions(self) -> list[tuple[str, ContractAction]]:
        """Automatic contract actions of the bound playbooks and of the fallbacks they name."""
        known = {p.id: p for p in self.loaded.plan.playbooks}
        queue = list(self.playbooks())
        seen: set[str] = set()
        found: list[tuple[str, ContractAction]] = []
        while queue:
            playbook = queue.pop(0)
            if playbook.id in seen:
                continue
            seen.add(playbook.id)
            for step, action in zip(playbook.steps, self.runner.armable(playbook), strict=True):
                if step.on_failure in known:
                    queue.append(known[step.on_failure])
                if step.mode is Mode.AUTO and isinstance(action, ContractAction):
                    found.append((playbook.id, action))
        return found

    async def _arm(self, action: Action) -> str | None:
        """Arm ``action``; why it could not be, or ``None``."""
        try:
            await action.arm(self.env)
        except BreakglassError as exc:
            _log.warning("respond.arm_failed", action=action.summary, error=str(exc)[:300])
            return str(exc)[:300]
        return None

    def on_block(self, block: BlockAdded) -> None:
        self._spawn(self.env.refresh(self.chain))

    async def react(self, findings: Sequence[Finding]) -> list[str]:
        """Start the playbooks the findings call for; returns the dedupe keys of the
        findings a run was started for."""
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Event] = []
        started: list[str] = []
        held: dict[str, bool] = {}
        for finding in findings:
            for playbook in playbooks_for(self.loaded.plan, finding.rule, finding.severity):
                last = self._last_run.get(playbook.id)
                if last is not None and loop.time() - last < _seconds(self.window):
                    if playbook.id not in held:
                        held[playbook.id] = await self._holds(playbook)
                    if held[playbook.id]:
                        continue
                held[playbook.id] = True  # one run per playbook and block
                self._last_run[playbook.id] = loop.time()
                settled = asyncio.Event()
                waits.append(settled)
                started.append(finding.dedupe_key)
                self._running.add(playbook.id)
                self._spawn(self._run(playbook.id, finding, settled))
        if not waits:
            return started
        self.journal.hold()
        try:
            await asyncio.wait(
                [asyncio.ensure_future(w.wait()) for w in waits], timeout=self.urgent_wait
            )
        finally:
            self.journal.release()
        return started

    async def _holds(self, playbook: Playbook) -> bool:
        """Whether an earlier run of ``playbook`` still stands: one is in flight, or every
        contract its automatic steps act on is still as they left it (their prechecks)."""
        if playbook.id in self._running:
            return True
        checks = [
            (action.to, action.done_when)
            for step, action in zip(playbook.steps, self.runner.actions(playbook), strict=True)
            if step.mode is Mode.AUTO
            and isinstance(action, ContractAction)
            and action.chain == self.chain
            and action.done_when is not None
        ]
        if not checks:
            return True  # nothing to look at: the window alone decides
        calls = [
            ("eth_call", [{"to": to, "data": "0x" + check.data.hex()}, "latest"])
            for to, check in checks
        ]
        try:
            results = await self.env.rpc(self.chain).batch(calls)
            holds = all(check.holds(r) for (_, check), r in zip(checks, results, strict=True))
        except (BreakglassError, ValueError, TypeError) as exc:
            # Unknown is not contained: run again and let the steps report what fails.
            _log.warning("respond.precheck_failed", playbook=playbook.id, error=str(exc)[:300])
            return False
        if not holds:
            _log.warning("respond.new_episode", playbook=playbook.id)
        return holds

    async def _run(self, playbook: str, finding: Finding, settled: asyncio.Event) -> None:
        if self.guard is not None:  # this task's context only
            send_guard.set(self.guard(finding.dedupe_key, playbook))
        try:
            result = await self.runner.run(
                playbook,
                trigger=finding.dedupe_key,
                chain=self.chain,
                settled=settled,
                context=finding_context(finding),
            )
        except Exception as exc:  # one broken run must not stop the monitor; health pages it
            _log.exception("respond.playbook_crashed", playbook=playbook)
            self.crashes.append(f"playbook {playbook} for {finding.rule}: {type(exc).__name__}")
            return
        finally:
            settled.set()
            self._running.discard(playbook)
        self.results.append(result)
        _log.warning(
            "respond.playbook_finished", playbook=playbook, status=result.status, run=result.run_id
        )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait for every started playbook run and refresh to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.journal.flush()

    async def aclose(self) -> None:
        await self.wait_idle()
        await self.journal.close()
        await self.env.aclose()


def _seconds(window: timedelta) -> float:
    return window.total_seconds()
