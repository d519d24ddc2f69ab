"""Reporting regimes as data: the pydantic models of ``report/regimes/*.yaml`` and loading.

A regime names who it binds, the legal reference, the recipient and its deadlines. Each
deadline starts at an event in :data:`EVENTS` or at the filing of an earlier deadline
(``previous:<name>``), runs for ``offset`` ``unit`` and may be capped by ``not_later_than``.
"""

from __future__ import annotations

from datetime import time
from functools import cache
from importlib.resources import files
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from breakglass.errors import BreakglassError

__all__ = [
    "EVENTS",
    "Bound",
    "Calendar",
    "DeadlineSpec",
    "Regime",
    "Unit",
    "get_regime",
    "holidays_of",
    "load_regimes",
    "parse_regime",
]

EVENTS = ("awareness", "classification-major", "materiality-determination")
"""Events that start clocks. ``awareness`` defaults to the incident's ``detected_at``."""

Unit = Literal["hours", "calendar-days", "business-days", "months"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Calendar(_Model):
    """Holidays for business days: a country (and subdivision) and/or a market, e.g. NYSE."""

    country: str | None = None
    subdivision: str | None = None
    market: str | None = None

    @model_validator(mode="after")
    def _known(self) -> Calendar:
        if self.country is None and self.market is None:
            raise ValueError("a calendar needs a country or a market")
        holidays_of(self)  # unknown codes fail here, when the regime loads
        return self


class Bound(_Model):
    """A time limit: ``offset`` ``unit`` after ``start``."""

    start: str
    offset: int = Field(gt=0)
    unit: Unit

    @field_validator("start")
    @classmethod
    def _event(cls, value: str) -> str:
        if value not in EVENTS and not value.startswith("previous:"):
            raise ValueError(f"start is one of {', '.join(EVENTS)} or previous:<deadline>")
        return value


class DeadlineSpec(Bound):
    """One report a regime requires, and its time limit."""

    name: str = Field(min_length=1)
    description: str | None = None
    not_later_than: Bound | None = None
    end_of_day: bool = Field(default=False, description="Day units: due at the day's end.")
    cutoff: time | None = Field(default=None, description="Local time the due day ends.")

    @model_validator(mode="after")
    def _day_options(self) -> DeadlineSpec:
        if self.unit == "hours" and (self.end_of_day or self.cutoff is not None):
            raise ValueError("end_of_day and cutoff apply to day and month units only")
        return self


class Regime(_Model):
    """A reporting regime: who it binds, the legal reference, the recipient, the deadlines."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1)
    jurisdiction: str = Field(min_length=1)
    reference: str = Field(min_length=1, description="The article or section it comes from.")
    url: str | None = None
    applies_when: str = Field(min_length=1)
    recipient: str = Field(min_length=1)
    notes: str | None = None
    timezone: str = "UTC"
    calendar: Calendar | None = None
    deadlines: list[DeadlineSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Regime:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        seen: set[str] = set()
        for spec in self.deadlines:
            for bound in (spec, spec.not_later_than):
                if bound is None:
                    continue
                if bound.start.startswith("previous:") and bound.start[9:] not in seen:
                    raise ValueError(f"{spec.name}: {bound.start} names no earlier deadline")
                if bound.unit == "business-days" and self.calendar is None:
                    raise ValueError(f"{spec.name}: business days need a calendar")
            if spec.name in seen:
                raise ValueError(f"deadline {spec.name!r} appears twice")
            seen.add(spec.name)
        return self

    def spec(self, name: str) -> DeadlineSpec:
        """The deadline called ``name``."""
        for spec in self.deadlines:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.deadlines)
        raise BreakglassError(f"regime {self.id} has no deadline {name!r} (it has: {known})")


def parse_regime(text: str) -> Regime:
    """A regime from its YAML text."""
    return Regime.model_validate(yaml.safe_load(text))


@cache
def load_regimes() -> dict[str, Regime]:
    """The shipped regimes by id."""
    regimes: dict[str, Regime] = {}
    for entry in sorted(files("breakglass.report").joinpath("regimes").iterdir(), key=str):
        if entry.name.endswith(".yaml"):
            regime = parse_regime(entry.read_text(encoding="utf-8"))
            regimes[regime.id] = regime
    return regimes


def get_regime(regime_id: str) -> Regime:
    """A shipped regime, or :class:`BreakglassError` naming the known ones."""
    regimes = load_regimes()
    if regime_id not in regimes:
        raise BreakglassError(f"unknown regime {regime_id!r}; known: {', '.join(regimes)}")
    return regimes[regime_id]


@cache
def holidays_of(calendar: Calendar) -> tuple[holidays.HolidayBase, ...]:
    """The holiday sets of a calendar (``holidays`` library); a day in any is not worked."""
    days = []
    try:
        if calendar.country is not None:
            days.append(holidays.country_holidays(calendar.country, subdiv=calendar.subdivision))
        if calendar.market is not None:
            days.append(holidays.financial_holidays(calendar.market))
    except NotImplementedError as exc:  # unknown country, subdivision or market
        raise ValueError(str(exc)) from None
    return tuple(days)
