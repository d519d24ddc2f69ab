"""``breakglass doctor``: a preflight of a plan against the live chain and this machine.

Each check (:data:`CHECKS`) looks at one thing breakglass needs in order to act, per
subject (an endpoint, a signer, a Safe, a person), and says pass, warn or fail with what to
do. :func:`run_doctor` runs them all; ``docs/doctor.md`` describes each.
"""

from __future__ import annotations

from breakglass.doctor.base import DoctorCheck, Finding, NotChecked
from breakglass.doctor.endpoints import node_key, provider_key
from breakglass.doctor.report import DoctorReport, DoctorResult
from breakglass.doctor.service import CHECKS, run_doctor

__all__ = [
    "CHECKS",
    "DoctorCheck",
    "DoctorReport",
    "DoctorResult",
    "Finding",
    "NotChecked",
    "node_key",
    "provider_key",
    "run_doctor",
]
