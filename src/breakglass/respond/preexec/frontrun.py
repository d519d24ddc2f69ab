"""Front-running a pending exploit with the plan's own pause.

When the screen finds a critical rule firing on a pending transaction, the findings go to the
monitor's :class:`~breakglass.respond.responder.Responder` like a mined block's: the same
playbooks, prechecks, journal, verification and fallbacks. Two things differ, both set in
context variables that the playbook run (a task started inside) inherits and nothing else
sees:

* the emergency bid is at least :func:`outbid` of the exploit's fees (twice its max fee and
  its tip, plus one gwei; anvil ranks its pool by max fee, builders by tip), within the
  plan's mempool caps;
* with ``route: private`` the raw transaction goes to the plan's private-transaction RPC,
  so the pause itself cannot be seen and griefed in the public mempool.

``confirm`` simulates ``[pause, exploit]`` in one ``eth_simulateV1`` block to learn whether
the pause stops the exploit: before sending (a round trip on the critical path) or alongside
it (started once the pause is out, recorded, never delaying it). After the exploit is mined
(or dropped), :meth:`FrontRunner.verify` reads where the pause landed and records the order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import structlog

from breakglass.chain.pool import EndpointPool
from breakglass.detect.finding import Finding
from breakglass.errors import BreakglassError
from breakglass.plan.models.chain import Chain, Ordering
from breakglass.respond.actions.contract import ContractAction
from breakglass.respond.gas import Fees, emergency_floor
from breakglass.respond.preexec.screen import Rpc, Screened
from breakglass.respond.responder import Responder
from breakglass.respond.runner import playbooks_for
from breakglass.respond.sender import broadcast_via

__all__ = ["FrontRun", "FrontRunner", "Order", "outbid"]

_log = structlog.get_logger("breakglass.respond")

GWEI = 10**9
Order = Literal["before", "after", "pause-not-mined", "exploit-not-mined", "unknown"]


def _hex(value: object) -> int:
    return int(value, 16) if isinstance(value, str) else int(value or 0)  # type: ignore[call-overload]


def outbid(
    tx: Mapping[str, Any], *, max_fee_cap: int | None, tip_cap: int | None
) -> tuple[Fees, bool]:
    """Fees that outrank ``tx``, within the caps, and whether they still do once capped.

    Twice the exploit's max fee and tip plus one gwei: a margin against an attacker who
    re-bids, without paying much (only base fee + tip is charged).
    """
    max_fee = _hex(tx.get("maxFeePerGas") or tx.get("gasPrice"))
    tip = _hex(tx.get("maxPriorityFeePerGas") or tx.get("gasPrice"))
    want_max, want_tip = 2 * max_fee + GWEI, 2 * tip + GWEI
    capped_max = want_max if max_fee_cap is None else min(want_max, max_fee_cap)
    capped_tip = min(want_tip if tip_cap is None else min(want_tip, tip_cap), capped_max)
    return Fees(capped_max, capped_tip), capped_max > max_fee and capped_tip > tip


@dataclass
class FrontRun:
    """One reaction to a pending exploit, filled in as it goes."""

    exploit: str
    rules: tuple[str, ...]
    seen_at: float
    fees: Fees
    outranks: bool
    route: str
    started: tuple[str, ...] = ()
    reacted_at: float | None = None
    confirmed: bool | None = None
    confirm_seconds: float | None = None
    confirm_note: str = ""
    pause: str | None = None
    order: Order | None = None
    exploit_status: int | None = None
    blocks: tuple[int | None, int | None] = (None, None)
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    creation: bool = False
    """The pending transaction deploys a contract (an attack contract judged by simulation):
    the pause going first is the whole of it, the deployment itself succeeds."""

    @property
    def stopped(self) -> bool:
        """The pause went first and the exploit reverted (or never landed), or, for a
        deployment, the pause went first."""
        if self.creation:
            return self.order == "before"
        return self.order == "before" and self.exploit_status in (0, None)


@dataclass
class _PauseCall:
    to: str
    data: bytes
    sender: str


class FrontRunner:
    """Sends the plan's reaction ahead of pending exploits on one chain.

    Args:
        responder: the monitor's responder (started and armed).
        config: the chain's plan settings (``ordering``, ``mempool``, ``gas``).
        rpc: the chain, for confirmation and verification.
        private: the private-transaction endpoint when the plan routes there.
        verify_timeout: the longest wait for the exploit to be mined, in seconds.
    """

    def __init__(
        self,
        responder: Responder,
        *,
        chain: str,
        config: Chain,
        rpc: Rpc,
        private: EndpointPool | None = None,
        verify_timeout: float = 60.0,
    ) -> None:
        self.responder = responder
        self.chain = chain
        self.config = config
        self.rpc = rpc
        self.private = private
        self.verify_timeout = verify_timeout
        mempool = config.mempool
        self.max_fee_cap = _wei(mempool.max_fee_gwei or config.gas.max_fee_gwei)
        self.tip_cap = _wei(mempool.max_priority_fee_gwei or config.gas.max_priority_fee_gwei)
        self._tasks: set[asyncio.Task[None]] = set()

    async def act(self, screened: Screened) -> FrontRun:
        """React to ``screened`` (which has critical findings); returns once the pause is on
        its way. Confirmation (alongside) and verification go on in the background."""
        pending, findings = screened.pending, list(screened.critical)
        fees, outranks = outbid(pending.tx, max_fee_cap=self.max_fee_cap, tip_cap=self.tip_cap)
        run = FrontRun(
            exploit=pending.hash,
            rules=tuple(dict.fromkeys(f.rule for f in findings)),
            seen_at=pending.received_at,
            fees=fees,
            outranks=outranks,
            route=self.config.mempool.route,
            creation=not pending.tx.get("to"),
        )
        confirm = "off" if run.creation else self.config.mempool.confirm
        if confirm == "before":
            await self._confirm(run, self._pause_calls(findings), pending.tx)
        floor = emergency_floor.set(fees)
        via = broadcast_via.set(self.private)
        try:
            run.started = tuple(await self.responder.react(findings))
        finally:
            broadcast_via.reset(via)
            emergency_floor.reset(floor)
        run.reacted_at = time.perf_counter()
        calls = self._pause_calls(findings)  # off the critical path unless confirming first
        # Said once the pause is out: logging is no reason to send later.
        if not outranks:
            _log.error(
                "respond.frontrun_capped",
                chain=self.chain,
                exploit=pending.hash,
                max_fee_gwei=fees.max_fee_per_gas / GWEI,
                tip_gwei=fees.max_priority_fee_per_gas / GWEI,
                note="the plan's mempool caps keep the pause from outbidding the exploit",
            )
        if self.config.ordering is not Ordering.PRIORITY_FEE:
            _log.warning(
                "respond.frontrun_ordering",
                chain=self.chain,
                ordering=self.config.ordering.value,
                note="this chain does not order by fee: the pause lands after the exploit",
            )
        if confirm == "alongside":  # after the send: it must not compete with it
            self._spawn(self._confirm(run, calls, pending.tx))
        _log.warning(
            "respond.frontrun_sent",
            chain=self.chain,
            exploit=pending.hash,
            rules=list(run.rules),
            started=len(run.started),
            max_fee_gwei=fees.max_fee_per_gas / GWEI,
            tip_gwei=fees.max_priority_fee_per_gas / GWEI,
            route=run.route,
            ms=round((run.reacted_at - run.seen_at) * 1000, 2) if run.seen_at else None,
        )
        self._spawn(self.verify(run, [c.sender for c in calls], [c.to for c in calls]))
        return run

    def _pause_calls(self, findings: Sequence[Finding]) -> list[_PauseCall]:
        """The automatic contract steps the findings start, with their senders."""
        plan = self.responder.loaded.plan
        found: list[_PauseCall] = []
        for finding in findings:
            for playbook in playbooks_for(plan, finding.rule, finding.severity):
                for action in self.responder.runner.actions(playbook):
                    if not isinstance(action, ContractAction) or action.chain != self.chain:
                        continue
                    try:
                        sender = self.responder.env.transactor(self.chain, action.signer).address
                    except BreakglassError:
                        continue
                    found.append(_PauseCall(action.to.lower(), action.data, sender.lower()))
        return list({(c.to, c.data, c.sender): c for c in found}.values())

    async def _confirm(self, run: FrontRun, calls: list[_PauseCall], tx: Mapping[str, Any]) -> None:
        """Simulate the pause calls, then the exploit, in one block; the exploit reverting
        confirms that the pause stops it."""
        if not calls:
            run.confirm_note = "no automatic contract step to simulate"
            return
        started = time.perf_counter()
        block = [{"from": c.sender, "to": c.to, "data": "0x" + c.data.hex()} for c in calls] + [
            {
                "from": tx["from"],
                "to": tx.get("to"),
                "data": tx.get("input") or "0x",
                "value": tx.get("value") or "0x0",
                "gas": tx.get("gas") or hex(10_000_000),
            }
        ]
        try:
            result = await self.rpc.request(
                "eth_simulateV1", [{"blockStateCalls": [{"calls": block}]}, "latest"]
            )
            statuses = [_hex(c.get("status")) for c in result[0]["calls"]]
        except (BreakglassError, KeyError, IndexError, TypeError, ValueError) as exc:
            run.confirm_note = f"could not simulate [pause, exploit]: {str(exc)[:200]}"
            _log.warning("respond.frontrun_confirm_failed", exploit=run.exploit, error=str(exc))
            return
        finally:
            run.confirm_seconds = time.perf_counter() - started
        pauses_ok = all(status == 1 for status in statuses[:-1])
        run.confirmed = pauses_ok and statuses[-1] == 0
        if run.confirmed:
            run.confirm_note = "the pause stops it: the exploit reverts after it"
        elif not pauses_ok:
            run.confirm_note = "the pause itself reverts"
        else:
            run.confirm_note = "the exploit still succeeds after the pause"
        log = _log.info if run.confirmed else _log.error
        log("respond.frontrun_confirmed", exploit=run.exploit, note=run.confirm_note)

    async def verify(self, run: FrontRun, senders: list[str], targets: list[str]) -> None:
        """Wait for the exploit's block and record where the pause landed against it."""
        try:
            await self._verify(run, set(senders), set(targets))
        except (BreakglassError, KeyError, TypeError, ValueError) as exc:
            run.order = "unknown"
            _log.warning("respond.frontrun_verify_failed", exploit=run.exploit, error=str(exc))
        finally:
            run.done.set()
        log = _log.warning if run.stopped else _log.error
        log(
            "respond.frontrun_order",
            chain=self.chain,
            exploit=run.exploit,
            pause=run.pause,
            order=run.order,
            exploit_status=run.exploit_status,
            blocks=list(run.blocks),
        )

    async def _verify(self, run: FrontRun, senders: set[str], targets: set[str]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.verify_timeout
        receipt: Any = None
        while loop.time() < deadline:
            receipt = await self.rpc.request("eth_getTransactionReceipt", [run.exploit])
            if receipt is not None:
                break
            await asyncio.sleep(0.1)
        head = int(await self.rpc.request("eth_blockNumber"), 16)
        number = _hex(receipt["blockNumber"]) if receipt is not None else head
        blocks = range(max(number - 1, 0), number + 1)
        where: tuple[int, int] | None = None
        for block_number in blocks:
            block = await self.rpc.request("eth_getBlockByNumber", [hex(block_number), True])
            for tx in (block or {}).get("transactions", ()):
                if (
                    str(tx.get("from", "")).lower() in senders
                    and str(tx.get("to", "")).lower() in targets
                ):
                    where = (block_number, _hex(tx["transactionIndex"]))
                    run.pause = str(tx["hash"])
        if receipt is None:
            run.order = "exploit-not-mined" if where is not None else "pause-not-mined"
            run.blocks = (where[0] if where else None, None)
            return
        run.exploit_status = _hex(receipt.get("status"))
        mined = (number, _hex(receipt["transactionIndex"]))
        run.blocks = (where[0] if where else None, number)
        if where is None:
            run.order = "pause-not-mined"
        else:
            run.order = "before" if where < mined else "after"

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Wait for confirmations and verifications in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _wei(gwei: Decimal | None) -> int | None:
    return None if gwei is None else int(gwei * GWEI)
