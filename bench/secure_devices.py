"""Secured simulated OCF devices in their own processes, owned for the gateway before it runs.

Layer: benchmark tooling. The devices are ``ocfaj simulate ocf --secure`` processes on
127.0.0.1 (unicast only: loopback has no link to multicast on), several devices per process.
Ownership is the gateway's own action behind ``ocfaj onboard --device``
(``bridge.daemon.onboarding_action.own``): Random PIN transfer, ACEs for the gateway, the
owner PSK written to the credential store of the gateway's state directory, where the real
``ocfaj run`` started afterwards finds it, as it would after a user onboarded the devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bridge.core.errors import BridgeError
from bridge.daemon import onboarding_action
from bridge.daemon.ocf_credentials import OcfCredentials, OwnedRecord
from bridge.ocf import onboarding
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.links import Endpoint, parse_endpoint, parse_res, select_endpoint
from bridge.ocf.unowned import UnownedDevice
from bridge.sim.processes import SimProcess

#: Ownership transfers at once (each is several DTLS handshakes and requests).
OWNING_AT_ONCE = 8
#: Attempts per device: a transfer that fails is repeated (and counted, never hidden).
ATTEMPTS = 3


@dataclass(frozen=True)
class SecuredSim:
    """One secured simulated device as its simulator reported it when ready."""

    name: str
    plain: Endpoint
    pin: str
    pid: int
    """The simulator process serving it."""


def _endpoint(uri: str) -> Endpoint:
    endpoint = parse_endpoint(uri)
    if endpoint is None:
        raise ValueError(f"not an endpoint: {uri}")
    return endpoint


@contextlib.contextmanager
def secured_simulators(directory: Path, prefix: str, counts: list[int], *,
                       secure: bool = True) -> Iterator[list[SecuredSim]]:
    """Simulator processes with ``counts[k]`` lights each (secured unless ``secure`` is
    false: the plain twin for a baseline); yields every device once all are ready."""
    processes: list[SimProcess] = []
    devices: list[SecuredSim] = []
    directory.mkdir(parents=True, exist_ok=True)
    try:
        for k, count in enumerate(counts):
            args = ["ocf", "--model", "light", "--name", f"{prefix} {k}", "--count",
                    str(count), "--unicast-only", "--bind", "127.0.0.1"]
            process = SimProcess([*args, "--secure"] if secure else args,
                                 log_path=directory / f"{prefix.replace(' ', '-')}-{k}.log")
            processes.append(process)
            for event in process.start(ready=count, within=60.0):
                assert process.process is not None
                devices.append(SecuredSim(str(event["device"]),
                                          _endpoint(f"coap://127.0.0.1:{event['port']}"),
                                          str(event.get("pin", "")), process.process.pid))
        yield devices
    finally:
        for process in processes:
            process.stop()


async def describe(plain: Endpoint) -> UnownedDevice:
    """What ``ocfaj onboard --device`` learns of an unowned device by unicast."""
    client = OcfClient(10.0, 65536)
    await client.start()
    try:
        links = parse_res(await client.get(plain, "/oic/res"), plain)
        doxm = await onboarding.read_doxm(client, plain)
        info = await client.get(plain, "/oic/d")
    finally:
        await client.shutdown()
    device = uuid.UUID(str(doxm["deviceuuid"]))
    mine = tuple(link for link in links if link.di == str(device))
    secure = select_endpoint([ep for link in mine for ep in link.eps], secure=True)
    oxms = tuple(o for o in doxm.get("oxms") or [] if isinstance(o, int))
    return UnownedDevice(device, str(info.get("n", "")), oxms, plain, secure, mine)


@dataclass
class Ownership:
    """The records of the devices owned, and the transfers that failed and were repeated,
    with their errors."""

    records: list[OwnedRecord]
    failures: list[str]


async def own_all(state_dir: Path, devices: list[SecuredSim]) -> Ownership:
    """Own every device for the gateway whose state directory is ``state_dir``."""
    store = OcfCredentials(state_dir).load()
    bound = asyncio.Semaphore(OWNING_AT_ONCE)
    failures: list[str] = []

    async def own(device: SecuredSim) -> OwnedRecord:
        async with bound:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    owned = await onboarding_action.own(store, await describe(device.plain),
                                                        device.pin, request_timeout=20.0)
                    return owned.record
                except BridgeError as err:
                    failures.append(f"{device.name}: {err}")
                    if attempt == ATTEMPTS:
                        raise
            raise AssertionError("unreachable")

    return Ownership(list(await asyncio.gather(*(own(d) for d in devices))), failures)
