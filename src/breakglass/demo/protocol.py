"""Deploy the demo's lending protocol on a local anvil, from real third-party bytecode.

* three OpenZeppelin 4.9.6 ``ERC20PresetMinterPauser`` tokens (npm build artefacts): the
  pool's asset ``dUSD``, its collateral ``dETH`` and ``dBTC`` (only for a second market);
* a Uniswap V2 factory and two pairs (npm ``@uniswap/v2-core`` build): ``dETH/dUSD``, the
  pool's price oracle, and ``dUSD/dBTC``, the market the attacker flash-swaps from;
* a Safe 1.4.1 2-of-3 (npm ``@safe-global/safe-contracts``: SafeL2 behind a proxy) that holds
  the pool's ``DEFAULT_ADMIN_ROLE``;
* :file:`DemoLendingPool.sol` (OpenZeppelin ``AccessControl`` + ``Pausable``, compiled with
  solcjs) whose ``PAUSER_ROLE`` the guardian key and the Safe hold;
* ten honest users: six supply dUSD, four post dETH and borrow dUSD.

Everything is deterministic: anvil's fixed mnemonic, users' keys derived from fixed strings,
fixed amounts, one transaction per block in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_utils.crypto import keccak

from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.scenario.setup import SetupChain, artifact, bytecode
from breakglass.scenario.vault import calldata

__all__ = ["UNIT", "Protocol", "deploy_protocol", "user_keys"]

UNIT = 10**18
"""One whole token (every demo token has 18 decimals)."""

_OZ = "node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json"
_UNI = "node_modules/@uniswap/v2-core/build/{}.json"
_SAFE = "node_modules/@safe-global/safe-contracts/build/artifacts/contracts/{}"
_SAFE_PARTS = {
    "SafeL2": "SafeL2.sol/SafeL2.json",
    "SafeProxyFactory": "proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
    "CompatibilityFallbackHandler": (
        "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json"
    ),
}
_ZERO = "0x" + "00" * 20

# anvil's dev accounts: who plays which part.
DEPLOYER, GUARDIAN, ATTACKER = 0, 1, 2
SAFE_OWNERS = (3, 4, 5)

SUPPLIERS, BORROWERS = 6, 4
SUPPLY = 100_000 * UNIT  # dUSD each supplier lends
POSTED = 50 * UNIT  # dETH each borrower posts
BORROWED = 40_000 * UNIT  # dUSD each borrower takes
ORACLE_ETH, ORACLE_USD = 100 * UNIT, 200_000 * UNIT  # dETH/dUSD pair: 2,000 dUSD per dETH
LENDER_USD, LENDER_BTC = 1_000_000 * UNIT, 25 * UNIT  # dUSD/dBTC pair the attacker borrows from
ATTACKER_ETH = 50 * UNIT  # dETH the attacker bought beforehand, to post as collateral


def user_keys(count: int = SUPPLIERS + BORROWERS) -> list[str]:
    """The honest users' private keys, derived from fixed strings."""
    return ["0x" + keccak(text=f"breakglass demo user {i}").hex() for i in range(count)]


@dataclass(frozen=True, slots=True)
class Protocol:
    """Addresses (lower-case) and keys of the deployed demo protocol."""

    chain_id: int
    usd: str
    eth: str
    btc: str
    factory: str
    oracle_pair: str
    lender_pair: str
    pool: str
    safe: str
    safe_owners: tuple[str, ...]
    guardian: str
    guardian_key: str
    attacker: str
    attacker_key: str
    users: tuple[str, ...]
    deployed_at: int
    """The block of the pool's deployment (where the analysis starts looking for users)."""
    pool_abi: list[dict[str, Any]]
    token_abi: list[dict[str, Any]]


def _address_word(word: str) -> str:
    return "0x" + word.removeprefix("0x")[-40:].lower()


def _deploy_safe(chain: SetupChain, deployer: str, owners: list[str]) -> str:
    built = {name: artifact(_SAFE.format(rel)) for name, rel in _SAFE_PARTS.items()}
    addresses = {name: chain.deploy(deployer, bytecode(art)) for name, art in built.items()}
    setup = calldata(
        "setup(address[],uint256,address,bytes,address,address,uint256,address)",
        owners, 2, _ZERO, b"", addresses["CompatibilityFallbackHandler"], _ZERO, 0, _ZERO,
    )  # fmt: skip
    create = calldata(
        "createProxyWithNonce(address,bytes,uint256)",
        addresses["SafeL2"], bytes.fromhex(setup[2:]), 1,
    )  # fmt: skip
    proxy = _address_word(chain.call(addresses["SafeProxyFactory"], create))
    chain.send(deployer, create, addresses["SafeProxyFactory"])
    return proxy


def _add_liquidity(chain: SetupChain, deployer: str, pair: str, amounts: dict[str, int]) -> None:
    for token, amount in amounts.items():
        chain.send(deployer, calldata("mint(address,uint256)", pair, amount), token)
    chain.send(deployer, calldata("mint(address)", deployer), pair)


def deploy_protocol(anvil: Anvil) -> Protocol:
    """Deploy everything and have the honest users supply and borrow; see the module doc."""
    chain = SetupChain(anvil, mine=False, label="demo set-up")
    accounts = [a.lower() for a in anvil.accounts]
    deployer, guardian, attacker = accounts[DEPLOYER], accounts[GUARDIAN], accounts[ATTACKER]
    owners = [accounts[i] for i in SAFE_OWNERS]
    token = artifact(_OZ)
    usd, eth, btc = (
        chain.deploy(deployer, bytecode(token), encode(["string", "string"], [name, symbol]))
        for name, symbol in (("Demo USD", "dUSD"), ("Demo ETH", "dETH"), ("Demo BTC", "dBTC"))
    )
    factory_art = artifact(_UNI.format("UniswapV2Factory"))  # creates UniswapV2Pair pairs
    factory = chain.deploy(deployer, bytecode(factory_art), encode(["address"], [deployer]))
    pairs = {}
    for a, b in ((eth, usd), (usd, btc)):
        chain.send(deployer, calldata("createPair(address,address)", a, b), factory)
        pairs[(a, b)] = _address_word(
            chain.call(factory, calldata("getPair(address,address)", a, b))
        )
    oracle_pair, lender_pair = pairs[(eth, usd)], pairs[(usd, btc)]
    _add_liquidity(chain, deployer, oracle_pair, {eth: ORACLE_ETH, usd: ORACLE_USD})
    _add_liquidity(chain, deployer, lender_pair, {usd: LENDER_USD, btc: LENDER_BTC})

    safe = _deploy_safe(chain, deployer, owners)
    built = compile_file("DemoLendingPool.sol", node_imports=True)["DemoLendingPool"]
    args = encode(["address"] * 5, [usd, eth, oracle_pair, safe, guardian])
    deploy_receipt = chain.send(deployer, built.bytecode + args.hex())
    pool = str(deploy_receipt["contractAddress"]).lower()

    keys = user_keys()
    users = [Account.from_key(k).address.lower() for k in keys]
    for index, user in enumerate(users):
        anvil.rpc("anvil_setBalance", [user, hex(10 * UNIT)])
        if index < SUPPLIERS:
            chain.send(deployer, calldata("mint(address,uint256)", user, SUPPLY), usd)
            chain.as_user(user, [
                (usd, calldata("approve(address,uint256)", pool, SUPPLY)),
                (pool, calldata("supply(uint256)", SUPPLY)),
            ])  # fmt: skip
        else:
            chain.send(deployer, calldata("mint(address,uint256)", user, POSTED), eth)
            chain.as_user(user, [
                (eth, calldata("approve(address,uint256)", pool, POSTED)),
                (pool, calldata("depositCollateral(uint256)", POSTED)),
                (pool, calldata("borrow(uint256)", BORROWED)),
            ])  # fmt: skip
    chain.send(deployer, calldata("mint(address,uint256)", attacker, ATTACKER_ETH), eth)
    return Protocol(
        chain_id=anvil.chain_id,
        usd=usd,
        eth=eth,
        btc=btc,
        factory=factory,
        oracle_pair=oracle_pair,
        lender_pair=lender_pair,
        pool=pool,
        safe=safe,
        safe_owners=tuple(owners),
        guardian=guardian,
        guardian_key=anvil.private_keys[GUARDIAN],
        attacker=attacker,
        attacker_key=anvil.private_keys[ATTACKER],
        users=tuple(users),
        deployed_at=int(deploy_receipt["blockNumber"], 16),
        pool_abi=built.abi,
        token_abi=list(token["abi"]),
    )
