"""Shared field types for plan models: names, addresses, durations and secret references."""

from __future__ import annotations

import math
import os
import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from eth_utils.address import is_checksum_address, to_checksum_address
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    Strict,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from breakglass.errors import ConfigError

__all__ = [
    "Address",
    "Duration",
    "Flag",
    "Name",
    "PlanModel",
    "Secret",
    "SecretRef",
    "UrlModel",
    "format_duration",
]


def _magnitude(value: int | float | Decimal) -> str:
    # str() of a huge int raises (CVE-2020-10735 limit), so it is described by its size.
    return f"a {value.bit_length()}-bit integer" if isinstance(value, int) else f"{value:.3g}"


MAX_PLAN_BITS = 256
"""No amount, id or count on an EVM chain reaches it; larger is a typo or an attack (a
``1e999999999`` threshold turned into token units would run for ever)."""


class PlanModel(BaseModel):
    """Base of every plan model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _bounded_number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return value
        number: int | float | Decimal = value
        if isinstance(number, int):
            huge = number.bit_length() > MAX_PLAN_BITS
        else:
            huge = not math.isfinite(number) or abs(number) >= 2**MAX_PLAN_BITS
        if huge:
            raise PydanticCustomError(
                "plan_number",
                "a number below 2**256 (about 1.16e77), not {found}",
                {"found": _magnitude(number)},
            )
        return value


Flag = Annotated[bool, Strict()]
"""A boolean written ``true`` or ``false``; ``yes``, ``on`` and ``1`` are refused."""


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise PydanticCustomError(
            "plan_name",
            "a name of letters, digits, '_', '-' or '.', starting with a letter or digit",
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]
"""A name other parts of the plan refer to: a person, role, contract, rule, playbook, ..."""


_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _check_address(value: object) -> object:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise PydanticCustomError("plan_address", "a 0x-prefixed 20-byte hex address")
    is_mixed_case = value[2:] != value[2:].lower() and value[2:] != value[2:].upper()
    if is_mixed_case and not is_checksum_address(value):
        raise PydanticCustomError(
            "plan_address_checksum",
            "an address with a valid EIP-55 checksum (or all lower case)",
        )
    return to_checksum_address(value)


Address = Annotated[str, BeforeValidator(_check_address)]
"""An EVM address, normalised to its EIP-55 checksum form."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _parse_duration(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise PydanticCustomError("plan_duration", "a duration such as 30m, 12h, 7d or 2w")
    try:
        if isinstance(value, int | float):
            return timedelta(seconds=value)
        if isinstance(value, str) and (match := _DURATION.match(value)):
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    except (OverflowError, ValueError):
        raise PydanticCustomError(
            "plan_duration", "a duration shorter than a million days"
        ) from None
    raise PydanticCustomError("plan_duration", "a duration such as 30m, 12h, 7d or 2w")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise PydanticCustomError("plan_duration_positive", "a duration greater than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration), AfterValidator(_positive)]
"""A positive duration written as ``<number><unit>`` with unit s, m, h, d or w."""


def format_duration(value: timedelta) -> str:
    """Render a duration in the plan's own notation, e.g. ``90d`` or ``1h``."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_ENV_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


class Secret:
    """A value that may hold ``${ENV_VAR}`` references, resolved only when used.

    The plan keeps the template, never the value: ``str()``, ``repr()`` and serialisation
    all show the template, so a resolved secret cannot end up in a log line or a database
    row by printing the plan.
    """

    __slots__ = ("template",)

    def __init__(self, template: str) -> None:
        self.template = template

    @property
    def env_vars(self) -> tuple[str, ...]:
        """Names of the environment variables the value refers to."""
        return tuple(_ENV_REF.findall(self.template))

    @property
    def is_reference(self) -> bool:
        """True when the value comes from the environment rather than the plan file."""
        return bool(self.env_vars)

    def resolve(self, environ: dict[str, str] | None = None) -> str:
        """Substitute every reference from ``environ`` (default: the process environment).

        Raises:
            ConfigError: a referenced variable is not set.
        """
        env = os.environ if environ is None else environ
        missing = [name for name in self.env_vars if name not in env]
        if missing:
            raise ConfigError(f"environment variable {', '.join(missing)} is not set")
        return _ENV_REF.sub(lambda m: env[m.group(1)], self.template)

    def __repr__(self) -> str:
        return f"Secret({self.template!r})"

    def __str__(self) -> str:
        return self.template

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.template == self.template

    def __hash__(self) -> int:
        return hash(self.template)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls._validate,
            core_schema.str_schema(min_length=1),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def _validate(cls, value: str) -> Secret:
        if "${" in value and not _ENV_REF.search(value):
            raise PydanticCustomError(
                "plan_secret_syntax", "a reference of the form ${ENV_VAR} (upper case)"
            )
        return cls(value)


def _require_reference(value: Secret) -> Secret:
    if _ENV_REF.fullmatch(value.template) is None:
        raise PydanticCustomError(
            "plan_secret_literal",
            "an environment reference such as ${GUARDIAN_PASSWORD}; "
            "secrets are never written into the plan itself",
        )
    return value


SecretRef = Annotated[Secret, AfterValidator(_require_reference)]
"""A secret that must come from the environment: exactly ``${ENV_VAR}``."""


class UrlModel(PlanModel):
    """A model around a ``url``; a bare string is shorthand for ``{url: ...}``."""

    url: Secret

    @model_validator(mode="before")
    @classmethod
    def _url_shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"url": data}
        return data
