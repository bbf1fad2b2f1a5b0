"""A local DoltHub REST API (v1alpha1 subset) for development and tests.

Use :func:`dolthub_sandbox.app.create_app` for an ASGI app, or
:func:`dolthub_sandbox.server.run_in_thread` to serve it on a loopback port in-process.
"""

from .config import SandboxConfig

__all__ = ["SandboxConfig"]
