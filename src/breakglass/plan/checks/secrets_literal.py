"""The ``secrets.literal`` check: no credential is written into the plan itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.issues import Path, format_path
from breakglass.plan.secret_shapes import secret_kind

__all__ = ["LiteralSecrets"]

# Values under these keys are code, calldata or identifiers, where 64 hex digits are a
# bytes32 role or a hash rather than a private key.
_MACHINE_KEYS = frozenset(
    {"params", "args", "role", "verify", "function", "check", "unpause", "analysis", "where"}
)


def _strings(node: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))
    elif isinstance(node, str):
        yield path, node


class LiteralSecrets(PlanCheck):
    id = "secrets.literal"
    title = "No key, token or password is written into the plan"
    severity = CheckSeverity.ERROR
    explanation = (
        "A plan is committed, reviewed and shared; a credential written into it is leaked to "
        "everyone who can read it. breakglass recognises them by shape: a password or an "
        "`apikey=` query in a URL, a provider key in an RPC URL's path, a Telegram bot, "
        "Slack, Discord, GitHub or AWS token, and in descriptions and contacts a 64-hex "
        "private key or a recovery phrase. The finding says what kind of secret and where, "
        "never the secret."
    )
    fix = (
        "Move the value to an environment variable and write `${VAR}` in its place (e.g. "
        "`https://eth-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY}`, "
        "`tgram://${TELEGRAM_BOT_TOKEN}/${CHAT_ID}`), then rotate the leaked credential."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        for path, value in _strings(ctx.loaded.document.data, ()):
            free_text = not any(part in _MACHINE_KEYS for part in path)
            kind = secret_kind(value, free_text=free_text)
            if kind is not None:
                yield Finding(
                    f"{format_path(path)} holds {kind} written into the plan (not shown); "
                    "use a ${VAR} reference",
                    path,
                )
