"""breakglass: incident response and recovery for smart-contract protocols."""

__version__ = "0.1.0"

__all__ = ["__version__"]
