"""Free loopback ports for test servers."""

from __future__ import annotations

import socket

# The kernel may offer the same free port twice in a row, and gRPC servers bind with
# SO_REUSEPORT: two of our servers given one port would both start and silently share
# it (seen: registry and executor of one e2e stack on one port, answering UNIMPLEMENTED).
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago and that this process has not
    handed out before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
