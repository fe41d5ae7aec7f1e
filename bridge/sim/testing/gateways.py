"""The gateways of one test: started on demand where the test asks, all stopped at teardown.

Layer: ``bridge.sim.testing`` (test kit; gateways are ``ocfaj run`` subprocesses, so it imports
neither ``bridge.daemon`` nor ``bridge.mqtt``). :class:`TestGateways` is what the
``gateway_factory`` fixture gives and what ``gateway`` uses: each call writes a test
configuration (:func:`~bridge.sim.testing.gateway.config_for_tests`) and starts a
:class:`~bridge.sim.testing.gateway.TestGateway` on the test's OCF network, either on the
network's local side or in a host of its own, so that several gateways share one link.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from bridge.sim.testing.gateway import TestGateway, config_for_tests
from bridge.sim.testing.kit import KitState
from bridge.sim.testing.procs import free_udp_port

#: Gateway names become file names and ``gateway.name``.
NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")


class TestGateways:
    """``gateway_factory(name="", *, own_host=False, start=True, within=30.0, **sections)``.

    Iterating gives every gateway made so far, in order; :meth:`logs` their log tails.
    """

    __test__ = False  # a kit class, not a test class for pytest to collect

    def __init__(self, kit: KitState, bus: str) -> None:
        self._kit = kit
        self._bus = bus
        self._gateways: list[TestGateway] = []

    def __call__(self, name: str = "", /, *, own_host: bool = False, start: bool = True,
                 within: float = 30.0, **sections: Mapping[str, Any]) -> TestGateway:
        """A gateway called ``name`` (default ``ocfaj-test-<n>``), started unless ``start`` is
        False (then edit ``.config_path`` and call ``.start()`` yourself).

        ``own_host``: run it in a host of its own on ``ocf_network`` (a network namespace
        in netns mode) instead of the network's local side; gateways that share one link
        each need one, since every gateway serves CoAP on 5683 there. ``sections`` replace
        keys of the test configuration, as for ``gateway(**sections)``.
        """
        kit = self._kit
        number = kit.number()
        name = name or f"ocfaj-test-{number}"
        if not NAME.fullmatch(name):
            raise ValueError(f"gateway name {name!r}: use 1-40 letters, digits, '_', '.', '-'")
        if any(g.name == name for g in self._gateways):
            raise ValueError(f"a gateway called {name!r} runs in this test already")
        host = kit.add_host(name, number) if own_host else kit.network.local
        peers: list[str] = []
        server_port = 5683
        if not kit.network.multicast:
            # Loopback mode: every host is 127.0.0.1, so each gateway needs a port of its own
            # and finds the devices by polling the ports they took.
            peers = [f"coap://{kit.network.local.ipv4}:{port}" for port in kit.loopback_ports()]
            server_port = free_udp_port()
        text = config_for_tests(name, kit.tmp / f"{name}-state", self._bus, host.ifname,
                                server_port=server_port, unicast_peers=peers,
                                overrides=sections)
        # Config and log sit next to the test's other files; the notify socket, whose path
        # length is limited, lives under /tmp (GatewayProcess).
        gateway = TestGateway(text, kit.tmp, run=host.run, popen=host.popen, name=name,
                              host=host)
        self._gateways.append(gateway)
        if start:
            gateway.start(within=within)
        return gateway

    def __iter__(self) -> Iterator[TestGateway]:
        return iter(list(self._gateways))

    def __len__(self) -> int:
        return len(self._gateways)

    def logs(self, limit: int = 4000) -> str:
        """The last ``limit`` characters of every gateway's log, for assertion messages."""
        return "\n".join(f"--- {g.name} log (tail) ---\n{g.log()[-limit:]}"
                         for g in self._gateways)

    def stop_all(self) -> None:
        """Stop every gateway (teardown); configs and logs stay in the test's directory."""
        for gateway in self._gateways:
            gateway.stop()
