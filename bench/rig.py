"""The benchmark rig: private D-Bus, mosquitto, the real gateway process, and raw clients.

Layer: benchmark tooling. It starts the same peers the test suite uses (``bridge.sim.testing``: a
private dbus-daemon, a real mosquitto on 127.0.0.1) and the real ``ocfaj run`` through
``bridge.sim.processes.GatewayProcess``, so memory and CPU are those of the shipped daemon.
The clients here talk to devices the way any AllJoyn consumer or CoAP client would, with
dbus-fast and aiocoap directly, never through ``bridge``'s adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiocoap
import cbor2
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from bench import procstat
from bridge.sim.processes import GatewayProcess, Popen
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.mosquitto import Mosquitto
from bridge.sim.testing.procs import free_udp_port

ABOUT = "org.alljoyn.About"
PROPERTIES = "org.freedesktop.DBus.Properties"


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"ocfaj-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def private_bus(directory: Path) -> Iterator[DBusDaemon]:
    daemon = DBusDaemon(directory / "dbus")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@contextlib.contextmanager
def broker(directory: Path, *, persistence: bool = False,
           config_extra: str = "") -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(directory / "mosquitto", persistence=persistence,
                          config_extra=config_extra)
    mosquitto.start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()


@dataclass(frozen=True)
class GatewaySettings:
    """What the benchmarks vary in the gateway's configuration file."""

    bus: str
    ocf_peers: tuple[str, ...] = ()
    ocf_interfaces: tuple[str, ...] = ("lo",)
    ocf_bind: str = "127.0.0.1"
    ipv6: bool = False
    mqtt_port: int = 0
    discovery_interval: float = 30.0
    log_level: str = "warning"
    event_loop: str = "asyncio"
    """``[gateway] event_loop``: asyncio's, what a default install runs (uvloop comes with
    the extra ``uvloop`` only); ``uvloop`` for the rows that measure that loop."""
    mqtt_extra: str = ""
    """More ``[mqtt]`` lines (TOML)."""
    ocf_extra: str = ("max_requests_per_client = 1000000000\n"
                      "max_requests = 1000000000\n")
    """More ``[ocf]`` lines (TOML). By default the request caps are lifted: the throughput
    benchmarks send thousands of requests from one client address within 247 s, which the
    shipped ``max_requests_per_client`` refuses (the exhaustion benchmark keeps the caps)."""

    def toml(self, state_dir: Path, server_port: int) -> str:
        def strings(values: Iterable[str]) -> str:
            return "[" + ", ".join(f'"{v}"' for v in values) + "]"

        mqtt = (f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {self.mqtt_port}\n'
                f"reconnect_max_delay = 1.0\n{self.mqtt_extra}\n" if self.mqtt_port else "")
        return (f'[gateway]\nname = "bench"\nstate_dir = "{state_dir}"\n'
                f'log_level = "{self.log_level}"\nevent_loop = "{self.event_loop}"\n'
                f"[bridge]\nvirtual_grace_period = 0.5\n"
                # The legs address the virtual producer's objects by capability (/switch).
                f'[alljoyn]\nbus = "{self.bus}"\nobject_layout = "per-capability"\n'
                f"[ocf]\ninterfaces = {strings(self.ocf_interfaces)}\n"
                f"ipv6 = {str(self.ipv6).lower()}\nvirtual_bind = \"{self.ocf_bind}\"\n"
                f"server_port = {server_port}\nunicast_peers = {strings(self.ocf_peers)}\n"
                f"discovery_interval = {self.discovery_interval}\n{self.ocf_extra}" + mqtt)


class Gateway:
    """The real ``ocfaj run`` in a subprocess, with its start-up time, memory and CPU."""

    def __init__(self, settings: GatewaySettings, directory: Path, *,
                 popen: Popen | None = None, server_port: int = 0,
                 env: Mapping[str, str] | None = None) -> None:
        self.server_port = server_port or free_udp_port()
        directory.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"popen": popen} if popen is not None else {}
        if env is not None:
            kwargs["env"] = env
        self.process = GatewayProcess(settings.toml(directory / "state", self.server_port),
                                      directory, **kwargs)
        self.startup_seconds = 0.0

    def start(self) -> None:
        began = time.monotonic()
        self.process.start(within=30.0)
        self.startup_seconds = time.monotonic() - began

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    def rss_mib(self) -> float:
        return procstat.rss_mib(self.pid)

    def cpu_seconds(self) -> float:
        return procstat.cpu_seconds(self.pid)

    def stop(self) -> None:
        status = self.process.stop()
        if status not in (0, None):
            raise RuntimeError(f"gateway exited with {status}:\n{self.process.log()[-3000:]}")

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- D-Bus (an AllJoyn consumer, as any application would be) ------------------------------


async def dbus_call(bus: MessageBus, destination: str, path: str, interface: str, member: str,
                    signature: str = "", body: list[Any] | None = None,
                    within: float = 10.0) -> list[Any]:
    msg = Message(destination=destination, path=path, interface=interface, member=member,
                  signature=signature, body=body or [])
    async with asyncio.timeout(within):
        reply = await bus.call(msg)
    assert reply is not None
    if reply.message_type is MessageType.ERROR:
        raise RuntimeError(f"{interface}.{member} on {destination}: {reply.error_name} "
                           f"{reply.body}")
    return list(reply.body)


async def about_names(bus: MessageBus, within: float = 0.5) -> dict[str, str]:
    """``DeviceName -> unique bus name`` of every application that answers GetAboutData."""
    [names] = await dbus_call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "ListNames")
    peers = [n for n in names if n.startswith(":") and n != bus.unique_name]

    async def about(name: str) -> tuple[str, str] | None:
        try:
            [data] = await dbus_call(bus, name, "/About", ABOUT, "GetAboutData", "s", ["en"],
                                     within=within)
        except (RuntimeError, TimeoutError):
            return None
        return str(data["DeviceName"].value), name

    found = await asyncio.gather(*(about(p) for p in peers))
    return dict(pair for pair in found if pair is not None)


async def wait_for_app(bus: MessageBus, name: str, within: float = 20.0) -> str:
    """The unique bus name of the AllJoyn application called ``name``, once it exists."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        names = await about_names(bus)
        if name in names:
            return names[name]
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no AllJoyn application {name!r} on the bus within {within} s")


# -- CoAP (a plain OCF client) ----------------------------------------------------------------


class CoapClient:
    """aiocoap client context with CBOR in and out."""

    def __init__(self) -> None:
        self.context: Any = None

    async def __aenter__(self) -> CoapClient:
        self.context = await aiocoap.Context.create_client_context(transports=["udp6"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.context.shutdown()

    async def get(self, uri: str) -> Any:
        response = await self.context.request(aiocoap.Message(code=aiocoap.GET, uri=uri)).response
        if not response.code.is_successful():
            raise RuntimeError(f"GET {uri}: {response.code}")
        return cbor2.loads(response.payload) if response.payload else None

    async def post(self, uri: str, value: Any) -> None:
        message = aiocoap.Message(code=aiocoap.POST, uri=uri, payload=cbor2.dumps(value),
                                  content_format=10000)
        response = await self.context.request(message).response
        if not response.code.is_successful():
            raise RuntimeError(f"POST {uri}: {response.code}")

    async def virtual_devices(self, server: str) -> dict[str, str]:
        """``device name -> endpoint URI`` of every device in the gateway's ``/oic/res``."""
        links = await self.get(f"{server}/oic/res")
        endpoints: dict[str, str] = {}
        for link in links or []:
            eps = [e["ep"] for e in link.get("eps", []) if e["ep"].startswith("coap://")]
            if eps and link.get("href") == "/oic/d":
                endpoints[link.get("anchor", "")] = eps[0]
        names = await asyncio.gather(*(self.get(f"{ep}/oic/d") for ep in endpoints.values()))
        return {str(d["n"]): ep for d, ep in zip(names, endpoints.values(), strict=True)}

    async def wait_for_device(self, server: str, name: str, within: float = 20.0) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError, OSError):
                devices = await self.virtual_devices(server)
                if name in devices:
                    return devices[name]
            await asyncio.sleep(0.2)
        raise TimeoutError(f"no virtual OCF device {name!r} at {server} within {within} s")
