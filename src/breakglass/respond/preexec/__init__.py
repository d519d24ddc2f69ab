"""Pre-execution screening: pending transactions and attack contracts simulated before they
can act, judged by the plan's own rules (DESIGN.md, respond)."""

__all__: list[str] = []
