"""``${VAR}`` references resolve, and every key signer's key loads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from pydantic import BaseModel

from breakglass.doctor.base import DoctorCheck, Finding
from breakglass.doctor.context import DoctorContext
from breakglass.plan.issues import Path, format_path
from breakglass.plan.models.base import Secret
from breakglass.plan.models.chain import ExternalSigner, KeystoreSigner, SafeSigner
from breakglass.respond.signers.local import LocalSigner

__all__ = ["EnvVariablesCheck", "SignerKeysCheck", "plan_secrets"]


def plan_secrets(value: object, path: Path = ()) -> Iterator[tuple[Path, Secret]]:
    """Every :class:`Secret` in a plan (or any part of one), with its path in the file."""
    if isinstance(value, Secret):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from plan_secrets(getattr(value, name), (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from plan_secrets(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from plan_secrets(item, (*path, index))


class EnvVariablesCheck(DoctorCheck):
    id = "env.variables"
    title = "Every ${VAR} the plan refers to is set"
    needs = "The environment breakglass runs in (the doctor's own)."
    fix = (
        "Set each variable named where the monitor and the `pause` command run (the service "
        "unit, the container, the CI secret store), or remove the reference from the plan."
    )

    async def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
        by_var: dict[str, list[Path]] = {}
        for path, secret in plan_secrets(ctx.plan):
            if path[:1] == ("chains",) and not ctx.in_scope(str(path[1])):
                continue
            for var in secret.env_vars:
                by_var.setdefault(var, []).append(path)
        for var, paths in sorted(by_var.items()):
            used = ", ".join(format_path(p) for p in paths[:3])
            more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
            if var not in ctx.environ:
                yield Finding.fail(
                    f"${{{var}}}", f"not set; the plan uses it at {used}{more}", paths[0]
                )
            elif not ctx.environ[var].strip():
                yield Finding.fail(f"${{{var}}}", f"set but empty; used at {used}{more}", paths[0])
            else:
                yield Finding.ok(f"${{{var}}}", f"set (used at {used}{more})", paths[0])


class SignerKeysCheck(DoctorCheck):
    id = "signers.keys"
    title = "Every key signer's key loads: keystores decrypt, raw keys parse"
    needs = "Keystore files and their password variables; `env` signers' key variables."
    fix = (
        "Point `path` at the keystore (relative to the plan), set its password variable to "
        "the password it was encrypted with, and make `address` (when given) the key's own."
    )

    async def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
        for name, config in ctx.plan.signers.items():
            if isinstance(config, SafeSigner):
                continue
            path: Path = ("signers", name)
            if isinstance(config, ExternalSigner):
                # Asking for a signature could wait on a person approving it (Clef).
                message = f"signs remotely at {config.url} for {config.address} (not asked)"
                yield Finding.ok(name, message, path)
                continue
            if isinstance(config, KeystoreSigner) and config.password is None:
                yield Finding.warn(
                    name,
                    "the keystore password is asked at a prompt, so the doctor did not decrypt "
                    "it and an unattended monitor cannot sign; give `password: ${VAR}`",
                    path,
                )
                continue
            loaded = ctx.load_signer(name)
            if isinstance(loaded, LocalSigner):
                kind = "keystore decrypts" if isinstance(config, KeystoreSigner) else "key loads"
                yield Finding.ok(name, f"{kind}: {loaded.address}", path)
            else:
                yield Finding.fail(name, str(loaded), path)
