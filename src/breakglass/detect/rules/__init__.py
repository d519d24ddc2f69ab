"""Built-in rules, one per file under ``rules/<category>/``; importing registers them."""

from breakglass.detect.rules.access import (  # noqa: F401
    ownership_transferred,
    paused,
    role_granted,
    role_revoked,
    unpaused,
)
from breakglass.detect.rules.flow import large_outflow  # noqa: F401
from breakglass.detect.rules.upgrade import admin_changed, upgraded  # noqa: F401
