"""The shape of a doctor check: metadata as class constants, findings per subject."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from breakglass.doctor.report import DoctorResult
from breakglass.errors import BreakglassError
from breakglass.plan.checks.base import CheckStatus
from breakglass.plan.issues import Path

if TYPE_CHECKING:
    from breakglass.doctor.context import DoctorContext

__all__ = ["DoctorCheck", "Finding", "NotChecked"]

_ID = re.compile(r"^[a-z]+\.[a-z]+(?:-[a-z]+)*$")


class NotChecked(BreakglassError):
    """A subject cannot be checked because something it needs is missing (an endpoint
    that answers, a key that loads); the check reports it rather than passing it."""


@dataclass(frozen=True)
class Finding:
    """What a check found about one subject; ``path`` points into the plan file."""

    status: CheckStatus
    subject: str
    message: str
    path: Path = ()

    @classmethod
    def ok(cls, subject: str, message: str, path: Path = ()) -> Finding:
        return cls(CheckStatus.PASS, subject, message, path)

    @classmethod
    def warn(cls, subject: str, message: str, path: Path = ()) -> Finding:
        return cls(CheckStatus.WARN, subject, message, path)

    @classmethod
    def fail(cls, subject: str, message: str, path: Path = ()) -> Finding:
        return cls(CheckStatus.FAIL, subject, message, path)

    @classmethod
    def not_checked(cls, subject: str, reason: object, path: Path = ()) -> Finding:
        return cls(CheckStatus.WARN, subject, f"not checked: {reason}", path)


class DoctorCheck:
    """One preflight check against the live chain and the environment.

    Subclasses set ``id``, ``title``, ``needs`` (what the check reads) and ``fix`` (what
    to do when it fails), and implement :meth:`findings`. ``docs/doctor.md`` lists them.
    """

    id: ClassVar[str]
    title: ClassVar[str]
    needs: ClassVar[str]
    fix: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("id", "title", "needs", "fix"):
            if not getattr(cls, name, None):
                raise TypeError(f"{cls.__name__} must define {name}")
        if not _ID.match(cls.id):
            raise TypeError(f"{cls.__name__}.id {cls.id!r} must look like 'section.check-name'")

    def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
        raise NotImplementedError

    async def run(self, ctx: DoctorContext) -> list[DoctorResult]:
        """Every finding as a result; a check with nothing to look at passes once, saying so.

        A check that breaks off on a breakglass error fails with that error as its message:
        a preflight that could not look is not a preflight that passed.
        """
        found: list[Finding] = []
        try:
            async for finding in self.findings(ctx):
                found.append(finding)  # what came before a failure still counts
        except BreakglassError as exc:
            found.append(Finding.fail("(check)", f"the check could not finish: {exc}"))
        except Exception as exc:  # one broken check must not hide the others
            # Only the type: a library's message may quote a resolved URL or a key.
            found.append(
                Finding.fail("(check)", f"the check broke ({type(exc).__name__}); please report it")
            )
        if not found:
            found.append(Finding.ok("-", "the plan gives this check nothing to look at"))
        return [
            DoctorResult(
                check_id=self.id,
                title=self.title,
                status=f.status,
                subject=f.subject,
                message=f.message,
                location=ctx.loaded.location(f.path) if f.path else "",
            )
            for f in found
        ]
