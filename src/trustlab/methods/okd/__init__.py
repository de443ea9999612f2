"""okd (see README.md)."""
