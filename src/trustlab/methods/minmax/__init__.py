"""minmax (see README.md)."""
