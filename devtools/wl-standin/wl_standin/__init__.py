"""A stand-in for the real `wl` CLI v0.4.0 in remote (DoltHub API) mode; see README.md."""
