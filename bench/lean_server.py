"""``python -m bench.lean_server``: one virtual OCF device on the gateway's own serving code.

Layer: benchmark tooling. The OCF side of the gateway (``bridge.ocf.virtual``, lean GET path
on, the request caps raised as ``bench.rig`` raises them) serving one bridged light with a
switch, without the rest of the daemon (no D-Bus, no MQTT), so that a tool such as callgrind
can run it alone (``bench/instructions.py``). Its origin answers from the kept state and
never reads through. It prints the device's UDP port once it serves (on ``::``, so also on
127.0.0.1) and runs until stdin closes. It runs on the gateway's asyncio loop, or with
``--uvloop`` on its uvloop one (``bridge.daemon.event_loop``). The compiled GET path answers
repeated GETs, as in a default install; ``--python`` leaves them to the Python lean path
(``[ocf] lean_compiled = false``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping

from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import Command, CommandHandler, Registry
from bridge.core.thing import Capability, DeviceInfo, Side, Thing
from bridge.daemon.event_loop import run as run_on_gateway_loop
from bridge.daemon.run_command import settle_heap
from bridge.model import load_catalogue
from bridge.model.types import Value
from bridge.ocf.config import OcfConfig
from bridge.ocf.limits import ClientLimits
from bridge.ocf.virtual import VirtualOcfDevices
from bridge.sim.testing.procs import free_udp_port

UNCAPPED = 1_000_000_000


class KeptState(CommandHandler):
    """An origin that takes every command and answers reads from the kept state."""

    async def execute(self, thing: Thing, command: Command) -> Mapping[str, Value]:
        return {}

    async def refresh(self, thing: Thing, capability: str) -> Mapping[str, Value]:
        return dict(thing.capabilities[capability].state)


def light(book: IdentityBook) -> Thing:
    model = load_catalogue().capability("switch")
    assert model is not None
    thing_id, identity = book.for_alljoyn_device("bench-lean-server", bytes(16))
    return Thing(id=thing_id, origin=Side.ALLJOYN, identity=identity,
                 info=DeviceInfo(name="Bench light", manufacturer="Bench",
                                 device_types=("oic.d.light",)),
                 capabilities={"switch": Capability(key="switch", instance="/switch",
                                                    model=model, state={"on": False})})


async def serve() -> None:
    registry = Registry(EventBus())
    registry.register_handler(Side.ALLJOYN, KeptState())
    thing = registry.upsert(light(IdentityBook()))
    limits = ClientLimits(OcfConfig(max_requests_per_client=UNCAPPED, max_requests=UNCAPPED))
    side = VirtualOcfDevices(registry, gateway_name="Bench gateway", bind_host="::",
                             server_port=free_udp_port("::1"), multicast=[], max_payload=4096,
                             limits=limits, lean_get=True,
                             lean_compiled="--python" not in sys.argv[1:])
    await side.start()
    await side.wait_idle()
    settle_heap()  # as ``ocfaj run`` does once the gateway started
    print(side.virtuals[thing.id].endpoint.port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await side.shutdown()


if __name__ == "__main__":
    run_on_gateway_loop(serve(), "uvloop" if "--uvloop" in sys.argv[1:] else "asyncio")
