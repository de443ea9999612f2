"""doorping (see README.md)."""
