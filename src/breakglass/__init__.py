"""breakglass: incident response and recovery for smart-contract protocols."""

from breakglass.safejson import install_recursion_guard as _install_recursion_guard

__version__ = "0.1.0"

__all__ = ["__version__"]

# Here because every entry point imports this package first: py_ecc (via eth-account) raises
# the recursion limit to 100,000, and C-level recursion at that depth segfaults the process.
_install_recursion_guard()
