"""desk layer."""
