"""wl_control_server."""
