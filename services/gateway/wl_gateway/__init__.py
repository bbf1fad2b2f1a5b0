"""wl_gateway."""
