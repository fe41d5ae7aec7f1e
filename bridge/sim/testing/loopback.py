"""The OCF "network" of a test run without root: every host is the test machine's loopback.

Layer: ``bridge.sim.testing`` (test kit). Without root there are no network namespaces, so
there is no link to multicast on either: a :class:`LoopbackNetwork` hands out hosts that run
processes directly, all on 127.0.0.1 / ::1. OCF simulators then answer unicast only (their
multicast responder is off) and the gateway finds them through ``ocf.unicast_peers``; the
gateway's own discovery rounds go out on ``lo`` only, so the machine's real interfaces see no
test traffic.
Multicast discovery itself is only tested on an :class:`~bridge.sim.testing.netns.OcfNetwork`.
"""

from __future__ import annotations

from bridge.sim.testing.netns import Host, OcfNetwork


class LoopbackNetwork(OcfNetwork):
    """Same interface as :class:`OcfNetwork`; hosts are processes on loopback, no multicast."""

    kind = "loopback"
    """``loopback``: unicast on 127.0.0.1 only; OCF multicast discovery is not available."""
    multicast = False

    def __init__(self) -> None:
        super().__init__()
        self.local = Host(self, "local", None, "lo", 1, loopback=True)

    def setup(self) -> None:
        """Nothing to create: loopback is always there."""

    def add_host(self, name: str) -> Host:
        if any(h.name == name for h in self.hosts) or name == "local":
            raise ValueError(f"host name {name!r} already used on this network")
        host = Host(self, name, None, "lo", len(self.hosts) + 2, loopback=True)
        self.hosts.append(host)
        return host

    def close(self) -> None:
        """Kill every process started through a host."""
        self.hosts.clear()
        errors = self._stop_processes()
        if errors:
            raise errors[0]
