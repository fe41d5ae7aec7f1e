"""Reading a device's resources through their observations (issue 18 point 3).

The gateway's OCF side runs in this process on ``ocfbr0``; each simulated light is a process
in a network namespace of its own. A resource the gateway observes is read through the
registration's first answer, not by a GET before it; the simulator counts the GETs it is asked
(``stats``: ``"GET /switch"``, ``"observe /switch"``), and its ``--observe-answer`` makes a
resource listed as observable answer a registration as a plain read (``plain``) or refuse it
(``error``). Whatever the way, the Thing the registry stores carries the device's state from
the start, and the device stays available.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bridge.core.events import AvailabilityChanged, Event, ThingAdded
from bridge.core.registry import Registry
from bridge.core.thing import Thing
from bridge.ocf.side import OcfSide
from bridge.sim.testing.netns import OcfNetwork
from bridge.sim.testing.procs import await_until
from tests.ocf.conftest import SideFactory
from tests.ocf.simproc import SimProcess


def by_name(registry: Registry, name: str) -> Thing | None:
    return next((t for t in registry if t.info.name == name), None)


class Watch:
    """The state each Thing had when the registry first stored it, and availability changes."""

    def __init__(self, registry: Registry) -> None:
        self.added: dict[str, dict[str, dict[str, Any]]] = {}
        self.availability: list[bool] = []
        registry.bus.subscribe("test", self._seen)

    def _seen(self, event: Event) -> None:
        if isinstance(event, ThingAdded):
            self.added[event.thing.info.name] = {
                key: dict(cap.state) for key, cap in event.thing.capabilities.items()}
        elif isinstance(event, AvailabilityChanged):
            self.availability.append(event.available)


def light(ocf_network: OcfNetwork, name: str, *extra: str) -> tuple[SimProcess, list[str]]:
    """A simulated light (and its resources' hrefs) in a state no default has."""
    sim = SimProcess(ocf_network.add_host(name.lower()), "light", name, *extra)
    hrefs = sorted(set(sim.expect("ready")["hrefs"].values()))
    sim.send(cmd="set", device=name, capability="switch", values={"on": True})
    sim.send(cmd="set", device=name, capability="brightness", values={"brightness": 37})
    sim.send(cmd="ping")
    sim.expect("pong")
    return sim, hrefs


def stats(sim: SimProcess, name: str) -> dict[str, int]:
    sim.send(cmd="stats", device=name)
    return {k: v for k, v in sim.expect("stats").items() if isinstance(v, int)}


async def bridged(side: OcfSide, registry: Registry, name: str, observed: int) -> Thing:
    """The Thing of ``name`` once ``observed`` observations of it run."""
    await await_until(lambda: by_name(registry, name) is not None, timeout=15)
    thing = by_name(registry, name)
    assert thing is not None and side.devices is not None
    device = side.devices.device_of(thing.id)
    assert device is not None
    await await_until(lambda: sum(1 for o in device.observations
                                  if o.token and not o.refused) >= observed, timeout=10)
    return thing


async def test_observed_resources_are_read_through_the_first_answer(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry) -> None:
    watch = Watch(registry)
    sim, hrefs = light(ocf_network, "Lamp")
    side = await ocf_side()
    thing = await bridged(side, registry, "Lamp", len(hrefs))
    assert watch.added["Lamp"]["switch"] == {"on": True}
    assert watch.added["Lamp"]["brightness"] == {"brightness": 37}
    asked = stats(sim, "Lamp")
    # One registration per resource, and no GET of it besides: the first answer was the read.
    assert {href: asked.get(f"observe {href}", 0) for href in hrefs} == dict.fromkeys(hrefs, 1)
    assert {href: asked.get(f"GET {href}", 0) for href in hrefs} == dict.fromkeys(hrefs, 0)
    assert asked.get("GET /oic/d") == 1 and asked.get("GET /oic/p") == 1
    # The observations carry on from that first answer.
    sim.send(cmd="set", device="Lamp", capability="brightness", values={"brightness": 81})
    await await_until(
        lambda: thing.capabilities["brightness"].state == {"brightness": 81}, timeout=10)
    assert thing.available and watch.availability == []


async def test_a_resource_that_answers_without_observing_was_read_by_that_answer(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ocfaj")
    watch = Watch(registry)
    sim, hrefs = light(ocf_network, "Plain", "--observe-answer", "plain", "--fault-path", "/switch")
    side = await ocf_side()
    thing = await bridged(side, registry, "Plain", len(hrefs) - 1)
    assert watch.added["Plain"]["switch"] == {"on": True}
    asked = stats(sim, "Plain")
    assert asked.get("observe /switch") == 1 and asked.get("GET /switch", 0) == 0
    assert "answered without observing" in caplog.text
    # The other resources are observed as usual; the device stays available.
    sim.send(cmd="set", device="Plain", capability="brightness", values={"brightness": 12})
    await await_until(
        lambda: thing.capabilities["brightness"].state == {"brightness": 12}, timeout=10)
    assert thing.available and watch.availability == []


@pytest.mark.parametrize("code", [405, 500])
async def test_a_resource_that_refuses_observe_is_read_by_get(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry, code: int,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ocfaj")
    watch = Watch(registry)
    sim, hrefs = light(ocf_network, "Refusing", "--observe-answer", "error", "--error-code",
                str(code), "--fault-path", "/switch")
    side = await ocf_side()
    thing = await bridged(side, registry, "Refusing", len(hrefs) - 1)
    assert watch.added["Refusing"]["switch"] == {"on": True}
    asked = stats(sim, "Refusing")
    assert asked.get("observe /switch") == 1 and asked.get("GET /switch") == 1
    assert "refused the observation" in caplog.text
    sim.send(cmd="set", device="Refusing", capability="brightness", values={"brightness": 64})
    await await_until(
        lambda: thing.capabilities["brightness"].state == {"brightness": 64}, timeout=10)
    assert thing.available and watch.availability == []


@pytest.mark.parametrize("confirmable", [False, True], ids=["non", "con"])
async def test_an_unanswered_registration_is_a_read_that_failed_and_is_made_again(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry,
        confirmable: bool) -> None:
    watch = Watch(registry)
    # Every request to /switch goes unanswered at first: its registration and its GET.
    sim, hrefs = light(ocf_network, "Silent", "--drop", "1", "--fault-path", "/switch")
    side = await ocf_side(observe_confirmable=confirmable)
    thing = await bridged(side, registry, "Silent", len(hrefs) - 1)
    assert watch.added["Silent"]["switch"] == {}
    assert watch.added["Silent"]["brightness"] == {"brightness": 37}
    asked = stats(sim, "Silent")
    # A lost non-confirmable registration may have been the network's doing: a GET follows.
    assert asked.get("GET /switch", 0) == (0 if confirmable else 1)
    # Once /switch answers, its observation (started again after the device was found
    # answering) brings its state; the device was never reported gone.
    sim.send(cmd="faults", device="Silent")
    sim.expect("faults")
    await await_until(lambda: thing.capabilities["switch"].state == {"on": True}, timeout=20)
    assert thing.available and watch.availability == []


async def test_a_silent_registration_leaves_the_read_to_a_get_beside_it(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry) -> None:
    watch = Watch(registry)
    # The registration of /switch is never answered, its GETs are: with non-confirmable
    # registrations (the default) the resource is read by a GET beside the registration.
    sim, hrefs = light(ocf_network, "Deaf", "--observe-answer", "silent", "--fault-path",
                       "/switch")
    side = await ocf_side()
    thing = await bridged(side, registry, "Deaf", len(hrefs) - 1)
    assert watch.added["Deaf"]["switch"] == {"on": True}
    asked = stats(sim, "Deaf")
    assert asked.get("observe /switch", 0) >= 1 and asked.get("GET /switch") == 1
    assert thing.available and watch.availability == []
