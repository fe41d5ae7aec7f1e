"""A dbus-fast message bus without the buffered file object that it never reads or writes.

Layer: ``bridge.alljoyn`` (dbus-fast adapter; used by ``bridge.alljoyn.bus.connect``). dbus-fast
5's asyncio ``MessageBus`` makes its socket together with ``socket.makefile("rwb")``: a
``BufferedRWPair`` whose reader and writer each allocate an 8 KiB buffer at once. The asyncio
bus reads and writes the socket itself (``sock_sendall``, its own message reader and writer)
and only ever closes that file object, so the two buffers are 16 KiB of every connection that
nothing uses. The gateway has one connection per virtual AllJoyn producer (each AllJoyn
application is its own bus peer), so they were 16 KiB per bridged OCF device.
:class:`LeanMessageBus` hands dbus-fast the unbuffered file object of the same socket instead
(``buffering=0``), which closes the same way.

This overrides ``_create_socket_for_transport``, a private static method of dbus-fast (from 5.0,
where sockets are made in ``connect()``; earlier releases make the socket elsewhere and never
call it, so there it changes nothing). ``tests/alljoyn/test_lean_bus.py`` checks that dbus-fast
calls it, so a release that renames it fails a test instead of silently costing memory again;
a release whose method returns something else than (socket, file object, address) gets its
result back unchanged, so the bus still connects.
"""

from __future__ import annotations

import socket
from typing import Any

from dbus_fast.aio import MessageBus


class LeanMessageBus(MessageBus):
    """dbus-fast's asyncio ``MessageBus``, with an unbuffered socket file object."""

    @staticmethod
    def _create_socket_for_transport(transport: str, options: dict[str, str]) -> tuple[
            socket.socket, Any, Any]:
        made: Any = MessageBus._create_socket_for_transport(transport, options)
        if not (isinstance(made, tuple) and len(made) == 3
                and isinstance(made[0], socket.socket)):
            # A dbus-fast that makes something else: leave it as it is.
            return made  # type: ignore[no-any-return]
        sock, stream, address = made
        # Closing the buffered pair leaves the socket open (it is closed with its last file
        # object only once the socket itself was closed).
        stream.close()
        return sock, sock.makefile("rwb", buffering=0), address
