"""What the checks share: the plan, the environment, and the chains and keys they reach.

Endpoints are probed once per chain and keys decrypted once per signer, whichever check
asks first; later checks reuse the answer (or the reason there is none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from breakglass.chain.errors import EndpointError
from breakglass.chain.rpc import JsonRpcClient, RpcClient, redact_url
from breakglass.chain.ws import WsRpcClient
from breakglass.doctor.base import NotChecked
from breakglass.errors import BreakglassError, ConfigError, PlanError
from breakglass.plan.issues import Path
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models.base import Secret
from breakglass.plan.models.chain import Chain, SafeSigner
from breakglass.plan.models.plan import Plan
from breakglass.respond.signers.local import LocalSigner, load_local_signer

__all__ = ["DoctorContext", "EndpointProbe", "shown_url"]


def shown_url(template: Secret, resolved: str | None) -> str:
    """A URL fit for a message: the plan's ``${VAR}`` form, and where it points without
    path or query (where API keys live); a literal URL only in its redacted form."""
    whole = len(template.env_vars) == 1 and template.template == f"${{{template.env_vars[0]}}}"
    if template.is_reference:
        where = _redacted(resolved) if whole and resolved is not None else None
        return f"{template.template} ({where})" if where else template.template
    return _redacted(template.template) or "the URL as the plan writes it"


def _redacted(url: str) -> str | None:
    shown = redact_url(url)
    return None if shown.startswith(("?", "<")) or "://?" in shown else shown


@dataclass
class EndpointProbe:
    """One URL of one endpoint of a chain, and what it answered to ``eth_chainId``."""

    index: int  # position in the chain's ``rpc`` list
    kind: str  # "url" or "ws"
    template: Secret
    url: str | None = field(default=None, repr=False)  # resolved; None when a variable is unset
    resolved: bool = False  # its variables are set (the URL may still be malformed)
    chain_id: int | None = None
    error: str | None = None

    @property
    def path(self) -> Path:
        return (self.index, self.kind)

    @property
    def shown(self) -> str:
        return shown_url(self.template, self.url)


@dataclass
class DoctorContext:
    """The run's inputs and the live connections the checks share.

    Args:
        loaded: the plan.
        environ: where ``${VAR}`` references resolve.
        chain: only this chain's endpoints, contracts, Safes and steps are checked.
        deliver_test: channels receive a test message.
        timeout: seconds each endpoint has to answer.
    """

    loaded: LoadedPlan
    environ: dict[str, str]
    chain: str | None = None
    deliver_test: bool = False
    timeout: float = 5.0
    _probes: dict[str, list[EndpointProbe]] = field(default_factory=dict, repr=False)
    _clients: dict[str, RpcClient] = field(default_factory=dict, repr=False)
    _signers: dict[str, LocalSigner | BreakglassError] = field(default_factory=dict, repr=False)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.chain is not None and self.chain not in self.plan.chains:
            known = ", ".join(sorted(self.plan.chains)) or "none"
            raise PlanError(f"the plan has no chain {self.chain!r} (chains: {known})")

    @property
    def plan(self) -> Plan:
        return self.loaded.plan

    def in_scope(self, chain: str) -> bool:
        return self.chain is None or chain == self.chain

    def chains(self) -> dict[str, Chain]:
        """The chains this run looks at."""
        return {name: c for name, c in self.plan.chains.items() if self.in_scope(name)}

    # -- endpoints ------------------------------------------------------------------------

    async def probe(self, chain: str) -> list[EndpointProbe]:
        """Every URL of ``chain`` (HTTP and WebSocket), asked for its chain id once."""
        async with self._locks.setdefault(chain, asyncio.Lock()):
            if chain not in self._probes:
                probes = _probes_of(self.plan.chains[chain], self.environ)
                await asyncio.gather(*(self._ask(p) for p in probes if p.url is not None))
                self._probes[chain] = probes
        return self._probes[chain]

    async def _ask(self, probe: EndpointProbe) -> None:
        assert probe.url is not None
        client: JsonRpcClient
        if probe.url.lower().startswith(("ws://", "wss://")):
            client = WsRpcClient(probe.url, timeout=self.timeout)
        else:
            client = RpcClient(probe.url, timeout=self.timeout)
        try:
            probe.chain_id = int(await client.request("eth_chainId", []), 16)
        except EndpointError as exc:
            probe.error = f"{exc.kind}: {exc.detail}" if exc.detail else exc.kind
        except (TypeError, ValueError):
            probe.error = "its eth_chainId answer is not a hex number"
        finally:
            await client.aclose()

    async def _http_url(self, chain: str) -> str:
        expected = self.plan.chains[chain].chain_id
        for probe in await self.probe(chain):
            url = probe.url
            if probe.chain_id == expected and url and url.lower().startswith("http"):
                return url
        raise NotChecked(
            f"no HTTP endpoint of chain {chain} answers with chain id {expected} "
            "(see endpoints.chain-id)"
        )

    async def rpc(self, chain: str) -> RpcClient:
        """A client on the first HTTP endpoint of ``chain`` that answers with the plan's
        chain id (HTTP because Safe reads go through web3's HTTP provider).

        Raises:
            NotChecked: no HTTP endpoint of the chain answers with its chain id.
        """
        if chain not in self._clients:
            url = await self._http_url(chain)
            self._clients[chain] = RpcClient(url, timeout=self.timeout)
        return self._clients[chain]

    async def rpc_url(self, chain: str) -> str:
        """The URL behind :meth:`rpc`, for libraries that open their own connection."""
        return await self._http_url(chain)

    # -- keys -----------------------------------------------------------------------------

    def load_signer(self, name: str) -> LocalSigner | BreakglassError:
        """Signer ``name``'s key, decrypted once, or the error that stopped it loading."""
        if name not in self._signers:
            try:
                self._signers[name] = load_local_signer(
                    self.plan, name, base_dir=self.loaded.base_dir, environ=self.environ
                )
            except BreakglassError as exc:
                self._signers[name] = exc
        return self._signers[name]

    def signer_address(self, name: str) -> str:
        """The address signer ``name`` acts from: its key's, else the plan's ``address``.

        Raises:
            NotChecked: the key does not load and the plan gives no address.
        """
        config = self.plan.signers.get(name)
        if config is None:
            raise NotChecked(f"the plan has no signer {name!r}")
        if isinstance(config, SafeSigner):
            return config.address
        loaded = self.load_signer(name)
        if isinstance(loaded, LocalSigner):
            return loaded.address
        if config.address is not None:
            return config.address
        raise NotChecked(f"signer {name!r} has no address in the plan and its key does not load")

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


def _probes_of(chain: Chain, environ: Mapping[str, str]) -> list[EndpointProbe]:
    probes: list[EndpointProbe] = []
    for index, endpoint in enumerate(chain.rpc):
        for kind, template in (("url", endpoint.url), ("ws", endpoint.ws)):
            if template is None:
                continue
            probe = EndpointProbe(index, kind, template)
            try:
                url = template.resolve(dict(environ))
            except ConfigError as exc:
                probe.error = str(exc)
            else:
                probe.resolved = True
                probe.error = _url_problem(url)
                probe.url = url if probe.error is None else None
            probes.append(probe)
    return probes


def _url_problem(url: str) -> str | None:
    """Why ``url`` is no JSON-RPC endpoint URL, or None; the text never quotes it."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # a malformed port raises here
        if parts.scheme.lower() in {"http", "https"}:
            httpx.URL(url)  # what the client will send to must parse
    except (ValueError, httpx.InvalidURL):
        return "does not parse"
    if parts.scheme.lower() not in {"http", "https", "ws", "wss"}:
        return "is not an http(s):// or ws(s):// URL"
    if not parts.hostname:
        return "has no host"
    return None
