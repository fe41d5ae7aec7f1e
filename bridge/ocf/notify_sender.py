"""Non-confirmable notifications sent straight on an endpoint's UDP socket.

Layer: ``bridge.ocf`` I/O (the socket of aiocoap's udp6 transport, and its message layer's
message ids; aiocoap 0.4 internals: docs/design.md, "Where the OCF side relies on aiocoap's
behaviour (checked with aiocoap 0.4.8 and 0.4.17)"). A non-confirmable notification needs
nothing of aiocoap's exchange machinery: no retransmission, no state, no answer but a
possible RST (``bridge.ocf.notify_answers`` reads that). Handing each to aiocoap (a
``Message``, the pipe, the token and message layers, a fresh parse of the client's address,
the encoding) cost about a sixth of the gateway's CPU per notification, so
:class:`NotificationSocket` frames it (``bridge.ocf.notify_frames``) and sends it itself, as
the lean GET path answers GETs (``bridge.ocf.lean_path``). Its message id comes from
aiocoap's own counter, so it never matches one of aiocoap's messages to the same client.
Confirmable notifications, error notifications and every other message still go through
aiocoap.
"""

from __future__ import annotations

import socket
from typing import Any

from bridge.ocf.aiocoap_overrides import send_datagram
from bridge.ocf.notify_frames import OBSERVE, NotificationFrame


class NotificationSocket:
    """The udp6 socket of one endpoint's aiocoap ``MessageManager`` ``manager``, framing
    notifications with the representation ``options`` ((number, value) pairs)."""

    def __init__(self, manager: Any, options: list[tuple[int, bytes]]) -> None:
        self._manager = manager
        self._interface = manager.message_interface
        self._sock: socket.socket = self._interface.transport.get_extra_info("socket")
        self._frame = NotificationFrame([(n, v) for n, v in options if n != OBSERVE])

    def carries(self, remote: Any) -> bool:
        """Whether ``remote`` (an aiocoap remote) is a client of this plain UDP socket."""
        return getattr(remote, "interface", None) is self._interface \
            and isinstance(getattr(remote, "sockaddr", None), tuple)

    def _next_mid(self) -> int:
        # The counter aiocoap's MessageManager._next_message_id advances.
        mid: int = self._manager.message_id
        self._manager.message_id = (mid + 1) & 0xFFFF
        return mid

    def send(self, remote: Any, token: bytes, observe: int, payload: bytes) -> int | None:
        """Send one NON notification to ``remote`` (a response address); its message id, or
        None when the client cannot be reached (its observations have been ended)."""
        mid = self._next_mid()
        data = self._frame.frame(mid, token, observe, payload)
        pktinfo = remote.pktinfo
        ancdata = [] if pktinfo is None else [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO,
                                                pktinfo)]
        err = send_datagram(self._sock, data, ancdata, remote.sockaddr)
        if err is not None:
            # As aiocoap does for a send that fails: that client's exchanges and
            # observations end.
            self._manager.dispatch_error(err, remote)
            return None
        return mid
