"""``external-filter``: an ``event``, ``call`` or ``tx`` rule whose matches pass through
filter scripts, with OpenZeppelin Monitor's contract for them.

Each script gets one JSON object on stdin, ``{"args": [...], "monitor_match": {"EVM": ...}}``
(the arguments are also on its command line), and its last line of output decides: ``true``
drops the match, ``false`` keeps it. A script that times out, fails or prints anything else
keeps the match and logs why: a broken filter must never hide an alert. Scripts run inside
block evaluation, so ``timeout_ms`` bounds how long one match can delay it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, cast

import orjson
import structlog
from pydantic import Field, ValidationInfo, field_validator, model_validator

from breakglass.chain.codec import DecodedLog
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Rule, RuleParams, RuleSetup
from breakglass.detect.rules.yaml.call import CallYamlRule
from breakglass.detect.rules.yaml.event import EventYamlRule
from breakglass.detect.rules.yaml.tx import TxYamlRule
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models.base import PlanModel

__all__ = ["ExternalFilterParams", "ExternalFilterRule", "FilterScript", "run_filter"]

_log = structlog.get_logger("breakglass.detect")
_INNER: dict[str, type[Rule]] = {"event": EventYamlRule, "call": CallYamlRule, "tx": TxYamlRule}
_RUNNERS = {"bash": ("bash",), "python": (sys.executable,), "javascript": ("node",)}


class FilterScript(PlanModel):
    script: Path = Field(description="The script, relative to the plan.")
    language: Literal["bash", "python", "javascript"]
    arguments: list[str] = Field(default_factory=list)
    timeout_ms: int = Field(default=1000, gt=0, le=60_000)

    @field_validator("script")
    @classmethod
    def _from_plan(cls, value: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get("base_dir")
        if not value.is_absolute() and base is not None:
            value = Path(base) / value
        if base is not None and not value.is_file():
            raise ValueError(f"no such script: {value}")
        return value


class ExternalFilterParams(RuleParams):
    kind: Literal["event", "call", "tx"] = Field(description="The rule whose matches it filters.")
    params: dict[str, Any] = Field(description="That rule's own params.")
    filters: list[FilterScript] = Field(
        min_length=1,
        description="Scripts run in order ({script, language: bash|python|javascript, "
        "arguments, timeout_ms}); the first that prints `true` last drops the match.",
    )

    @model_validator(mode="after")
    def _inner_params(self) -> ExternalFilterParams:
        _INNER[self.kind].Params.model_validate(self.params)
        return self


def run_filter(script: FilterScript, payload: Mapping[str, Any], *, rule: str) -> bool:
    """Whether ``script`` keeps the match (its last line is not ``true``)."""
    command = [*_RUNNERS[script.language], str(script.script), *script.arguments]
    body = orjson.dumps({"args": script.arguments, "monitor_match": payload})
    try:
        # The plan names the script to run, as the monitor configuration did.
        done = subprocess.run(
            command,
            input=body,
            capture_output=True,
            timeout=script.timeout_ms / 1000,
            check=False,
        )
    except subprocess.TimeoutExpired:
        _log.warning("detect.filter_timeout", rule=rule, script=str(script.script))
        return True
    except OSError as exc:
        _log.error("detect.filter_failed", rule=rule, script=str(script.script), error=str(exc))
        return True
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    verdict = lines[-1].strip().lower() if lines else ""
    if done.returncode != 0 or verdict not in ("true", "false"):
        _log.error(
            "detect.filter_failed",
            rule=rule,
            script=str(script.script),
            exit_code=done.returncode,
            last_line=verdict[:80],
            stderr=done.stderr.decode(errors="replace")[-300:],
        )
        return True
    return verdict == "false"


class ExternalFilterRule(Rule):
    id = "external-filter"
    title = "A rule whose matches pass through filter scripts"
    category = "yaml"
    severity = Severity.HIGH
    confidence = Confidence.MEDIUM
    description = (
        "The `kind` rule (event, call or tx) with its `params` matched, and every filter "
        "script kept the match (OpenZeppelin Monitor's filter-script contract)."
    )
    recommendation = (
        "Keep scripts fast and deterministic: they run while the block is evaluated, and a "
        "failing or slow script keeps the match rather than hide it."
    )
    Params = ExternalFilterParams

    def __init__(self, setup: RuleSetup) -> None:
        params = cast(ExternalFilterParams, setup.params)
        inner_class = _INNER[params.kind]
        inner_setup = RuleSetup(
            setup.rule_id,
            setup.chain,
            setup.targets,
            inner_class.Params.model_validate(params.params),
            setup.severity,
        )
        self.inner = inner_class(inner_setup)
        self.setup = setup
        self.codec = self.inner.codec
        self.needs = self.inner.needs
        self.filters = params.filters
        self.kind = params.kind

    def log_keys(self) -> Iterator[tuple[str, str]]:
        yield from self.inner.log_keys()

    def tx_keys(self) -> Iterable[tuple[str | None, str | None]]:
        return self.inner.tx_keys()

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        return self._kept(block, self.inner.on_log(block, log))

    def on_tx(
        self, block: BlockAdded, tx: Mapping[str, Any], receipt: Mapping[str, Any] | None
    ) -> Iterable[Finding]:
        return self._kept(block, self.inner.on_tx(block, tx, receipt))

    def on_trace(
        self, block: BlockAdded, tx_hash: str, call: Mapping[str, Any]
    ) -> Iterable[Finding]:
        return self._kept(block, self.inner.on_trace(block, tx_hash, call))

    def _kept(self, block: BlockAdded, findings: Iterable[Finding]) -> list[Finding]:
        kept = []
        for finding in findings:
            payload = self._match(block, finding)
            if all(run_filter(f, payload, rule=self.rule_id) for f in self.filters):
                kept.append(finding)
        return kept

    def _match(self, block: BlockAdded, finding: Finding) -> dict[str, Any]:
        data = finding.data
        args = data.get("args") or {}
        entries = [
            {"name": k, "value": _text(v), "kind": type(v).__name__} for k, v in args.items()
        ]
        signature = data.get("event") or data.get("function")
        matched = {"signature": signature, "args": entries} if signature else None
        events = [matched] if matched and self.kind == "event" else []
        functions = [matched] if matched and self.kind == "call" else []
        return {
            "EVM": {
                "matched_on_args": {"events": events or None, "functions": functions or None},
                "monitor": {"name": self.rule_id},
                "transaction": {"hash": finding.tx_hash, "blockNumber": hex(block.number)},
                "finding": {
                    "title": finding.title,
                    "data": orjson.loads(orjson.dumps(data, default=str)),
                },
            }
        }


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
