"""Who signs: local keys (keystore, environment) and Safe multisigs."""

from __future__ import annotations

from breakglass.respond.signers.local import LocalSigner, SignerError, load_local_signer

__all__ = ["LocalSigner", "SignerError", "load_local_signer"]
