"""``python -m trustlab ...``: the same CLI as the ``trustlab`` command (e.g. from a checkout with PYTHONPATH=src)."""

import sys

from trustlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
