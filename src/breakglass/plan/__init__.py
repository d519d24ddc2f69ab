"""The incident-response plan: models, loader and checklist linter."""

from breakglass.plan.issues import PlanIssue, PlanLoadError
from breakglass.plan.loader import LoadedPlan, load_plan, load_plan_text
from breakglass.plan.models import Plan

__all__ = ["LoadedPlan", "Plan", "PlanIssue", "PlanLoadError", "load_plan", "load_plan_text"]
