"""Containment: playbooks, signers and the actions that pause, propose and verify.

The package namespace is kept empty so that importing a light module (``respond.calls``,
``respond.plancheck``) does not load web3 and safe-eth-py. Entry points:
:class:`breakglass.respond.responder.Responder` (the monitor's reactor),
:class:`breakglass.respond.runner.PlaybookRunner`, :mod:`breakglass.respond.service` (what
the CLI and API call) and :mod:`breakglass.respond.env` (live chains or a dry-run fork).
"""

__all__: list[str] = []
