"""Reports: the public status page (and, later, post-mortems, regulatory clocks, drills)."""

from __future__ import annotations
