"""Heap used by the OCF stack plus one resource after start-up, measured with gc.mem_alloc().

Runs under MicroPython (WebAssembly port, driven by run_wasm.mjs). The WebAssembly port has
no ``socket``/``select``; ``stubs/`` provides inert stand-ins with the constants ``ocf.node``
reads, imported *before* the baseline so they are not counted. The probe builds exactly what
``ocf.main.start`` builds (configuration, identity, one switch resource, Server, Node), then
serves a discovery, a GET with observe and a POST through an in-memory channel, and prints:

    heap_startup <bytes>   after start-up, gc.collect()ed
    heap_serving <bytes>   after those requests (observer registered, caches filled)
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


def measure():
    try:
        os.mkdir("/state")
    except OSError:
        pass
    gc.collect()
    base = gc.mem_alloc()
    from ocf import app, coap, config, identity, node, server

    cfg = config.parse(CONFIG)
    ident = identity.load_or_create("/state")
    resources = [app.build(entry) for entry in cfg["resources"]]
    srv = server.Server(ident, cfg["device"], resources, cfg["network"])
    dev = node.Node(srv, cfg["network"], None)
    gc.collect()
    startup = gc.mem_alloc() - base

    ch = Channel()
    peer = ("169.254.0.1", 40000)
    get = coap.Message(coap.NON, coap.GET, 1, b"d").add(coap.URI_PATH, "oic")
    get.add(coap.URI_PATH, "res").add(coap.ACCEPT, 10000)
    srv.datagram(coap.build(get), peer, ch, True, 0)
    obs = coap.Message(coap.CON, coap.GET, 2, b"o").add(coap.OBSERVE, 0)
    obs.add(coap.URI_PATH, "switch").add(coap.URI_PATH, "1")
    srv.datagram(coap.build(obs), peer, ch, False, 0)
    post = coap.Message(coap.CON, coap.POST, 3, b"p").add(coap.URI_PATH, "switch")
    post.add(coap.URI_PATH, "1").add(coap.CONTENT_FORMAT, 10000)
    post.payload = b"\xa1\x65value\xf5"
    srv.datagram(coap.build(post), peer, ch, False, 0)
    assert len(ch.sent) == 4, ch.sent  # discovery, observe reply, POST reply, notification
    assert coap.parse(ch.sent[2]).code == coap.CHANGED
    assert len(srv.observers) == 1 and dev.server is srv
    del ch, get, obs, post
    gc.collect()
    serving = gc.mem_alloc() - base
    return startup, serving


startup, serving = measure()
print("heap_startup", startup)
print("heap_serving", serving)
