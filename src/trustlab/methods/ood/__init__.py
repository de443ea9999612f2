"""ood (see README.md)."""
