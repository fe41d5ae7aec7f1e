"""Fixtures of the end-to-end tests: the real ``ocfaj run`` between simulated devices.

Devices and gateways come from the ocfaj pytest plugin (``bridge.sim.pytest_plugin``), the
same fixtures users get (docs/testing-with-simulated-devices.md). Layout of every test, all
inside the private network namespace of ``tests/conftest.py``:

- ``ocf_network``: the bridge ``ocfbr0``; the test process is the OCF client on it
  (169.254.0.1) and multicasts discovery there, never on a real interface;
- each gateway runs in a host namespace of its own (``gateway_factory("gw", own_host=True)``)
  with the kit's test configuration: OCF on ``eth0`` with one-second discovery rounds,
  AllJoyn on the private ``dbus_daemon`` (a unix socket, reachable from every namespace), a
  short grace period; one that must reach the ``mosquitto`` fixture (127.0.0.1 of the test
  process) runs on the local side instead;
- each OCF device runs in a host namespace of its own (``ocf_device``), AllJoyn devices on
  the private bus (``alljoyn_device``);
- the test process is also the AllJoyn consumer (``tests.e2e.alljoyn_consumer``).

Timers are shrunk (discovery every second, two missed rounds) so departures show quickly; the
tests poll with deadlines and never assert on durations beyond what the configuration promises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiocoap import Context

from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.gateway import DETECTION_TIME, GRACE_PERIOD
from tests.e2e.alljoyn_consumer import Consumer
from tests.e2e.rig import Rig, gateway_config, rig

# The former rig stays importable from here for tests/faults and tests/policy.
__all__ = ["DETECTION_TIME", "GRACE_PERIOD", "LIGHT", "THERMOSTAT", "Rig", "coap", "consumer",
           "gateway_config", "rig"]

#: AllJoyn devices with just the required capabilities of their device models (the plugin's
#: ``alljoyn_device("thermostat", ...)`` adds the optional humidity and battery), as the
#: tests assert exactly which capabilities cross.
THERMOSTAT = "temperature,target_temperature"
LIGHT = "switch,brightness"


@pytest.fixture
async def consumer(dbus_daemon: DBusDaemon) -> AsyncIterator[Consumer]:
    """The test's AllJoyn consumer on the private bus."""
    bus_consumer = await Consumer.connect(dbus_daemon.address)
    yield bus_consumer
    bus_consumer.close()


@pytest.fixture
async def coap() -> AsyncIterator[Context]:
    """An aiocoap client context of the test process (reaches ocfbr0's hosts)."""
    ctx = await Context.create_client_context()
    yield ctx
    await ctx.shutdown()
