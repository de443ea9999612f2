"""Every method package; importing this registers their methods, recipes and claims."""

from trustlab.methods import doorping, erm, minmax, okd, ood  # noqa: F401
