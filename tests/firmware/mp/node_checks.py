"""The node's receive path on real sockets, under MicroPython's unix port.

No pytest here. ``run(state_dir)`` builds the server and node as ``ocf.main.build`` does, binds
a real UDP socket on 127.0.0.1 for the node and one for a client (addresses from
``getaddrinfo``, which is what the unix port's sockets take), and hands each datagram to the
node's own receive step, as its poll loop does. While the heap is deliberately full the
client only sends (prebuilt bytes): replies are read once the heap is released. Prints
``ok <name>`` / ``FAIL <name>: <error>`` per check and returns (passed, failed).
"""

import gc
import select
import socket

from ocf import coap, config, main, node

CONFIG = """{"device": {"name": "Node checks", "type": "oic.d.switch"},
 "network": {"port": 5710},
 "resources": [{"kind": "switch", "href": "/switch/1", "pin": 5}]}"""

S = {"mid": 300}


def addr(port):
    return socket.getaddrinfo("127.0.0.1", port)[0][-1]


def request(path, payload=b""):
    S["mid"] += 1
    msg = coap.Message(coap.CON, coap.GET, S["mid"], b"nc", payload)
    for part in path.split("/"):
        if part:
            msg.add(coap.URI_PATH, part)
    return coap.build(msg.add(coap.ACCEPT, coap.FORMAT_OCF_CBOR))


def reply():
    return coap.parse(S["client"].recv(1500))


def exchange(data):
    S["client"].sendto(data, S["server_addr"])
    S["node"]._receive(S["sock"], S["channel"], False)
    return reply()


def fill_heap():
    """Allocate until nothing is left; return the chain that holds it all."""
    head = None
    for size in (48, 16):
        while True:
            try:
                head = [bytearray(size), head]
            except MemoryError:
                break
    return head


def punch_holes(head):
    """Free every other piece: many small holes, no large free block."""
    keep = True
    while head is not None:
        if not keep:
            head[0] = None
        keep = not keep
        head = head[1]


def check_oversized_datagram_refused_with_4_13():
    resp = exchange(request("/oic/d", b"x" * 1400))
    assert resp.code == coap.REQUEST_ENTITY_TOO_LARGE, coap.code_str(resp.code)
    assert resp.mtype == coap.ACK and resp.mid == S["mid"] and resp.token == b"nc"
    assert resp.get(coap.SIZE1) == node.MAX_DATAGRAM, resp.options
    assert exchange(request("/oic/d")).code == coap.CONTENT


def check_datagram_of_exactly_the_limit_is_served():
    data = request("/oic/d")
    data = data + b"\xff" + b"p" * (node.MAX_DATAGRAM - len(data) - 1)
    assert len(data) == node.MAX_DATAGRAM
    # Served, not refused: GET ignores its payload.
    assert exchange(data).code == coap.CONTENT


def check_discovery_on_a_socket_without_getsockname():
    assert not hasattr(S["sock"], "getsockname")
    resp = exchange(request("/oic/res"))
    assert resp.code == coap.CONTENT, (coap.code_str(resp.code), resp.payload)
    assert b"coap://" in resp.payload, resp.payload


def pending_replies():
    """How many replies wait at the client now (each read away)."""
    client = S["client"]
    client.setblocking(False)
    n = 0
    while True:
        try:
            if not client.recv(1500):
                break
        except OSError:
            break
        n += 1
    client.settimeout(10)
    return n


def check_fragmented_heap_served_from_the_reserve():
    nd = S["node"]
    data = request("/oic/d")
    gc.collect()
    assert nd.rxbuf is not None, "no reserve held"
    chain = fill_heap()
    punch_holes(chain)
    gc.collect()
    S["client"].sendto(data, S["server_addr"])
    nd._receive(S["sock"], S["channel"], False)
    chain = None
    gc.collect()
    resp = reply()
    assert resp.code == coap.CONTENT, coap.code_str(resp.code)
    assert nd.short_of_memory == 0, nd.short_of_memory


def check_full_heap_drops_datagrams_and_recovers():
    nd = S["node"]
    data = request("/oic/d")
    poller = select.poll()
    poller.register(S["sock"], select.POLLIN)
    sent = 3
    before = nd.short_of_memory
    gc.collect()
    chain = fill_heap()
    S["client"].sendto(data, S["server_addr"])
    S["client"].sendto(data, S["server_addr"])
    S["client"].sendto(data, S["server_addr"])
    nd._receive(S["sock"], S["channel"], False)
    nd._receive(S["sock"], S["channel"], False)
    nd._receive(S["sock"], S["channel"], False)
    del chain
    gc.collect()
    dropped = nd.short_of_memory - before
    answered = pending_replies()
    assert dropped >= 1 and dropped + answered == sent, (dropped, answered)
    # Every datagram was read away: nothing waits on the socket, so no loop of failures.
    assert poller.poll(0) == [], "a dropped datagram is still queued"
    # With the heap back, the next request is served and the reserve is held again.
    assert exchange(request("/oic/d")).code == coap.CONTENT
    assert nd.rxbuf is not None
    assert len(nd.rxbuf) == node.MAX_DATAGRAM + 1 + node.RESERVE_EXTRA


# In this order: the heap checks last, the fragmented one before the full one.
CHECKS = ("check_oversized_datagram_refused_with_4_13",
          "check_datagram_of_exactly_the_limit_is_served",
          "check_discovery_on_a_socket_without_getsockname",
          "check_fragmented_heap_served_from_the_reserve",
          "check_full_heap_drops_datagrams_and_recovers")


def run(state_dir, out=print):
    nd = main.build(config.parse(CONFIG), state_dir)[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(addr(5710))
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(addr(5711))
    client.settimeout(10)
    S.update(node=nd, sock=sock, client=client, server_addr=addr(5710),
             channel=node.Channel(sock, socket.AF_INET, 5710, None))
    passed = 0
    failed = 0
    for name in CHECKS:
        try:
            globals()[name]()
            out("ok " + name)
            passed += 1
        except Exception as e:  # report every failing check, not just the first
            out("FAIL " + name + ": " + repr(e))
            failed += 1
    sock.close()
    client.close()
    return passed, failed
