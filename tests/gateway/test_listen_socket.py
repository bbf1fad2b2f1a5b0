"""The gateway's own listening socket lets asyncio switch Nagle off per connection."""

import socket

from wl_gateway.server import _bind


def test_listening_socket_is_tcp_so_connections_get_nodelay() -> None:
    # asyncio sets TCP_NODELAY only on accepted sockets whose proto is IPPROTO_TCP; a
    # socket made with proto 0 leaves Nagle on and keep-alive responses stall ~40 ms.
    sock = _bind("127.0.0.1", 0)
    try:
        client = socket.create_connection(sock.getsockname()[:2])
        accepted, _ = sock.accept()
        try:
            assert accepted.proto == socket.IPPROTO_TCP
        finally:
            accepted.close()
            client.close()
    finally:
        sock.close()
