"""Where actions act: the plan's chains and keys (live), or a throwaway fork (dry run)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from breakglass.chain.endpoints import plan_endpoints, resolve_endpoints
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.errors import BreakglassError, ChainError, PlanError
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models.chain import Chain, ExternalSigner, SafeSigner
from breakglass.respond.actions.base import Rpc, Transactor
from breakglass.respond.gas import GasCaps, GasStrategy, Urgency
from breakglass.respond.nonces import NonceManager
from breakglass.respond.sender import PreparedTx, TxSender
from breakglass.respond.signers.keys import TxSigner
from breakglass.respond.signers.local import LocalSigner, Prompt, load_local_signer
from breakglass.respond.signers.safe import SafeAccount

if TYPE_CHECKING:
    from breakglass.notify import Notifier

__all__ = ["DryRunEnv", "ImpersonatedTransactor", "KeyTransactor", "LiveEnv", "chain_urls"]

_log = structlog.get_logger("breakglass.respond")


def chain_urls(
    chain: Chain, environ: Mapping[str, str] | None = None, *, name: str | None = None
) -> list[str]:
    """The HTTP URLs of the chain's usable endpoints in priority order, references resolved.

    Raises:
        NoUsableEndpoint: every endpoint refers to an unset environment variable.
    """
    return [endpoint.url for endpoint in resolve_endpoints(chain, environ, name=name)]


class KeyTransactor:
    """Sends as a local key with emergency fees; :meth:`arm` pre-estimates gas and fees so
    that :meth:`send` signs (a fraction of a millisecond) and broadcasts in one round trip.

    Nonces are taken at send time, not when arming: an armed pause that never fires must
    not leave a nonce gap that jams every later transaction of the key.
    """

    def __init__(self, rpc: Rpc, sender: TxSender, *, replace_after: float) -> None:
        self.rpc = rpc
        self.sender = sender
        self.replace_after = replace_after
        self._gas_limits: dict[tuple[str, bytes], int] = {}
        self._sent: dict[str, PreparedTx] = {}

    @property
    def address(self) -> str:
        return self.sender.address

    async def arm(self, to: str, data: bytes) -> None:
        self._gas_limits[(to.lower(), data)] = await self._estimate(to, data)
        await self.sender.gas.fees(Urgency.EMERGENCY)

    async def refresh(self) -> None:
        """On a new head: fresh fees and a nonce reconciled with the chain."""
        await asyncio.gather(self.sender.gas.refresh(), self.sender.nonces.sync())

    async def send(self, to: str, data: bytes) -> str:
        limit = self._gas_limits.get((to.lower(), data))
        prepared = await self.sender.prepare(to, data, urgency=Urgency.EMERGENCY, gas_limit=limit)
        tx_hash = await self.sender.broadcast(prepared)
        self._sent[tx_hash] = prepared
        return tx_hash

    async def wait(self, tx_hash: str, *, timeout: float) -> dict[str, Any]:
        receipt = await self.sender.wait(tx_hash, timeout=timeout, replace_after=self.replace_after)
        return receipt.raw

    async def _estimate(self, to: str, data: bytes) -> int:
        call = {"from": self.address, "to": to, "data": "0x" + data.hex()}
        try:
            estimate = int(await self.rpc.request("eth_estimateGas", [call]), 16)
        except (ChainError, TypeError, ValueError):
            # It would revert now (e.g. already paused), or no endpoint gave a number: arming
            # must not fail for it; the send re-estimates.
            return 300_000
        return estimate * 6 // 5


class ImpersonatedTransactor:
    """Dry runs: sends as ``address`` on an anvil fork, no key needed."""

    def __init__(self, rpc: Rpc, address: str) -> None:
        self._rpc = rpc
        self._address = address
        self._ready = False

    @property
    def address(self) -> str:
        return self._address

    async def arm(self, to: str, data: bytes) -> None:
        return None

    async def send(self, to: str, data: bytes) -> str:
        if not self._ready:
            await self._rpc.request("anvil_impersonateAccount", [self._address])
            await self._rpc.request("anvil_setBalance", [self._address, hex(10**20)])
            self._ready = True
        tx = {"from": self._address, "to": to, "data": "0x" + data.hex()}
        return str(await self._rpc.request("eth_sendTransaction", [tx]))

    async def wait(self, tx_hash: str, *, timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            receipt = await self._rpc.request("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                if int(receipt.get("status", "0x0"), 16) != 1:
                    raise ChainError(f"transaction {tx_hash} reverted on the fork")
                return dict(receipt)
            await asyncio.sleep(0.05)
        raise ChainError(f"transaction {tx_hash} was not mined on the fork in {timeout:.0f}s")


class LiveEnv:
    """The plan's own chains and keys.

    Args:
        sessions: where Safe proposals are kept.
        environ: where ``${VAR}`` references resolve (default: the process environment).
        prompt: asks for keystore passwords the plan does not reference.
        rpc_urls: per chain, URLs that replace the plan's endpoints (a fork, a test chain).
        receipt_timeout: seconds a step waits for its transaction to be mined.
        replace_after: seconds before a pending transaction is re-sent with higher fees
            (default: two of the chain's block times, at least two seconds).
    """

    dry_run = False

    def __init__(
        self,
        loaded: LoadedPlan,
        sessions: sessionmaker[Session],
        *,
        environ: Mapping[str, str] | None = None,
        prompt: Prompt | None = None,
        rpc_urls: Mapping[str, str] | None = None,
        receipt_timeout: float = 120.0,
        replace_after: float | None = None,
    ) -> None:
        self.loaded = loaded
        self.plan = loaded.plan
        self._sessions = sessions
        self._environ = environ
        self._prompt = prompt
        self._rpc_urls = dict(rpc_urls or {})
        self.receipt_timeout = receipt_timeout
        self._replace_after = replace_after
        self._pools: dict[str, EndpointPool] = {}
        self._signers: dict[str, LocalSigner] = {}
        self._transactors: dict[tuple[str, str], Transactor] = {}
        self._gas: dict[str, GasStrategy] = {}
        self._notifier: Notifier | None = None

    def _chain(self, chain: str) -> Chain:
        config = self.plan.chains.get(chain)
        if config is None:
            raise PlanError(f"the plan has no chain {chain!r}")
        return config

    def urls(self, chain: str) -> list[str]:
        if chain in self._rpc_urls:
            return [self._rpc_urls[chain]]
        return chain_urls(self._chain(chain), self._environ, name=chain)

    def rpc(self, chain: str) -> EndpointPool:
        pool = self._pools.get(chain)
        if pool is None:
            if chain in self._rpc_urls:
                endpoints = [Endpoint(self._rpc_urls[chain])]
            else:
                endpoints = plan_endpoints(self._chain(chain), self._environ, name=chain)
            pool = self._pools[chain] = EndpointPool(endpoints, chain=chain)
        return pool

    def local_signer(self, name: str) -> LocalSigner:
        signer = self._signers.get(name)
        if signer is None:
            signer = self._signers[name] = load_local_signer(
                self.plan,
                name,
                base_dir=self.loaded.base_dir,
                environ=self._environ,
                prompt=self._prompt,
            )
        return signer

    def gas(self, chain: str) -> GasStrategy:
        strategy = self._gas.get(chain)
        if strategy is None:
            caps = GasCaps.from_plan(self._chain(chain).gas)
            strategy = self._gas[chain] = GasStrategy(
                self.rpc(chain), caps, chain_id=self._chain(chain).chain_id
            )
        return strategy

    def transactor(self, chain: str, signer: str) -> Transactor:
        key = (chain, signer)
        if key not in self._transactors:
            self._transactors[key] = self._make_transactor(chain, signer)
        return self._transactors[key]

    def signer_account(self, name: str) -> TxSigner:
        """What signs for key signer ``name``: its local key, or the remote signer that holds
        it (an ``external`` signer, never a key here).

        Raises:
            SignerError: unknown, a Safe, or its key or variables cannot be loaded.
        """
        config = self.plan.signers.get(name)
        if isinstance(config, ExternalSigner):
            # httpx only for a remote signer: a key signer's pause does not wait for it.
            from breakglass.respond.signers.external import load_external_signer  # noqa: PLC0415

            return load_external_signer(name, config, environ=self._environ)
        return self.local_signer(name).account

    def _make_transactor(self, chain: str, signer: str) -> Transactor:
        account = self.signer_account(signer)
        rpc = self.rpc(chain)
        sender = TxSender(
            rpc,
            account,
            self._chain(chain).chain_id,
            NonceManager(rpc, account.address),
            self.gas(chain),
            poll_interval=0.1,
        )
        block_time = self._chain(chain).block_time or 2.0
        replace_after = self._replace_after or max(2.0, 2 * block_time)
        return KeyTransactor(rpc, sender, replace_after=replace_after)

    def safe_account(self, chain: str, address: str) -> SafeAccount:
        return SafeAccount(address, self.urls(chain)[0])

    def safe_signer(self, name: str) -> SafeSigner:
        config = self.plan.signers.get(name)
        if not isinstance(config, SafeSigner):
            raise PlanError(f"the plan has no Safe signer {name!r}")
        return config

    def impersonated(self, chain: str, address: str) -> Transactor:
        raise BreakglassError("acting as another address is for dry runs on a fork only")

    def proposals(self) -> sessionmaker[Session]:
        return self._sessions

    def notifier(self) -> Notifier:
        if self._notifier is None:
            from breakglass.notify import Notifier  # noqa: PLC0415 - Apprise is slow to import

            self._notifier = Notifier(self.plan, self._sessions, environ=self._environ)
        return self._notifier

    async def flush_notifications(self) -> None:
        """Try the queued deliveries once now (the monitor's notifier loop retries them)."""
        if self._notifier is not None:
            try:
                await self._notifier.deliver_due()
            except BreakglassError as exc:
                _log.error("respond.delivery_failed", error=str(exc)[:300])

    async def refresh(self, chain: str) -> None:
        """On a new head of ``chain``: refresh fees and nonces of its key transactors."""
        jobs = [
            t.refresh()
            for (c, _), t in self._transactors.items()
            if c == chain and isinstance(t, KeyTransactor)
        ]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                _log.warning("respond.refresh_failed", chain=chain, error=str(result)[:200])

    async def aclose(self) -> None:
        await self.flush_notifications()
        for pool in self._pools.values():
            await pool.aclose()


class DryRunEnv(LiveEnv):
    """Every chain replaced by a fork; signers are impersonated, so no key is needed."""

    dry_run = True

    def _make_transactor(self, chain: str, signer: str) -> Transactor:
        return ImpersonatedTransactor(self.rpc(chain), self._signer_address(signer))

    def _signer_address(self, name: str) -> str:
        config = self.plan.signers.get(name)
        if config is None:
            raise PlanError(f"the plan has no signer {name!r}")
        if config.address is not None:
            return config.address
        try:
            return self.local_signer(name).address
        except BreakglassError as exc:
            raise PlanError(
                f"signer {name!r} has no address in the plan and its key is not here ({exc}); "
                "a dry run needs one of them"
            ) from None

    def impersonated(self, chain: str, address: str) -> Transactor:
        return ImpersonatedTransactor(self.rpc(chain), address)
