"""Detection: the rule API, the built-in rules and their evaluation over blocks."""

from breakglass.detect.alerts import Alert, AlertBook, AlertPolicy
from breakglass.detect.engine import Detector
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.monitor import run_monitor
from breakglass.detect.rule import (
    Needs,
    Rule,
    RuleParams,
    RuleSetup,
    Target,
    load_plugins,
    registered_rules,
)
from breakglass.detect.setup import (
    RuleProblem,
    RuleSetupError,
    build_rules,
    configured_rule,
    rule_detector,
    rule_problems,
)
from breakglass.detect.state import StateCall, StateReader

__all__ = [
    "Alert",
    "AlertBook",
    "AlertPolicy",
    "Confidence",
    "Detector",
    "Finding",
    "Needs",
    "Rule",
    "RuleParams",
    "RuleProblem",
    "RuleSetup",
    "RuleSetupError",
    "Severity",
    "StateCall",
    "StateReader",
    "Target",
    "build_rules",
    "configured_rule",
    "load_plugins",
    "registered_rules",
    "rule_detector",
    "rule_problems",
    "run_monitor",
]
