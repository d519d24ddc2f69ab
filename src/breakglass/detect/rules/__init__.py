"""Built-in rules, one per file under ``rules/<category>/``; importing registers them all.

Every module below this package is imported, so adding a rule is adding its file.
"""

import importlib
import pkgutil

for _module in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
    importlib.import_module(_module.name)
