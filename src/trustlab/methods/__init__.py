"""Every method package; importing this registers their methods, recipes and claims.

Packages are found by walking this folder, so a new method package registers itself by existing
(no list to edit). ``trustlab --help`` and ``trustlab list`` do not import this (see ``catalog``).
"""

import importlib
import pkgutil

PACKAGES = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)

for _name in PACKAGES:
    importlib.import_module(f"{__name__}.{_name}")
