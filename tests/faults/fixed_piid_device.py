"""An OCF light that keeps its ``piid`` across process restarts, as a real device does.

Run as ``python -m tests.faults.fixed_piid_device NAME PIID INTERFACE``; it speaks the
simulator's JSON-lines control protocol (``bridge.sim.control``). ``ocfaj simulate ocf`` draws a
new piid per process, which is right for its own purpose but cannot show a device that is
killed and comes back with new ports, a new ``di`` and the same ``piid``.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from bridge.model import load_catalogue
from bridge.sim.control import SimServer, run_control
from bridge.sim.device import SimDevice
from bridge.sim.ocf import OcfSimServer, SimListing


async def main(name: str, piid: str, interface: str) -> int:
    listing = SimListing((interface,), 5683, multicast=True)
    server = OcfSimServer(SimDevice.of_type(name, load_catalogue(), "light"), listing)
    # Only the identity persists; di and ports stay fresh per process, as with security off.
    server.piid = piid
    server.served.device = {**server.served.device, "piid": piid}
    servers: list[SimServer] = [server]
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    try:
        await run_control(servers, stop)
    finally:
        await listing.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:4])))
