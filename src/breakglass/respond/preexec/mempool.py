"""The mempool guard of one chain: pending transactions in, a front-running pause out.

:class:`MempoolGuard` wires a :class:`~breakglass.ingest.pending.PendingTxSource` (WebSocket
``newPendingTransactions``, ``txpool_content`` while no subscription is live) to a
:class:`~breakglass.respond.preexec.screen.PendingScreen` (keep what touches watched
contracts, simulate it, run the plan's rules) and a
:class:`~breakglass.respond.preexec.frontrun.FrontRunner` (the plan's playbooks, bid above
the exploit). The monitor starts one per chain whose plan sets ``mempool.enabled``.

The same exploit is acted on once: its hash is remembered (in a bounded window) from the
moment a critical rule fires on it. Memory is bounded throughout: the source's queue and
seen-window, the screen's code cache and the guard's history are all fixed-size.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import structlog

from breakglass.chain.endpoints import resolve_endpoints
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.detect.finding import Finding
from breakglass.detect.rule import Rule
from breakglass.detect.setup import build_rules
from breakglass.errors import BreakglassError
from breakglass.ingest.events import BlockHeader, PendingTx
from breakglass.ingest.pending import PendingTxSource
from breakglass.plan.models.chain import Ordering
from breakglass.respond.actions.contract import ContractAction
from breakglass.respond.preexec.frontrun import FrontRun, FrontRunner
from breakglass.respond.preexec.screen import (
    CREATION_RULES,
    PendingScreen,
    Screened,
    pending_detector,
    watched_addresses,
)
from breakglass.respond.responder import Responder

__all__ = ["MempoolGuard", "start_guard"]

_log = structlog.get_logger("breakglass.respond")


@dataclass
class MempoolGuard:
    """Pre-executes the pending transactions of ``chain`` and front-runs exploits.

    Args:
        responder: the monitor's responder for the chain, started (armed) before :meth:`run`.
        pool: the chain's endpoint pool (fetches, simulations, verification).
        ws_url: where to subscribe to pending transactions (default: the chain's first
            endpoint with a WebSocket URL; none polls ``txpool_content``).
        concurrency: pending transactions fetched and screened at once.
        history: how many front-runs are kept in :attr:`runs`.
    """

    responder: Responder
    chain: str
    pool: EndpointPool
    ws_url: str | None = None
    concurrency: int = 16
    queue_size: int = 10_000
    history: int = 100
    runs: deque[FrontRun] = field(init=False)
    screen: PendingScreen = field(init=False)
    frontrunner: FrontRunner = field(init=False)
    source: PendingTxSource = field(init=False)
    _acted: OrderedDict[str, None] = field(default_factory=OrderedDict, init=False, repr=False)
    _private: EndpointPool | None = field(default=None, init=False, repr=False)
    _own: set[str] = field(default_factory=set, init=False, repr=False)
    _creations: list[Rule] = field(default_factory=list, init=False, repr=False)
    _judging: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        loaded = self.responder.loaded
        config = loaded.plan.chains[self.chain]
        rules = build_rules(loaded, chain=self.chain)
        self._creations = [r for r in rules if type(r).id in CREATION_RULES]
        self.screen = PendingScreen(
            chain=self.chain,
            detector=pending_detector(self.chain, rules),
            rpc=self.pool,
            watched=watched_addresses(loaded, self.chain, rules),
        )
        mempool = config.mempool
        if mempool.route == "private" and mempool.private_rpc is not None:
            url = mempool.private_rpc.resolve()
            self._private = EndpointPool([Endpoint(url)], chain=f"{self.chain}-private")
        self.frontrunner = FrontRunner(
            self.responder, chain=self.chain, config=config, rpc=self.pool, private=self._private
        )
        if self.ws_url is None:
            sockets = [e.ws for e in resolve_endpoints(config, name=self.chain) if e.ws]
            self.ws_url = sockets[0] if sockets else None
        self.source = PendingTxSource(
            self.chain,
            self.ws_url,
            self.pool,
            subscribers=[self.on_pending],
            concurrency=self.concurrency,
            queue_size=self.queue_size,
            full=True,
            txpool_fallback=True,
        )
        self.runs = deque(maxlen=self.history)
        if config.ordering is not Ordering.PRIORITY_FEE:
            _log.warning(
                "respond.mempool_ordering",
                chain=self.chain,
                ordering=config.ordering.value,
                note="fifo: a pause sent after the exploit lands after it; private-orderflow: "
                "exploits are never seen pending",
            )

    def own_senders(self) -> set[str]:
        """The accounts breakglass itself sends from on this chain (automatic contract
        steps): their pending pauses are not screened, so they never compete with the send."""
        found: set[str] = set()
        for playbook in self.responder.playbooks():
            for action in self.responder.runner.actions(playbook):
                if isinstance(action, ContractAction) and action.chain == self.chain:
                    try:
                        found.add(self.responder.env.transactor(self.chain, action.signer).address)
                    except BreakglassError:
                        continue
        return {address.lower() for address in found}

    async def on_pending(self, pending: PendingTx) -> Screened | None:
        """Screen one pending transaction and front-run it when a critical rule fires."""
        if str(pending.tx.get("from", "")).lower() in self._own:
            return None
        if not pending.tx.get("to") and self._creations:
            screened = await self._judge_creation(pending)
        else:
            screened = await self.screen.screen(pending)
        if not screened.critical or pending.hash in self._acted:
            return screened
        self._acted[pending.hash] = None
        if len(self._acted) > 10_000:
            self._acted.popitem(last=False)
        self.runs.append(await self.frontrunner.act(screened))
        return screened

    async def _judge_creation(self, pending: PendingTx) -> Screened:
        """A pending deployment judged by the plan's creation rules (attack-contract
        simulation) on the head's state, in a worker thread: their simulator blocks while it
        waits, and the event loop must not. One at a time: a rule's state is not shared."""
        findings: list[Finding] = []
        async with self._judging:
            try:
                raw = await self.pool.request("eth_getBlockByNumber", ["latest", False])
                head = BlockHeader.from_rpc(raw)
                for rule in self._creations:
                    judge = getattr(rule, "judge_pending", None)
                    if judge is not None:
                        findings.extend(await asyncio.to_thread(judge, pending, head))
            except BreakglassError as exc:
                _log.warning(
                    "respond.pending_creation_failed", tx=pending.hash, error=str(exc)[:200]
                )
        return Screened(pending, kept=True, simulated=True, findings=tuple(findings))

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the mempool until ``stop`` is set."""
        self._own = self.own_senders()
        # The creation rules' simulator starts now, in the background, not with the first
        # pending deployment.
        warming = [
            asyncio.ensure_future(asyncio.to_thread(start))
            for rule in self._creations
            if (start := getattr(rule, "start", None)) is not None
        ]
        _log.info("respond.mempool_started", chain=self.chain, watched=len(self.screen.watched))
        task = asyncio.ensure_future(self.source.run())
        try:
            await stop.wait()
        finally:
            task.cancel()
            await asyncio.gather(task, *warming, return_exceptions=True)
            await self.aclose()

    async def aclose(self) -> None:
        """Finish verifications in flight and close the private route."""
        await self.frontrunner.aclose()
        if self._private is not None:
            await self._private.aclose()


def start_guard(
    responder: object, *, chain: str, pool: EndpointPool, stop: asyncio.Event
) -> asyncio.Task[None] | None:
    """Start a :class:`MempoolGuard` for ``chain`` when the plan enables mempool
    pre-execution there and ``responder`` is a :class:`Responder` (the monitor's hook).

    The guard stops when ``stop`` is set or when the calling task (the monitor's) ends,
    however it ends.
    """
    if not isinstance(responder, Responder):
        return None
    if not responder.loaded.plan.chains[chain].mempool.enabled:
        return None
    guard = MempoolGuard(responder, chain, pool)
    task = asyncio.ensure_future(guard.run(stop))
    caller = asyncio.current_task()
    if caller is not None:
        caller.add_done_callback(lambda _caller: task.cancel())
    return task
