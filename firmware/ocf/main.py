"""Start-up: configuration, identity, network, resources, then the serving loop.

Layer: composition root, shared by every target (boards' ``main.py`` and ``firmware/host.py``).
Start-up errors (a bad configuration file) are reported and end ``run`` -- on a board that
leaves the REPL usable instead of resetting into the same error again. Errors while serving
are logged and the loop continues; a lost Wi-Fi link is re-joined and the sockets reopened.

Heap: MicroPython keeps a loaded module's bytecode in the heap (unless it is frozen into the
image), so the modules needed only at start-up (``config``, ``identity``) are imported here
when needed and unloaded (``_unload``; MicroPython only: CPython keeps them, where tests hold
them) before the serving modules (``app``, ``server``, ``node``) are loaded: the peak heap of
start-up is then the serving set plus one resource, not everything at once. The serving
modules are loaded one at a time on a collected heap: loading a module leaves garbage (its
dictionaries growing, the loader's temporaries) between the objects it keeps, and collected
before the next load, those holes take the next module's objects instead of staying free in
pieces too small for a datagram.
"""

import gc
import sys

from . import hal

NETWORK_CHECK_MS = 5000
_START_ONLY = ("config", "identity")
# The serving modules in the order they import each other, so each load adds one module.
_SERVING = ("hal", "resource", "cbor", "coap", "app", "server", "node")
# The node's receive buffer (``node.RX_BYTES``: a 1,280-byte datagram, one byte that tells an
# oversized one, 512 bytes to answer in), repeated here so it can be allocated before the
# node module is loaded.
RX_BYTES = 1281 + 512


def build(cfg, state_dir):
    """The Server and its Node for a parsed configuration, nothing opened yet."""
    # First, while the heap is still in one piece: later it may have no hole this large.
    rxbuf = bytearray(RX_BYTES)
    from . import identity

    ident = identity.load_or_create(state_dir)
    identity = None
    _unload()
    for name in _SERVING:
        _load(name)
    from . import app, server
    from .node import Node

    resources = [app.build(entry) for entry in cfg["resources"]]
    srv = server.Server(ident, cfg["device"], resources, cfg["network"])
    return srv, Node(srv, cfg["network"], cfg.get("wifi"), rxbuf)


def _load(name):
    """Import ``ocf.<name>``, then collect its garbage (see the module docstring)."""
    __import__(__name__.rpartition(".")[0] + "." + name)
    gc.collect()


def _unload():
    """Forget the start-up-only modules so a collection frees their code (MicroPython)."""
    if sys.implementation.name != "micropython":
        return
    package = sys.modules.get(__name__.rpartition(".")[0])
    if package is None:
        return
    for name in _START_ONLY:
        sys.modules.pop(package.__name__ + "." + name, None)
        if name in package.__dict__:
            delattr(package, name)
    gc.collect()


def start(config_path, state_dir):
    """Load everything and open the sockets; return the Node (or None after a start-up error)."""
    from . import config

    try:
        cfg = config.load(config_path)
    except (OSError, ValueError) as e:
        hal.log("cannot load configuration", config_path + ":", e)
        return None
    config = None
    if cfg.get("wifi") and not hal.network_up(cfg["wifi"]):
        hal.log("Wi-Fi", cfg["wifi"]["ssid"], "not joined yet; will keep trying")
    srv, node = build(cfg, state_dir)
    node.open()
    hal.log("OCF device", cfg["device"]["name"], "di", srv.di, "ports", node.ports)
    if hasattr(gc, "mem_alloc"):
        # MicroPython: the number docs/firmware.md budgets, as this board sees it.
        gc.collect()
        hal.log("heap used", gc.mem_alloc(), "free", gc.mem_free())
    return node


def serve(node, should_stop=None):
    """Run the loop until ``should_stop()`` is true (forever on a board)."""
    last_check = hal.ticks_ms()
    while should_stop is None or not should_stop():
        try:
            node.run_once()
            now = hal.ticks_ms()
            if node.wifi and hal.ticks_diff(now, last_check) >= NETWORK_CHECK_MS:
                last_check = now
                if not hal.network_ok():
                    hal.log("Wi-Fi lost; reconnecting")
                    if hal.network_up(node.wifi):
                        node.reopen()
                        hal.log("Wi-Fi back; sockets reopened, ports", node.ports,
                                "observers", len(node.server.observers))
        except KeyboardInterrupt:
            raise
        except MemoryError:
            # Drop what can be rebuilt and go on at once: waiting frees nothing.
            node.server.shed()
            gc.collect()
            try:
                hal.log("loop: out of heap; caches dropped, free", gc.mem_free()
                        if hasattr(gc, "mem_free") else "?")
            except MemoryError:
                pass
        except Exception as e:  # the device keeps serving after any fault
            hal.log("loop error:", repr(e))
            hal.sleep_ms(500)


def run(config_path="config.json", state_dir="."):
    node = start(config_path, state_dir)
    if node is not None:
        serve(node)
