"""The device's network loop: sockets, multicast groups, one poll() loop. No asyncio.

Layer: edge. Opens, per address family, a unicast socket (configured port or ephemeral) and
a socket on 5683 joined to the OCF groups (224.0.1.187; ff02::158, ff03::158, ff05::158),
then feeds datagrams to the ``Server`` and calls its ``tick``. Replies to multicast leave from
the unicast socket, so clients learn the ephemeral port (docs/ocf.md,
"Interoperability"). A plain ``select.poll`` loop runs the same on
MicroPython and CPython and costs far less heap than an event loop with tasks.

Receiving on a small heap: a datagram needs one contiguous block of MAX_DATAGRAM + 1 bytes
(the extra byte tells an oversized datagram from a full one). Where the socket has
``recvfrom_into`` (CPython) one buffer is allocated at start and reused. MicroPython's sockets
have only ``recvfrom``, which allocates that block itself, so the node keeps a *reserve* of
that size plus RESERVE_EXTRA bytes: when the heap is too fragmented for the block
(MemoryError), the reserve is freed, giving the allocation a contiguous hole whose rest
(recvfrom keeps only the datagram) is room to answer, and it is taken again later. Should
that also fail, the server drops its caches and the datagram is discarded with a log line,
so one datagram never blocks the loop (a datagram left queued would fail the same way
forever).
"""

import gc
import select
import socket

from . import coap, hal

GROUP4 = "224.0.1.187"
GROUPS6 = ("ff02::158", "ff03::158", "ff05::158")
COAP_PORT = 5683
# How often inputs are sampled when nothing arrives (contact/motion debounce step).
POLL_MS = 20
_MICROPYTHON = hasattr(gc, "mem_free")  # CPython's sockets have recvfrom_into: no reserve
# Largest datagram served (the IPv6 minimum MTU); longer ones are refused (4.13 to a CON).
MAX_DATAGRAM = 1280
# Beyond the receive block, what the reserve keeps for parsing and answering one request
# when the rest of the heap is small holes (a discovery or /oic/d answer, 64-bit objects).
RESERVE_EXTRA = 512
RX_BYTES = MAX_DATAGRAM + 1 + RESERVE_EXTRA  # main.RX_BYTES must match


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

    def __init__(self, server, net_cfg, wifi=None, rxbuf=None):
        self.server = server
        self.net = net_cfg
        self.wifi = wifi
        self.sockets = []  # (socket, channel the server answers through, is multicast)
        self.readers = []  # (stream, callback) for extra inputs such as a control pipe
        self.poller = None
        self.ports = {}
        # The receive buffer (recvfrom_into) or the reserve that makes room for recvfrom's own
        # buffer (see the module docstring); best allocated by the caller while the heap is
        # still whole (``main.build`` does).
        if rxbuf is None or len(rxbuf) != RX_BYTES:
            rxbuf = bytearray(RX_BYTES)
        self.rxbuf = rxbuf
        self.rxview = memoryview(self.rxbuf)
        self.short_of_memory = 0  # datagrams dropped for want of heap, for the operator
        self.drain = bytearray(1)  # reads a datagram away without allocating

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

    def reopen(self):
        """Close and open the sockets again (Wi-Fi came back); observers move along."""
        old = _channels(self.sockets)
        self.close()
        self.open()
        new = _channels(self.sockets)
        moved = {}
        for key in old:
            if key in new:
                moved[id(old[key])] = new[key]
        self.server.move_observers(moved)

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
            data, peer = self._read(sock)
        except OSError:
            return
        if data is None:
            self._restore_reserve()
            return
        if len(data) > MAX_DATAGRAM:
            hal.log("datagram from", peer, "over", MAX_DATAGRAM, "bytes: refused")
            if not multicast:
                reply = coap.reply_to_oversized(data, MAX_DATAGRAM)
                if reply:
                    (channel[0] if isinstance(channel, tuple) else channel).send(reply, peer)
            return
        if multicast:
            # Multicast requests are NON (RFC 7252 8.1); a CON here was sent to us alone.
            as_multicast = len(data) > 0 and (data[0] >> 4) & 3 != 0
            channel = channel[1] if as_multicast else channel[0]
        else:
            as_multicast = False
        try:
            self.server.datagram(data, peer, channel, as_multicast, hal.ticks_ms())
        except MemoryError:
            # Read, so it cannot block the loop; unanswered, so a CON client retransmits.
            data = None
            self.server.shed()
            gc.collect()
            self._short_of_memory()
        data = None
        if _MICROPYTHON:
            # Collect while this request's garbage is all that is new, so the next request's
            # objects take the same holes (first fit) instead of spreading over the free heap
            # and splitting the hole a datagram needs; tens of microseconds on the unix port.
            gc.collect()
        self._restore_reserve()

    def _read(self, sock):
        """(data, peer) of the next datagram; (None, None) when it had to be dropped."""
        if hasattr(sock, "recvfrom_into"):
            n, peer = sock.recvfrom_into(self.rxbuf)
            return self.rxview[:n], peer
        # Written out without loops or new objects: they would need the heap that is missing.
        try:
            return sock.recvfrom(MAX_DATAGRAM + 1)
        except MemoryError:
            pass
        if self.rxbuf is not None:
            # Free the reserve: a contiguous hole of the size recvfrom needs.
            self.rxbuf = self.rxview = None
            gc.collect()
            try:
                return sock.recvfrom(MAX_DATAGRAM + 1)
            except MemoryError:
                pass
        self.server.shed()
        gc.collect()
        try:
            return sock.recvfrom(MAX_DATAGRAM + 1)
        except MemoryError:
            pass
        _discard(sock, self.drain)
        self._short_of_memory()
        return None, None

    def _short_of_memory(self):
        self.short_of_memory += 1
        try:
            hal.log("no heap for a datagram (free", _mem_free(), "): dropped,",
                    self.short_of_memory, "so far")
        except MemoryError:
            pass  # the count above still tells

    def _restore_reserve(self):
        if self.rxbuf is None:
            try:
                self.rxbuf = bytearray(RX_BYTES)
                self.rxview = memoryview(self.rxbuf)
            except MemoryError:
                pass  # tried again after the next receive


def _discard(sock, buf):
    """Read the next datagram into a 1-byte buffer (the rest is cut): nothing allocated."""
    try:
        if hasattr(sock, "readinto"):
            sock.readinto(buf)
        else:
            sock.recvfrom(1)
    except (MemoryError, OSError):
        pass


def _channels(sockets):
    """Every channel of a socket list keyed by (family, place): the same each ``open``."""
    out = {}
    for _, channel, _ in sockets:
        for ch in channel if isinstance(channel, tuple) else (channel,):
            place = 0
            while (ch.family, place) in out:
                place += 1
            out[(ch.family, place)] = ch
    return out


def _mem_free():
    return gc.mem_free() if hasattr(gc, "mem_free") else -1


def _addr(family, host, port):
    if family == socket.AF_INET:
        return (host, port)
    return (host, port, 0, 0)


def _fileno(obj):
    try:
        return obj.fileno()
    except (AttributeError, OSError):
        return None
