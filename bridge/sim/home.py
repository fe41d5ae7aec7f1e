"""A scenario's devices as running simulators: one OCF or AllJoyn server per device.

Layer: ``bridge.sim``. Shared by ``ocfaj simulate --scenario`` and ``ocfaj demo`` so both build
the same simulated home from the same file.
"""

from __future__ import annotations

from collections.abc import Mapping

from bridge.alljoyn.bus import BusChoice
from bridge.model.types import Catalogue
from bridge.sim.alljoyn import AllJoynSimServer
from bridge.sim.control import SimServer
from bridge.sim.device import SimDevice
from bridge.sim.ocf import OcfSimServer, SimListing
from bridge.sim.scenario import Scenario


def scenario_servers(scenario: Scenario, catalogue: Catalogue, *, listing: SimListing,
                     bus: BusChoice, bind_host: str = "::",
                     ocf_ports: Mapping[str, int] | None = None) -> list[SimServer]:
    """One (not yet started) server per device of ``scenario``, with its state and faults.

    OCF devices share ``listing`` (the multicast ``/oic/res`` responder), bind ``bind_host``
    and start with the scenario's stable identity; a device named in ``ocf_ports`` serves on
    that UDP port, also after it left and came back (a device a client knows by address),
    the others on ephemeral ports. AllJoyn devices each get their own connection to ``bus``.
    """
    ports = ocf_ports or {}
    servers: list[SimServer] = []
    for spec in scenario.devices:
        device = SimDevice(spec.name, catalogue, list(spec.capabilities),
                           device_type=spec.device_type)
        device.faults = spec.faults
        for cap, values in spec.state.items():
            device.set(cap, values)
        if spec.side == "ocf":
            servers.append(OcfSimServer(device, listing, bind_host=bind_host,
                                        port=ports.get(spec.name, 0),
                                        identity=spec.ocf_identity))
        else:
            servers.append(AllJoynSimServer(device, bus))
    return servers
