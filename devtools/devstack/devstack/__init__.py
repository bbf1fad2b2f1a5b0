"""Local development stack: starts every service on embedded defaults (``make run``)."""
