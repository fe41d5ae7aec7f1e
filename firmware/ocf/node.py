"""The device's network loop: sockets, multicast groups, one poll() loop. No asyncio.

Layer: edge. Opens, per address family, a unicast socket (configured port or ephemeral) and
a socket on 5683 joined to the OCF groups (224.0.1.187; ff02::158, ff03::158, ff05::158),
then feeds datagrams to the ``Server`` and calls its ``tick``. Replies to multicast leave from
the unicast socket, so clients learn the ephemeral port (docs/ocf.md,
"Interoperability"). A plain ``select.poll`` loop runs the same on
MicroPython and CPython and costs far less heap than an event loop with tasks.
"""

import select
import socket

from . import hal

GROUP4 = "224.0.1.187"
GROUPS6 = ("ff02::158", "ff03::158", "ff05::158")
COAP_PORT = 5683
# How often inputs are sampled when nothing arrives (contact/motion debounce step).
POLL_MS = 20
MAX_DATAGRAM = 1280


class Channel:
    """A socket the server answers through; ``oic_port``/``ep`` describe the unicast side."""

    def __init__(self, sock, family, unicast_port, address):
        self.sock = sock
        self.family = family
        self.oic_port = unicast_port
        self.address = address

    def send(self, data, peer):
        try:
            self.sock.sendto(data, peer)
        except OSError as e:
            hal.log("send to", peer, "failed:", repr(e))

    def ep(self, peer):
        host = self.address or hal.local_address(self.family, peer) or "0.0.0.0"
        if self.family != socket.AF_INET:
            host = "[" + host + "]"
        return "coap://" + host + ":" + str(self.oic_port)


class Node:
    """Owns the sockets; ``open()`` binds them, ``run_once()`` serves, ``close()`` frees."""

    def __init__(self, server, net_cfg, wifi=None):
        self.server = server
        self.net = net_cfg
        self.wifi = wifi
        self.sockets = []  # (socket, channel the server answers through, is multicast)
        self.readers = []  # (stream, callback) for extra inputs such as a control pipe
        self.poller = None
        self.ports = {}

    def add_reader(self, stream, callback):
        """Also poll ``stream`` (anything select.poll takes) and call ``callback()`` on input."""
        self.readers.append((stream, callback))
        if self.poller is not None:
            self.poller.register(stream, select.POLLIN)

    def open(self):
        self.poller = select.poll()
        if self.net["ipv4"]:
            self._open_family(socket.AF_INET, "0.0.0.0", (GROUP4,))
        if self.net["ipv6"]:
            try:
                self._open_family(socket.AF_INET6, "::", GROUPS6)
            except (OSError, AttributeError) as e:
                hal.log("IPv6 unavailable on this port:", repr(e))
        for stream, _ in self.readers:
            self.poller.register(stream, select.POLLIN)

    def _open_family(self, family, anyaddr, groups):
        uni = socket.socket(family, socket.SOCK_DGRAM)
        if family != socket.AF_INET and hasattr(socket, "IPV6_V6ONLY"):
            uni.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        port = self.net["port"]
        if not port and not hasattr(uni, "getsockname"):
            # MicroPython sockets cannot report an ephemeral port: pick one ourselves
            # from the dynamic range (RFC 6335) so we know what to advertise.
            port = 49152 + int.from_bytes(hal.random_bytes(2), "big") % 16384
        uni.bind(_addr(family, anyaddr, port))
        port = port or uni.getsockname()[1]
        self.ports[family] = port
        address = self.net.get("address6" if family != socket.AF_INET else "address4")
        uni_ch = Channel(uni, family, port, address)
        self._add(uni, uni_ch, False)
        mc = socket.socket(family, socket.SOCK_DGRAM)
        mc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            # Several software devices on one host share 5683 for multicast.
            mc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family != socket.AF_INET and hasattr(socket, "IPV6_V6ONLY"):
            mc.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # On Linux binding the IPv4 socket to the group keeps unicast to 5683 out of it.
        bind_host = GROUP4 if family == socket.AF_INET and hal.NAME == "host" else anyaddr
        mc.bind(_addr(family, bind_host, COAP_PORT))
        for group in groups:
            hal.join_group(mc, family, group, self.net["interface"])
        # Unicast requests that reach 5683 are answered from 5683; multicast ones from `uni`.
        self._add(mc, (Channel(mc, family, port, address), uni_ch), True)

    def _add(self, sock, channel, multicast):
        if hasattr(sock, "setblocking"):
            sock.setblocking(False)
        self.sockets.append((sock, channel, multicast))
        self.poller.register(sock, select.POLLIN)

    def close(self):
        for sock, _, _ in self.sockets:
            try:
                sock.close()
            except OSError:
                pass
        self.sockets = []
        self.poller = None

    def run_once(self):
        now = hal.ticks_ms()
        wait = self.server.next_deadline(now, POLL_MS)
        for event in self.poller.poll(wait):
            self._dispatch(event[0])
        self.server.tick(hal.ticks_ms())

    def _dispatch(self, key):
        for sock, channel, multicast in self.sockets:
            if key is sock or key == _fileno(sock):
                self._receive(sock, channel, multicast)
                return
        for stream, callback in self.readers:
            if key is stream or key == _fileno(stream):
                callback()
                return

    def _receive(self, sock, channel, multicast):
        try:
            data, peer = sock.recvfrom(MAX_DATAGRAM)
        except OSError:
            return
        if multicast:
            # Multicast requests are NON (RFC 7252 8.1); a CON here was sent to us alone.
            as_multicast = len(data) > 0 and (data[0] >> 4) & 3 != 0
            channel = channel[1] if as_multicast else channel[0]
        else:
            as_multicast = False
        self.server.datagram(data, peer, channel, as_multicast, hal.ticks_ms())


def _addr(family, host, port):
    if family == socket.AF_INET:
        return (host, port)
    return (host, port, 0, 0)


def _fileno(obj):
    try:
        return obj.fileno()
    except (AttributeError, OSError):
        return None
