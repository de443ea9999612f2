"""Every method package; importing this registers their methods, recipes and claims."""

from trustlab.methods import erm  # noqa: F401
