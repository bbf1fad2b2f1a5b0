"""Process helpers for tests: the same ones ``make run`` uses."""

from devstack.procs import VENV_BIN, Proc, started, stop

__all__ = ["VENV_BIN", "Proc", "started", "stop"]
