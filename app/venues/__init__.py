"""venues layer."""
