"""wl_executor."""
