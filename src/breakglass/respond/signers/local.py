"""Local signing keys: an encrypted keystore file, or a raw key from the environment.

A key is decrypted once, registered with the log redactor at once, and kept only inside
:class:`LocalSigner`, whose ``repr`` shows the name and address alone. Error messages name
the signer and the file, never the key or the password.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from breakglass.errors import ConfigError
from breakglass.logs import register_secret
from breakglass.plan.models.base import Secret
from breakglass.plan.models.chain import EnvSigner, ExternalSigner, KeystoreSigner, SafeSigner
from breakglass.plan.models.plan import Plan
from breakglass.respond.signers.keys import KeyAccount

__all__ = ["LocalSigner", "Prompt", "SignerError", "load_local_signer"]

_log = structlog.get_logger("breakglass.respond")

Prompt = Callable[[str], str]
"""Asks a person for a secret (e.g. ``getpass.getpass``); used when the plan gives none."""


class SignerError(ConfigError):
    """A signer cannot be loaded: unknown, unreadable, wrong password, or a Safe."""


@dataclass(frozen=True, repr=False)
class LocalSigner:
    """A signing key this machine holds, by its plan name."""

    name: str
    account: KeyAccount = field(compare=False)

    @property
    def address(self) -> str:
        return str(self.account.address)

    def __repr__(self) -> str:
        return f"LocalSigner({self.name!r}, {self.address})"


def load_local_signer(
    plan: Plan,
    name: str,
    *,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    prompt: Prompt | None = None,
) -> LocalSigner:
    """Load the key signer ``name`` of ``plan``.

    Args:
        base_dir: the plan's directory; keystore paths are relative to it.
        environ: where ``${VAR}`` references are looked up (default: ``os.environ``).
        prompt: asks for a keystore password the plan does not reference.

    Raises:
        SignerError: unknown signer, a Safe, missing variable, unreadable keystore, wrong
            password, or an address other than the plan's.
    """
    config = plan.signers.get(name)
    if config is None:
        known = ", ".join(sorted(plan.signers)) or "none"
        raise SignerError(f"the plan has no signer {name!r} (signers: {known})")
    if isinstance(config, SafeSigner):
        raise SignerError(f"signer {name!r} is a Safe; it acts through a safe-proposal step")
    if isinstance(config, ExternalSigner):
        raise SignerError(f"signer {name!r} signs remotely; its key is not on this machine")
    env = dict(os.environ if environ is None else environ)
    if isinstance(config, KeystoreSigner):
        account = _from_keystore(name, config, base_dir, env, prompt)
    else:
        account = _from_env(name, config, env)
    expected = config.address
    if expected is not None and account.address.lower() != expected.lower():
        raise SignerError(
            f"signer {name!r}: the key is for {account.address}, but the plan says {expected}"
        )
    return LocalSigner(name, account)


def _from_keystore(
    name: str,
    config: KeystoreSigner,
    base_dir: Path,
    env: dict[str, str],
    prompt: Prompt | None,
) -> KeyAccount:
    # eth-account (and py_ecc under it) only for a keystore: scrypt is slow anyway.
    from eth_account import Account  # noqa: PLC0415

    path = config.path if config.path.is_absolute() else base_dir / config.path
    try:
        keystore = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SignerError(f"signer {name!r}: cannot read keystore {path}: {exc.strerror}") from None
    except ValueError:
        raise SignerError(f"signer {name!r}: {path} is not a JSON keystore") from None
    password = _password(name, config, env, prompt)
    register_secret(password)
    try:
        key = Account.decrypt(keystore, password)
    except (ValueError, KeyError, TypeError):
        raise SignerError(
            f"signer {name!r}: cannot decrypt {path} (wrong password or damaged keystore)"
        ) from None
    return _account(key.to_0x_hex())


def _password(name: str, config: KeystoreSigner, env: dict[str, str], prompt: Prompt | None) -> str:
    if config.password is not None:
        return _resolve(name, "password", config.password, env)
    if prompt is None:
        raise SignerError(
            f"signer {name!r}: the plan gives no password reference and there is no prompt "
            "(set `password: ${VAR}` or run interactively)"
        )
    return prompt(f"Password for signer {name!r}: ")


def _from_env(name: str, config: EnvSigner, env: dict[str, str]) -> KeyAccount:
    key = _resolve(name, "key", config.key, env)
    register_secret(key)
    register_secret(key if key.startswith("0x") else "0x" + key)
    _log.warning(
        "signer.raw_key_from_environment",
        signer=name,
        advice="a raw private key in the environment leaks easily; prefer a keystore",
    )
    try:
        return _account(key)
    except (ValueError, TypeError):
        raise SignerError(
            f"signer {name!r}: the variable {', '.join(config.key.env_vars)} holds no valid "
            "private key"
        ) from None


def _resolve(name: str, what: str, secret: Secret, env: dict[str, str]) -> str:
    missing = [var for var in secret.env_vars if var not in env]
    if missing:
        raise SignerError(f"signer {name!r}: {what} variable {', '.join(missing)} is not set")
    return secret.resolve(env)


def _account(key: str) -> KeyAccount:
    return KeyAccount(key)
