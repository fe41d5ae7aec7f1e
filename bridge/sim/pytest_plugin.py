"""The ocfaj pytest plugin: simulated OCF and AllJoyn devices, a broker, a bus and a gateway.

Layer: ``bridge.sim`` test kit, loaded by pytest only (entry point ``pytest11``: installing
``ocfaj`` is enough). It imports pytest, which the gateway itself never needs, and starts
mosquitto, simulators and the gateway as subprocesses, so it imports neither ``bridge.mqtt``
nor ``bridge.daemon``. docs/testing-with-simulated-devices.md documents every fixture.

Fixtures (function scope; everything is stopped and removed at teardown):

- ``dbus_daemon``: a private dbus-daemon (:class:`~bridge.sim.testing.dbus.DBusDaemon`).
- ``mosquitto`` / ``mosquitto_factory``: real brokers on 127.0.0.1.
- ``ocf_network``: where OCF devices live. With network namespaces (root and an isolated
  run, ``--ocfaj-isolate``) it is a bridge ``ocfbr0`` with one namespace per device and real
  multicast discovery; otherwise LOOPBACK: unicast on 127.0.0.1 only, no multicast at all.
- ``ocf_device(model, name, quirks=..., **state)`` / ``alljoyn_device(model, name,
  behaviour=..., **state)``: a simulated device
  (:class:`~bridge.sim.testing.devices.SimulatedDevice`); ``quirks`` (a
  :class:`~bridge.sim.ocf_stack.StackQuirks` or its keyword settings, e.g.
  ``{"reference": True}``) makes the OCF device behave like the reference OCF stack,
  ``behaviour`` (a :class:`~bridge.sim.alljoyn_peer.PeerBehaviour` or its settings) the
  AllJoyn device like producers written elsewhere.
- ``gateway(**sections)``: a running ``ocfaj run`` with a test configuration
  (:class:`~bridge.sim.testing.gateway.TestGateway`).
- ``gateway_factory(name, *, own_host, start, within, **sections)``: named gateways, in hosts
  of their own if asked, started or not (:class:`~bridge.sim.testing.gateways.TestGateways`).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from bridge.sim.alljoyn_peer import PeerBehaviour
from bridge.sim.declare_args import declaration_args
from bridge.sim.ocf_stack import StackQuirks, quirk_arguments
from bridge.sim.processes import SimProcess
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.devices import (
    OcfSimulatedDevice,
    SimulatedDevice,
    one_device_scenario,
)
from bridge.sim.testing.gateway import TestGateway
from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.kit import KitState
from bridge.sim.testing.loopback import LoopbackNetwork
from bridge.sim.testing.mosquitto import Mosquitto, MosquittoFactory
from bridge.sim.testing.netns import (
    OcfNetwork,
    enter_private_network_namespace,
    is_isolated,
    own_namespaces,
    remove_stale_namespaces,
    require_root,
)

NETWORK_CHOICES = ("auto", "netns", "loopback")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ocfaj", "ocfaj simulation kit")
    group.addoption("--ocfaj-isolate", action="store_true", default=None,
                    help="run the whole test session in a private network namespace (root "
                         "only): OCF devices then get network namespaces and multicast")
    group.addoption("--ocfaj-ocf-network", choices=NETWORK_CHOICES, default=None,
                    help="OCF network of the ocf_network fixture: netns, loopback, or auto "
                         "(netns in an isolated run, loopback otherwise)")
    parser.addini("ocfaj_isolate", "like --ocfaj-isolate", type="bool", default=False)
    parser.addini("ocfaj_ocf_network", "like --ocfaj-ocf-network", default="auto")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("ocfaj_isolate") or config.getini("ocfaj_isolate"):
        if os.geteuid() != 0:
            raise pytest.UsageError("--ocfaj-isolate needs root (it unshares the network "
                                    "namespace of the test process)")
        enter_private_network_namespace()
        remove_stale_namespaces()
    # One descriptor per bus connection and per CoAP context: scale tests open hundreds, and
    # every daemon the fixtures start inherits this limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def network_kind(config: pytest.Config) -> str:
    """``netns`` or ``loopback``: what ``ocf_network`` builds in this session."""
    chosen = config.getoption("ocfaj_ocf_network") or config.getini("ocfaj_ocf_network")
    if chosen not in NETWORK_CHOICES:
        raise pytest.UsageError(f"ocfaj_ocf_network: one of {', '.join(NETWORK_CHOICES)} "
                                f"is expected, got {chosen!r}")
    if chosen == "auto":
        return "netns" if is_isolated() else "loopback"
    return str(chosen)


def pytest_report_header(config: pytest.Config) -> list[str]:
    kind = network_kind(config)
    if is_isolated():
        isolation = f"private network namespace of pid {os.getpid()} (only lo)"
    elif os.geteuid() == 0:
        isolation = "NOT isolated (add --ocfaj-isolate to run in a private network namespace)"
    else:
        isolation = "NOT isolated (not root)"
    if kind == "netns":
        ocf = "network namespaces on bridge ocfbr0, multicast discovery"
        if not is_isolated():
            ocf += " (gateway side in a namespace of its own: in-process clients cannot reach)"
    else:
        ocf = ("LOOPBACK: unicast on 127.0.0.1 only, no multicast discovery (the gateway's "
               "discovery stays on lo); the gateway finds OCF devices through "
               "ocf.unicast_peers")
    return [f"ocfaj network: {isolation}", f"ocfaj OCF devices: {ocf}"]


# -- daemons -------------------------------------------------------------------------------


@pytest.fixture
def dbus_daemon(tmp_path: Path) -> Iterator[DBusDaemon]:
    """A started private dbus-daemon, stopped at teardown. Nothing is set globally: hand
    ``.address`` (``unix:path=...``) to the code under test."""
    daemon = DBusDaemon(tmp_path / "dbus")
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[MosquittoFactory]:
    """Start brokers with extra configuration; every one is stopped at teardown.

    ``mosquitto_factory(config_extra: str = "", listeners: Sequence[str] = (),
    allow_anonymous: bool = True, persistence: bool = False) -> Mosquitto``.
    """
    brokers: list[Mosquitto] = []

    def start(config_extra: str = "", listeners: Sequence[str] = (), *,
              allow_anonymous: bool = True, persistence: bool = False) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"mosquitto-{len(brokers)}", config_extra=config_extra,
                           listeners=listeners, allow_anonymous=allow_anonymous,
                           persistence=persistence)
        brokers.append(broker)
        broker.start()
        return broker

    try:
        yield start
    finally:
        for broker in brokers:
            broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A started broker with anonymous access on one plain 127.0.0.1 listener."""
    return mosquitto_factory()


@pytest.fixture
def ocf_network(request: pytest.FixtureRequest) -> Iterator[OcfNetwork]:
    """Where OCF devices and the gateway's OCF side live; removed at teardown.

    ``netns`` (root, isolated run): the bridge ``ocfbr0`` (169.254.0.1, the test process's own
    side) and one network namespace per host (``add_host(name)``), with real multicast.
    ``loopback`` (otherwise): every host is 127.0.0.1, ``multicast`` is False, simulators
    answer unicast only and the gateway finds them through ``ocf.unicast_peers``. Check
    ``ocf_network.kind`` when a test needs multicast discovery.
    """
    if network_kind(request.config) == "loopback":
        network: OcfNetwork = LoopbackNetwork()
    else:
        require_root()
        network = OcfNetwork(private_local=not is_isolated())
    try:
        network.setup()
        yield network
    finally:
        network.close()
        leaked = own_namespaces()
        assert not leaked, f"network namespaces left behind: {leaked}"


# -- simulated devices and the gateway -----------------------------------------------------


class DeviceFactory(Protocol):
    """``ocf_device`` / ``alljoyn_device``: start one simulated device."""

    def __call__(self, model: str, name: str, /, **state: dict[str, Any]) -> Any: ...


class OcfDeviceFactory(Protocol):
    """``ocf_device``: start one simulated OCF device, with what it declares about itself
    and, optionally, the stack quirks of the reference OCF stack."""

    def __call__(self, model: str, name: str, /, *,
                 limits: Mapping[str, Mapping[str, float]] | None = None,
                 one_resource: Sequence[Sequence[str]] = (),
                 quirks: StackQuirks | Mapping[str, Any] | None = None,
                 secure: bool = False, state_dir: Path | None = None,
                 mfg_cert: Path | None = None,
                 mfg_key: Path | None = None, mfg_chain: Path | None = None,
                 **state: dict[str, Any]) -> OcfSimulatedDevice: ...


class GatewayFactory(Protocol):
    """``gateway(**sections)``: start one gateway; sections override the test config."""

    def __call__(self, **sections: Any) -> TestGateway: ...


@pytest.fixture
def ocfaj_kit(ocf_network: OcfNetwork, tmp_path: Path) -> Iterator[KitState]:
    """Shared state of ``ocf_device``, ``alljoyn_device`` and the gateways in one test."""
    kit = KitState(ocf_network, tmp_path)
    try:
        yield kit
    finally:
        for device in kit.devices:
            device.stop()


@pytest.fixture
def ocf_device(ocfaj_kit: KitState) -> OcfDeviceFactory:
    """``ocf_device(model, name, limits=None, one_resource=(), quirks=None, **state) ->
    OcfSimulatedDevice``: a simulated OCF device.

    ``model`` is a device type model (``light``, ``switch``, ``thermostat``, ``sensor``,
    ``smartlock``...); ``state`` maps capability -> values, e.g. ``switch={"on": True}``. The
    device runs in a host (namespace) of its own, or on 127.0.0.1 in loopback mode.
    ``limits={"target_temperature": {"min": 0, "max": 100, "step": 1}}`` makes the device
    declare its own range, step (and ``precision``); ``one_resource=[("temperature",
    "target_temperature")]`` serves capabilities as one resource offering all their
    interfaces (``ocfaj simulate ocf --limit`` and ``--one-resource``). ``quirks`` turns on
    reference-stack behaviours (``bridge.sim.ocf_stack.StackQuirks``: ``{"reference": True}``
    for all of them, or single ones such as ``{"block_multicast_listing": True,
    "listing_block_size": 256}``). ``secure=True`` makes it a secured device, unowned at start
    (``ocfaj simulate ocf --secure``): its ``ready`` event carries ``pin``, ``coaps_port``,
    ``deviceuuid`` and ``oxms``. ``state_dir`` (with ``secure=True``) keeps its security in
    that directory (``--state-dir``): stop it and start it again (``device.stop()``,
    ``device.start({})``) and it is still owned, under the same uuid and ``piid``.
    ``mfg_cert``, ``mfg_key`` (and ``mfg_chain``), PEM files such as
    ``bridge.sim.testing.pki`` writes, give it a manufacturer certificate (``--mfg-cert``...):
    it then also offers the certificate ownership transfer.
    """
    kit = ocfaj_kit

    def make(model: str, name: str, /, *, limits: Mapping[str, Mapping[str, float]] | None = None,
             one_resource: Sequence[Sequence[str]] = (),
             quirks: StackQuirks | Mapping[str, Any] | None = None, secure: bool = False,
             state_dir: Path | None = None, mfg_cert: Path | None = None,
             mfg_key: Path | None = None, mfg_chain: Path | None = None,
             **state: dict[str, Any]) -> OcfSimulatedDevice:
        number = kit.number()
        args = ["ocf", "--model", model, "--name", name,
                *declaration_args(limits, one_resource)]
        if secure:
            args.append("--secure")
        if state_dir is not None:
            args += ["--state-dir", str(state_dir)]
        for flag, path in (("--mfg-cert", mfg_cert), ("--mfg-key", mfg_key),
                           ("--mfg-chain", mfg_chain)):
            if path is not None:
                args += [flag, str(path)]
        if quirks is not None:
            chosen = (quirks if isinstance(quirks, StackQuirks)
                      else StackQuirks.from_mapping(quirks))
            args += quirk_arguments(chosen)
        host = kit.add_host(name, number)
        if kit.network.multicast:
            args += ["--interface", host.ifname]
        else:
            args += ["--unicast-only", "--bind", host.ipv4,
                     "--device-port", str(kit.take_loopback_port())]
        process = SimProcess(args, popen=host.popen, log_path=kit.tmp / f"sim-{number}.log")
        device = OcfSimulatedDevice(process, name, host.ipv4, host=host)
        kit.devices.append(device)
        device.start(state)
        return device

    return make


class AllJoynDeviceFactory(Protocol):
    """``alljoyn_device``: start one simulated AllJoyn device, optionally behaving like
    producers written elsewhere (:class:`~bridge.sim.alljoyn_peer.PeerBehaviour`)."""

    def __call__(self, model: str, name: str, /, *,
                 behaviour: PeerBehaviour | Mapping[str, Any] | None = None,
                 **state: dict[str, Any]) -> SimulatedDevice: ...


@pytest.fixture
def alljoyn_device(ocfaj_kit: KitState, dbus_daemon: DBusDaemon) -> AllJoynDeviceFactory:
    """``alljoyn_device(model, name, behaviour=None, **state) -> SimulatedDevice`` on the
    private bus.

    ``model`` is a device type model (``light``, ``thermostat``...) or a comma-separated list
    of capabilities (``"switch,brightness"``); ``state`` maps capability -> values.
    ``behaviour`` (a :class:`~bridge.sim.alljoyn_peer.PeerBehaviour` or its keyword
    settings) makes the device depart from the definitions the way other producers do:
    ``{"languages": ["de", "fr"], "refuse_empty_language": True}`` (About only in a named
    language), ``{"announce_signature": "qua(oas)a{sv}"}`` (a malformed Announce),
    ``{"silent": ["brightness"]}`` (properties annotated ``EmitsChangedSignal="false"``
    that change without a signal), ``{"mute": ["brightness"]}`` (annotated as signalling,
    yet changing without a signal). Such a device runs under ``ocfaj simulate alljoyn`` and
    gets ``state`` after it announced itself.
    """
    kit = ocfaj_kit

    def make(model: str, name: str, /, *,
             behaviour: PeerBehaviour | Mapping[str, Any] | None = None,
             **state: dict[str, Any]) -> SimulatedDevice:
        number = kit.number()
        if behaviour is not None:
            chosen = (behaviour if isinstance(behaviour, PeerBehaviour)
                      else PeerBehaviour.from_mapping(behaviour))
            args = ["alljoyn", "--model", model, "--name", name, "--bus", dbus_daemon.address,
                    *chosen.arguments()]
        else:
            caps = tuple(c.strip() for c in model.split(",")) if "," in model else ()
            scenario = one_device_scenario(kit.tmp / f"alljoyn-{number}.toml", name,
                                           "alljoyn", "" if caps else model, caps, state)
            args = ["--scenario", str(scenario), "--bus", dbus_daemon.address]
            state = {}
        process = SimProcess(args, log_path=kit.tmp / f"sim-{number}.log")
        device = SimulatedDevice(process, name, "alljoyn")
        kit.devices.append(device)
        device.start(state)
        return device

    return make


@pytest.fixture
def gateway_factory(ocfaj_kit: KitState, dbus_daemon: DBusDaemon) -> Iterator[TestGateways]:
    """``gateway_factory(name="", *, own_host=False, start=True, within=30.0, **sections)
    -> TestGateway``: as many gateways as the test needs, each named (``gateway.name``; its
    files are ``<name>.toml``, ``<name>.log`` and ``<name>-state/`` in the test's tmp
    directory), on the network's local side or with ``own_host`` in a host of its own (one
    per gateway when several share the link), started or (``start=False``) only configured.
    Iterate it for the gateways so far; ``.logs()`` gives their log tails for assertion
    messages. All are stopped at teardown.
    """
    gateways = TestGateways(ocfaj_kit, dbus_daemon.address)
    try:
        yield gateways
    finally:
        gateways.stop_all()


@pytest.fixture
def gateway(gateway_factory: TestGateways) -> GatewayFactory:
    """``gateway(**sections) -> TestGateway``: a running ``ocfaj run`` (READY=1 received).

    Defaults: state in the test's tmp directory, AllJoyn on ``dbus_daemon``, OCF on the
    ``ocf_network`` with discovery every second and two missed rounds, MQTT off. Each keyword
    is a config section whose keys replace the defaults, e.g.
    ``gateway(mqtt={"host": mosquitto.host, "port": mosquitto.port})`` (naming a host turns
    MQTT on) or ``gateway(bridge={"alljoyn_to_ocf": False})``. Use ``.devices()`` to see what
    it bridged. It runs on the network's local side; ``gateway_factory`` places and names
    gateways.
    """

    def make(**sections: Any) -> TestGateway:
        return gateway_factory(**sections)

    return make
