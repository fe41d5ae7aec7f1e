"""Error answers from OCF devices, on every request the gateway makes (issue 15 point 1).

The gateway's OCF side runs in this process on ``ocfbr0``; each simulated device is a process
in a network namespace of its own, told by ``--fault-path`` which of its hrefs answer an error
(``/oic/res``, ``/oic/d`` and ``/oic/p`` included). For every error class the gateway must
keep its discovery rounds whole, keep other devices bridged, keep a device that answers
available, and hand a refused command back with the device's own code.
"""

from __future__ import annotations

import logging

import pytest

from bridge.core.errors import DeviceError
from bridge.core.events import AvailabilityChanged, Event
from bridge.core.registry import Registry, SetProperties
from bridge.core.thing import Side, Thing
from bridge.ocf.side import OcfSide
from bridge.sim.testing.netns import Host, OcfNetwork
from bridge.sim.testing.procs import await_until
from tests.ocf.conftest import SideFactory
from tests.ocf.simproc import SimProcess

#: One error of each kind a device gives: secured resource, missing resource, server failure.
CODES = [pytest.param(code, id=str(code)) for code in (401, 404, 500)]
#: Rounds watched after the fact: at 0.6 s a round, long enough for any flapping to show.
ROUNDS = 4


def by_name(registry: Registry, name: str) -> Thing | None:
    return next((t for t in registry if t.info.name == name), None)


def broken_device(host: Host, name: str, code: int, *paths: str) -> SimProcess:
    faults = ["--error", "1", "--error-code", str(code)]
    for path in paths:
        faults += ["--fault-path", path]
    return SimProcess(host, "light", name, *faults)


async def rounds(side: OcfSide, count: int) -> None:
    for _ in range(count):
        await side.next_round()


def no_failed_rounds(caplog: pytest.LogCaptureFixture) -> None:
    failed = [r.getMessage() for r in caplog.records if "discovery round failed" in r.message]
    assert failed == [], failed


@pytest.mark.parametrize("code", CODES)
async def test_error_answers_to_discovery_never_fail_the_round_for_other_devices(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry, code: int,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ocfaj")
    # Broken answers both the multicast request (its process's listing) and the unicast
    # /oic/res of its own port (a unicast peer) with the error.
    host = ocf_network.add_host("broken")
    broken = broken_device(host, "Broken", code, "/oic/res")
    good = SimProcess(ocf_network.add_host("good"), "switch", "Good")
    ready = broken.expect("ready")
    good.expect("ready")
    side = await ocf_side(unicast_peers=(f"coap://[{host.ipv6}]:{ready['port']}",))
    await await_until(lambda: by_name(registry, "Good") is not None, timeout=15)
    start = side.rounds
    await rounds(side, ROUNDS)
    assert side.rounds >= start + ROUNDS
    no_failed_rounds(caplog)
    found = by_name(registry, "Good")
    assert found is not None and found.available
    assert by_name(registry, "Broken") is None
    # Once it answers again, it is found like any other device.
    broken.send(cmd="faults", device="Broken")
    broken.expect("faults")
    await await_until(lambda: by_name(registry, "Broken") is not None, timeout=15)


@pytest.mark.parametrize("code", CODES)
async def test_a_device_whose_oic_d_fails_is_retried_and_others_are_bridged(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry, code: int,
        caplog: pytest.LogCaptureFixture) -> None:
    broken = broken_device(ocf_network.add_host("broken"), "Broken", code, "/oic/d")
    good = SimProcess(ocf_network.add_host("good"), "switch", "Good")
    broken.expect("ready")
    good.expect("ready")
    side = await ocf_side()
    await await_until(lambda: by_name(registry, "Good") is not None, timeout=15)
    await rounds(side, 2)
    no_failed_rounds(caplog)
    assert by_name(registry, "Broken") is None
    assert f"{code // 100}.{code % 100:02d}" in caplog.text or str(code) in caplog.text
    broken.send(cmd="faults", device="Broken")
    broken.expect("faults")
    await await_until(lambda: by_name(registry, "Broken") is not None, timeout=15)


@pytest.mark.parametrize("code", CODES)
async def test_a_device_whose_oic_p_fails_is_bridged_without_platform_facts(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry,
        code: int) -> None:
    broken = broken_device(ocf_network.add_host("broken"), "Broken", code, "/oic/p")
    ready = broken.expect("ready")
    await ocf_side()
    await await_until(lambda: by_name(registry, "Broken") is not None, timeout=15)
    thing = by_name(registry, "Broken")
    assert thing is not None and thing.available
    assert thing.id == f"ocf:{ready['piid']}"
    assert thing.info.manufacturer != "ocfaj simulator"  # /oic/p's mnmn never arrived
    assert {"switch", "brightness"} <= set(thing.capabilities)


@pytest.mark.parametrize("code", CODES)
async def test_a_resource_that_refuses_get_and_observe_leaves_the_device_available(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry, code: int,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ocfaj")
    broken = broken_device(ocf_network.add_host("broken"), "Broken", code, "/switch")
    broken.expect("ready")
    changes: list[bool] = []

    def record(event: Event) -> None:
        if isinstance(event, AvailabilityChanged) and event.thing.info.name == "Broken":
            changes.append(event.available)

    registry.bus.subscribe("test", record)
    side = await ocf_side()
    await await_until(lambda: by_name(registry, "Broken") is not None, timeout=15)
    await rounds(side, ROUNDS)
    thing = by_name(registry, "Broken")
    assert thing is not None and thing.available, caplog.text
    assert changes == [], "the device flapped"
    assert "refused the observation" in caplog.text
    # The other resources are read and observed as usual.
    broken.send(cmd="set", device="Broken", capability="brightness",
                values={"brightness": 77})
    await await_until(
        lambda: thing.capabilities["brightness"].state == {"brightness": 77}, timeout=10)


@pytest.mark.parametrize("code", [403, 401, 500, 503])
async def test_a_refused_command_comes_back_with_the_device_code(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry,
        code: int) -> None:
    broken = broken_device(ocf_network.add_host("broken"), "Broken", code, "/brightness")
    broken.expect("ready")
    await ocf_side()
    await await_until(lambda: by_name(registry, "Broken") is not None, timeout=15)
    thing = by_name(registry, "Broken")
    assert thing is not None
    with pytest.raises(DeviceError) as caught:
        await registry.command(thing.id, SetProperties("brightness", {"brightness": 10}),
                               Side.MQTT)
    assert caught.value.code == code
    assert caught.value.message == f"injected fault: Broken answers {code}"
    assert thing.available


async def test_a_device_whose_first_read_failed_is_read_again_before_the_next_round(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry,
        caplog: pytest.LogCaptureFixture) -> None:
    # Rounds a minute apart: the device that failed its first read (a loaded link, a busy
    # board) must not wait for the next one.
    broken = broken_device(ocf_network.add_host("broken"), "Broken", 500, "/oic/d")
    broken.expect("ready")
    side = await ocf_side(discovery_interval=60.0)
    await await_until(lambda: "could not read it" in caplog.text, timeout=15)
    assert "trying again in 1 s" in caplog.text
    broken.send(cmd="faults", device="Broken")
    broken.expect("faults")
    await await_until(lambda: by_name(registry, "Broken") is not None, timeout=15)
    # Not the next round's read: the first round's (a device is read as its reply arrives,
    # so the read again may even come before the first round's end is counted).
    assert side.rounds <= 1
    found = by_name(registry, "Broken")
    assert found is not None and found.available
