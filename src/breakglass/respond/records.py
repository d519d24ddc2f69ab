"""What respond's stored records answer for other stages and interfaces, so they need not
read respond's tables themselves."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.store.models import StepRun

__all__ = ["step_exists"]


def step_exists(session: Session, step_id: int) -> bool:
    """Whether respond stored a playbook step with this id (an approval or a tick of an
    unknown step is a 404, not an error deeper down)."""
    return session.scalar(select(StepRun.id).where(StepRun.id == step_id)) is not None
