"""Heap used by the OCF stack plus one resource after start-up, measured with gc.mem_alloc().

Runs under MicroPython (WebAssembly port, driven by run_wasm.mjs). The WebAssembly port has
no ``socket``/``select``; ``stubs/`` provides inert stand-ins with the constants ``ocf.node``
reads, imported *before* the baseline so they are not counted. The probe imports ``ocf.main``
and builds what ``ocf.main.start`` builds (configuration, identity, one switch resource,
Server, Node) with ``main.build``, then
serves a discovery, a GET with observe and a POST through an in-memory channel, and prints:

    heap_startup <bytes>   after start-up, gc.collect()ed
    heap_serving <bytes>   after those requests (observer registered, caches filled)

Each step, and each ``gc.collect()`` before ``baseline``/``report``, must be its own
``runPython`` call: the WebAssembly port collects garbage only when a call from JavaScript
returns (a ``gc.collect()`` inside a call only asks for that), so garbage made earlier in
the same call would still count and inflate the numbers by kilobytes.
"""

import gc
import os
import select  # noqa: F401 -- stub, loaded before the baseline on purpose
import socket  # noqa: F401 -- stub, loaded before the baseline on purpose

CONFIG = """{"device": {"name": "Probe", "type": "oic.d.switch"},
 "network": {"port": 5700},
 "resources": [{"kind": "switch", "href": "/switch/1", "pin": 5}]}"""


class Channel:
    oic_port = 5700

    def __init__(self):
        self.sent = []

    def send(self, data, peer):
        self.sent.append(data)

    def ep(self, peer):
        return "coap://169.254.0.2:5700"


STATE = {}


def prepare():
    try:
        os.mkdir("/state")
    except OSError:
        pass


def baseline():
    STATE["base"] = gc.mem_alloc()


def start():
    """What ocf.main.start builds, minus joining Wi-Fi and opening sockets."""
    from ocf import config, main

    cfg = config.parse(CONFIG)
    STATE["node"] = main.build(cfg, "/state")[1]


def serve():
    from ocf import coap

    srv = STATE["node"].server
    mid = STATE["mid"] = STATE.get("mid", 0) + 3
    ch = Channel()
    peer = ("169.254.0.1", 40000)
    get = coap.Message(coap.NON, coap.GET, mid, b"d").add(coap.URI_PATH, "oic")
    get.add(coap.URI_PATH, "res").add(coap.ACCEPT, 10000)
    srv.datagram(coap.build(get), peer, ch, True, 0)
    obs = coap.Message(coap.CON, coap.GET, mid + 1, b"o").add(coap.OBSERVE, 0)
    obs.add(coap.URI_PATH, "switch").add(coap.URI_PATH, "1")
    srv.datagram(coap.build(obs), peer, ch, False, 0)
    post = coap.Message(coap.CON, coap.POST, mid + 2, b"p").add(coap.URI_PATH, "switch")
    post.add(coap.URI_PATH, "1").add(coap.CONTENT_FORMAT, 10000)
    post.payload = b"\xa1\x65value\xf5" if mid % 2 else b"\xa1\x65value\xf4"
    srv.datagram(coap.build(post), peer, ch, False, 0)
    # discovery, observe registration, POST reply, the notification it caused
    assert len(ch.sent) == 4, ch.sent
    assert coap.parse(ch.sent[2]).code == coap.CHANGED
    assert len(srv.observers) == 1


def report(label):
    print("heap_" + label, gc.mem_alloc() - STATE["base"])
