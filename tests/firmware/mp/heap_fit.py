"""Does the firmware start and keep serving in a given heap? Run by test_heap_fit.py.

Under the unix port, whose GC heap is fixed by ``-X heapsize``, and under the WebAssembly
port, whose heap would grow on demand unless fit_wasm.mjs blocks that (``GROWTH``).
``Wire`` stands in for the socket the way MicroPython's own ``recvfrom`` behaves on a
board (it allocates the whole receive size, then keeps only the datagram), so no network
is needed, and the node's real receive step (``Node._receive``, with its reserve) is driven
with it. The requests are built here as bytes *before* the heap
is restricted, with no firmware module, so they are not counted against the firmware. Steps:
``restrict(available)`` leaves exactly ``available`` bytes free,
``start()`` builds what ``ocf.main.start`` builds, ``serve_round()`` sends one of each request
below and checks every answer code (``serve_request(i)`` only the i-th); each prints
``start|serve|request ok`` or ``... memory``.
"""

import gc
import select  # noqa: F401 -- loaded before the restriction on purpose
import socket
import sys

CONFIG = """{"device": {"name": "Fit", "type": "oic.d.switch"},
 "network": {"port": 5700, "address4": "169.254.0.2"},
 "resources": [{"kind": "switch", "href": "/switch/1", "pin": 5}]}"""

PEER = ("169.254.0.1", 40000)
# What gc.mem_free() counts beyond the heap's free bytes: the blocks a split heap could
# still add (the WebAssembly port; fit_wasm.mjs blocks that growth and sets this).
GROWTH = 0
S = {"mid": 1, "ballast": None}


def _coap(mtype, code, options, payload=b""):
    """A CoAP request (mid patched in by ``Wire``); options as (number, bytes), ascending."""
    out = bytearray((0x40 | (mtype << 4) | 1, code, 0, 0, 0x74))
    last = 0
    for number, value in options:
        delta = number - last
        out.append((delta << 4 if delta < 13 else 13 << 4) | len(value))
        if delta >= 13:
            out.append(delta - 13)
        out.extend(value)
        last = number
    if payload:
        out.append(0xFF)
        out.extend(payload)
    return bytes(out)


ACCEPT = (17, b"\x27\x10")
CBOR = (12, b"\x27\x10")
# (datagram, multicast, expected answer code or None for none)
REQUESTS = [
    (_coap(1, 1, [(11, b"oic"), (11, b"res"), ACCEPT]), True, 69),
    (_coap(0, 1, [(11, b"oic"), (11, b"res"), ACCEPT]), False, 69),
    (_coap(0, 1, [(11, b"oic"), (11, b"d"), ACCEPT]), False, 69),
    (_coap(0, 1, [(11, b"oic"), (11, b"p"), ACCEPT]), False, 69),
    (_coap(0, 1, [(6, b""), (11, b"switch"), (11, b"1"), ACCEPT]), False, 69),
    (_coap(0, 2, [(11, b"switch"), (11, b"1"), CBOR, ACCEPT], b"\xa1\x65value\xf5"), False, 68),
    (_coap(0, 2, [(11, b"switch"), (11, b"1"), CBOR, ACCEPT], b"\xa1\x65value\xf4"), False, 68),
    (_coap(0, 1, [(11, b"nowhere"), ACCEPT]), False, 132),
    (_coap(0, 1, [(11, b"switch"), (11, b"1"), (15, b"if=oic.if.s"), ACCEPT]), False, 128),
    (_coap(0, 4, [(11, b"switch"), (11, b"1")]), False, 133),
]
ACK = bytes((0x60, 0, 0, 0))


class Wire:
    """A datagram socket of the board's kind: recvfrom allocates ``n`` bytes, keeps fewer."""

    def __init__(self):
        self.next = None
        self.mid = 0
        self.sent = []

    def recvfrom(self, n):
        buf = bytearray(n)
        data = self.next
        buf[:len(data)] = data
        buf[2] = self.mid >> 8
        buf[3] = self.mid & 0xFF
        return bytes(buf[:len(data)]), PEER

    def sendto(self, data, peer):
        self.sent.append(data)


def restrict(available):
    """Leave ``available`` bytes of free heap: one ballast block takes the rest."""
    gc.collect()
    ballast = gc.mem_free() - GROWTH - available - 16
    assert ballast >= 0, "the heap is smaller than " + str(available) + " bytes"
    S["ballast"] = bytearray(ballast)
    S["base"] = gc.mem_alloc()


#: Where the identity file goes: the WebAssembly port's own file system has /state (made by
#: fit_wasm.mjs); on the unix port the trial's working directory, emptied before each trial,
#: never a directory at the machine's root.
STATE_DIR = "/state" if sys.platform == "webassembly" else "."

def _step(name, fn):
    try:
        fn()
        print(name, "ok")
    except (MemoryError, AssertionError):
        # An answer missing or wrong for want of heap (the server answers 5.00 when a
        # request hits MemoryError) counts as not fitting, like the MemoryError itself.
        print(name, "memory")


def start():
    def run():
        from ocf import config

        cfg = config.parse(CONFIG)
        config = None
        from ocf import main

        srv, nd = main.build(cfg, STATE_DIR)
        from ocf import node

        wire = Wire()
        ch = node.Channel(wire, socket.AF_INET, 5700, "169.254.0.2")
        S.update(srv=srv, node=nd, channel=ch, mc=(ch, ch))
        # Last: a MemoryError while S grows must not leave a half-started trial that the
        # serving steps (which look for "wire") would then run.
        S["wire"] = wire
    _step("start", run)


def _deliver(data, multicast):
    wire = S["wire"]
    wire.next = data
    S["mid"] = (S["mid"] + 1) & 0xFFFF
    wire.mid = S["mid"]
    S["node"]._receive(wire, S["mc"] if multicast else S["channel"], multicast)


def _serve(data, multicast, code):
    wire = S["wire"]
    del wire.sent[:]
    _deliver(data, multicast)
    answers = [d for d in wire.sent if d[0] >> 4 & 3 != 0]  # not our CON notes
    assert [a[1] for a in answers] == ([code] if code else []), (data, wire.sent)
    for note in wire.sent:
        if note[0] >> 4 & 3 == 0:
            # ACK the CON notification the POST caused, with its mid.
            wire.next = ACK
            wire.mid = (note[2] << 8) | note[3]
            S["node"]._receive(wire, S["channel"], False)
    assert S["node"].short_of_memory == 0, S["node"].short_of_memory


def serve_round():
    if "wire" not in S:
        return
    def run():
        for request in REQUESTS:
            _serve(*request)
    _step("serve", run)


def serve_request(index):
    """``REQUESTS[index]`` alone, printing ``request ok|memory``: fit_wasm.mjs serves a round
    one request per call, as its port collects garbage only between calls."""
    if "wire" not in S:
        return
    _step("request", lambda: _serve(*REQUESTS[index]))


def report(label):
    print("heap_" + label, gc.mem_alloc() - S["base"])
