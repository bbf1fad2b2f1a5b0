"""wl_registry."""
