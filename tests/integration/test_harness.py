"""The test harness itself works: real dbus-daemon, real mosquitto, real multicast on ocfbr0.

Every other integration test builds on these fixtures, so each is proven here against real
peers: dbus-fast clients on the private bus, aiomqtt clients through the broker, and UDP
multicast (the OCF discovery groups of docs/protocol-notes.md: 224.0.1.187 and ff02::158, port
5683) crossing the bridge between network namespaces.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import select
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusStr
from dbus_fast.service import ServiceInterface, dbus_method

from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.mosquitto import Mosquitto, MosquittoFactory
from bridge.sim.testing.netns import NETNS_DIR, OcfNetwork, require_root
from bridge.sim.testing.procs import await_until

BUS_NAME = "org.ocfaj.HarnessTest"
OBJECT_PATH = "/org/ocfaj/HarnessTest"
INTERFACE = "org.ocfaj.HarnessTest.Echo"
OCF_GROUP_V4 = "224.0.1.187"
OCF_GROUP_V6 = "ff02::158"
COAP_PORT = 5683


class EchoInterface(ServiceInterface):
    def __init__(self) -> None:
        super().__init__(INTERFACE)

    @dbus_method(name="Echo")
    def echo(self, text: DBusStr) -> DBusStr:
        return f"echo:{text}"


async def _call_echo(address: str, text: str) -> list[Any]:
    """Two fresh connections: one owns BUS_NAME and serves Echo, the other calls it."""
    server = await MessageBus(bus_address=address).connect()
    client = await MessageBus(bus_address=address).connect()
    try:
        server.export(OBJECT_PATH, EchoInterface())
        await server.request_name(BUS_NAME)
        reply = await client.call(
            Message(
                destination=BUS_NAME,
                path=OBJECT_PATH,
                interface=INTERFACE,
                member="Echo",
                signature="s",
                body=[text],
            )
        )
        assert reply is not None
        assert reply.message_type == MessageType.METHOD_RETURN, reply.body
        assert reply.sender is not None and reply.sender == server.unique_name
        return list(reply.body)
    finally:
        server.disconnect()
        client.disconnect()


async def test_dbus_daemon_serves_method_calls_and_survives_restart(
    dbus_daemon: DBusDaemon,
) -> None:
    assert dbus_daemon.address.startswith("unix:path=")
    assert await _call_echo(dbus_daemon.address, "before") == ["echo:before"]

    survivor = await MessageBus(bus_address=dbus_daemon.address).connect()
    first_pid = dbus_daemon.pid
    dbus_daemon.restart()
    assert dbus_daemon.pid != first_pid
    # The old connection sees the daemon go away; new connections to the same address work.
    await await_until(lambda: not survivor.connected, 10, message="old connection to drop")
    assert await _call_echo(dbus_daemon.address, "after") == ["echo:after"]


async def test_dbus_daemon_stop_refuses_then_start_accepts(dbus_daemon: DBusDaemon) -> None:
    dbus_daemon.stop()
    assert not dbus_daemon.running
    with pytest.raises(OSError):
        await MessageBus(bus_address=dbus_daemon.address).connect()
    dbus_daemon.start()
    assert await _call_echo(dbus_daemon.address, "again") == ["echo:again"]


async def _publish_and_receive(broker: Mosquitto, topic: str, payload: bytes) -> aiomqtt.Message:
    async with (
        aiomqtt.Client(broker.host, broker.port, identifier="harness-sub") as sub,
        aiomqtt.Client(broker.host, broker.port, identifier="harness-pub") as pub,
    ):
        await sub.subscribe(topic, qos=1)
        await pub.publish(topic, payload, qos=1)
        async with asyncio.timeout(10):
            async for message in sub.messages:
                return message
    raise AssertionError("subscription ended without a message")


async def test_mosquitto_relays_publish_and_survives_restart(mosquitto: Mosquitto) -> None:
    message = await _publish_and_receive(mosquitto, "ocfaj/harness/a", b"first")
    assert (message.topic.value, message.payload, message.qos) == (
        "ocfaj/harness/a",
        b"first",
        1,
    )

    port = mosquitto.port
    first_pid = mosquitto.pid
    mosquitto.restart()
    assert (mosquitto.port, mosquitto.pid != first_pid) == (port, True)
    message = await _publish_and_receive(mosquitto, "ocfaj/harness/b", b"second")
    assert (message.topic.value, message.payload) == ("ocfaj/harness/b", b"second")


async def test_mosquitto_factory_persistence_and_extra_listener(
    mosquitto_factory: MosquittoFactory,
) -> None:
    broker: Mosquitto = mosquitto_factory(listeners=[""], persistence=True)
    first, second = broker.ports
    assert first != second
    async with aiomqtt.Client(broker.host, first, identifier="harness-retain") as pub:
        await pub.publish("ocfaj/harness/retained", b"kept", qos=1, retain=True)
    broker.restart()
    # The retained message was saved at SIGTERM and is served on the second listener.
    async with aiomqtt.Client(broker.host, second, identifier="harness-late") as sub:
        await sub.subscribe("ocfaj/harness/retained", qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiter(sub.messages))
    assert (message.payload, message.retain) == (b"kept", True)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    """A mosquitto password file with user ``gateway``, password ``s3cret``."""
    path = tmp_path / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(path), "gateway", "s3cret"],
        check=True,
        capture_output=True,
    )
    return path


async def test_mosquitto_factory_applies_config_extra(
    mosquitto_factory: MosquittoFactory, password_file: Path
) -> None:
    passwords = password_file
    broker = mosquitto_factory(f"password_file {passwords}", allow_anonymous=False)
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(broker.host, broker.port, identifier="anonymous"):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            broker.host, broker.port, username="gateway", password="wrong", identifier="bad"
        ):
            pass
    async with aiomqtt.Client(
        broker.host, broker.port, username="gateway", password="s3cret", identifier="good"
    ) as client:
        await client.subscribe("ocfaj/harness/auth", qos=1)
        await client.publish("ocfaj/harness/auth", b"authenticated", qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiter(client.messages))
    assert message.payload == b"authenticated"


# --- multicast across the OCF link --------------------------------------------------------


def open_multicast_listeners(ifname: str) -> dict[socket.socket, str]:
    """UDP sockets on port 5683 joined to the OCF groups on ``ifname``, keyed to a family."""
    ifindex = socket.if_nametoindex(ifname)
    v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    v4.bind(("", 5683))
    mreqn = struct.pack(
        "4s4si", socket.inet_aton("224.0.1.187"), socket.inet_aton("0.0.0.0"), ifindex
    )
    v4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    v6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    v6.bind(("::", 5683))
    mreq6 = socket.inet_pton(socket.AF_INET6, "ff02::158") + struct.pack("@I", ifindex)
    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq6)
    return {v4: "ipv4", v6: "ipv6"}


def receive_one_per_family(sockets: dict[socket.socket, str]) -> dict[str, dict[str, str]]:
    """The first datagram on each socket: ``{family: {"payload": ..., "sender": ...}}``."""
    pending = dict(sockets)
    received: dict[str, dict[str, str]] = {}
    while pending:
        readable, _, _ = select.select(list(pending), [], [], 30)
        if not readable:
            raise TimeoutError(f"no multicast datagram within 30 s for {sorted(pending.values())}")
        for sock in readable:
            data, addr = sock.recvfrom(2048)
            received[pending.pop(sock)] = {"payload": data.decode(), "sender": addr[0]}
            sock.close()
    return received


# The same two functions run inside a device host's namespace as a script.
LISTENER_SCRIPT = (
    "import json, select, socket, struct, sys\n"
    + inspect.getsource(open_multicast_listeners)
    + inspect.getsource(receive_one_per_family)
    + "sockets = open_multicast_listeners(sys.argv[1])\n"
    + "print('ready', flush=True)\n"
    + "print(json.dumps(receive_one_per_family(sockets)), flush=True)\n"
)

SENDER_SCRIPT = """
import socket, sys, time
payload = sys.argv[1].encode()
v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
target6 = socket.getaddrinfo("ff02::158%eth0", 5683, socket.AF_INET6, socket.SOCK_DGRAM)[0][4]
for _ in range(600):  # bounded: at most 30 s, killed as soon as the test has its answers
    v4.sendto(payload, ("224.0.1.187", 5683))
    v6.sendto(payload, target6)
    time.sleep(0.05)
"""


def test_ocf_network_multicast_reaches_other_host_and_bridge(ocf_network: OcfNetwork) -> None:
    sender = ocf_network.add_host("sender")
    listener = ocf_network.add_host("listener")
    assert sender.netns and listener.netns and sender.netns != listener.netns
    assert ocf_network.local.ipv4 == "169.254.0.1"
    assert len({ocf_network.local.ipv4, sender.ipv4, listener.ipv4}) == 3

    remote = listener.popen(
        [sys.executable, "-c", LISTENER_SCRIPT, listener.ifname],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert remote.stdout is not None and remote.stderr is not None
    ready = remote.stdout.readline()
    assert ready == "ready\n", f"listener failed to start: {ready!r} {remote.stderr.read()}"
    local_sockets = open_multicast_listeners(ocf_network.local.ifname)

    sender.popen([sys.executable, "-c", SENDER_SCRIPT, "hello from sender"])

    local = receive_one_per_family(local_sockets)
    remote_line = remote.stdout.readline()
    assert remote.wait(30) == 0, remote.stderr.read()
    in_listener_host = json.loads(remote_line)

    for where, got in (("bridge", local), ("listener host", in_listener_host)):
        assert got["ipv4"] == {"payload": "hello from sender", "sender": sender.ipv4}, where
        assert got["ipv6"]["payload"] == "hello from sender", where
        # A datagram to ff02:: leaves from the link-local address.
        assert got["ipv6"]["sender"].split("%")[0] == sender.ipv6_ll, where


def test_ocf_network_unicast_between_hosts_and_bridge(ocf_network: OcfNetwork) -> None:
    host = ocf_network.add_host("device")
    echo = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
        "s.bind(('::', 5683))\n"
        "print('ready', flush=True)\n"
        "for _ in range(3):\n"
        "    data, addr = s.recvfrom(100)\n"
        "    s.sendto(data + b'!', addr)\n"
    )
    server = host.popen([sys.executable, "-c", echo], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline() == "ready\n"
    targets = [
        (socket.AF_INET, (host.ipv4, 5683)),
        (socket.AF_INET6, (host.ipv6, 5683)),
        (socket.AF_INET6, (host.ipv6_ll, 5683, 0, socket.if_nametoindex("ocfbr0"))),
    ]
    for family, address in targets:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(30)
            sock.sendto(b"ping", address)
            data, _ = sock.recvfrom(100)
            assert data == b"ping!", address


def test_ocf_network_close_removes_namespaces_links_and_processes() -> None:
    require_root()
    network = OcfNetwork()
    try:
        network.setup()
        host = network.add_host("doomed")
        assert host.netns is not None
        sleeper = host.popen(["sleep", "300"])
        child_of_local = network.local.popen(["sleep", "300"])
    finally:
        network.close()
    assert sleeper.poll() is not None and child_of_local.poll() is not None
    assert not (NETNS_DIR / host.netns).exists()
    links = subprocess.run(["ip", "-o", "link"], check=True, capture_output=True, text=True)
    assert "ocfbr0" not in links.stdout and "ocfv" not in links.stdout


async def test_await_until_accepts_async_predicates() -> None:
    calls: list[int] = []

    async def third_call_succeeds() -> bool:
        calls.append(1)
        return len(calls) >= 3

    await await_until(third_call_succeeds, 10)
    assert len(calls) == 3
