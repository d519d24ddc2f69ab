from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models import Plan, SafeSigner

_PAUSING = {"pause", "unpause", "revoke-role"}


def _address_of(plan: Plan, ref: str) -> str | None:
    if ref.startswith("0x"):
        return ref.lower()
    signer = plan.signers.get(ref)
    return signer.address.lower() if signer is not None and signer.address else None


class KeySeparation(PlanCheck):
    id = "keys.separation"
    title = "The pauser key is not an admin or owner key"
    severity = CheckSeverity.ERROR
    explanation = (
        "The guardian key that pauses sits on a server so it can act in seconds, which makes "
        "it the key most likely to leak. If it is also an owner or admin, a leak hands over "
        "the protocol. Pausing keys must hold no other power."
    )
    fix = (
        "Use a dedicated signer for pause steps, give contracts an owner/admin that is a "
        "Safe or another key, and keep the guardian out of that Safe's owners."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        plan = ctx.plan
        pausers = {
            step.signer
            for playbook in plan.playbooks
            for step in playbook.steps
            if step.action in _PAUSING and hasattr(step, "signer")
        }
        powers: dict[str, list[str]] = {}  # address or signer name -> what it controls
        for name, contract in plan.contracts.items():
            for kind in ("owner", "admin"):
                ref = getattr(contract, kind)
                if ref is None:
                    continue
                powers.setdefault(ref, []).append(f"{kind} of '{name}'")
                if (address := _address_of(plan, ref)) is not None:
                    powers.setdefault(address, []).append(f"{kind} of '{name}'")
        safes = {n: s for n, s in plan.signers.items() if isinstance(s, SafeSigner)}
        for pauser in sorted(pausers):
            address = _address_of(plan, pauser)
            held = powers.get(pauser, []) + (powers.get(address, []) if address else [])
            if held:
                yield Finding(
                    f"pause signer '{pauser}' is also {', '.join(sorted(set(held)))}",
                    ("signers", pauser),
                )
            for safe_name, safe in safes.items():
                owner_addresses = {o.lower() for o in safe.owners}
                if pauser in safe.local_owners or (address and address in owner_addresses):
                    yield Finding(
                        f"pause signer '{pauser}' is an owner of Safe '{safe_name}'",
                        ("signers", pauser),
                        severity=CheckSeverity.WARNING,
                    )
