"""Where the gateway answers, on real links (issue 15, point 6; docs/ocf.md, "Where the
gateway answers").

The gateway's OCF side runs in-process on ``ocfbr0`` (``ocf.interfaces = ["ocfbr0"]``, every
address bound). Clients are sockets opened inside other network namespaces: a host on
``ocfbr0``, and an intruder on a second link the test builds (a veth pair ``ocfx0``, with
only the addresses the test assigns: 169.254.9.0/24 and fd00:bad::/64, more specific than
``ocfbr0``'s routes). Every refusal is proved by the gate's counter first; the client's
socket is then checked to hold no answer.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from aiocoap import CON, NON, Message
from aiocoap.numbers.codes import Code

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model.types import Catalogue
from bridge.ocf import wire
from bridge.ocf.limits import Refusals
from bridge.ocf.side import OcfSide
from bridge.sim.testing.netns import NAMESPACE_PREFIX, Host, OcfNetwork
from tests.ocf.conftest import SideFactory
from tests.ocf.things import alljoyn_lamp

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
#: The intruder's link: the gateway's end, the intruder's end.
INTRUDER_LINK = "ocfx0"
GATEWAY_V4, INTRUDER_V4 = "169.254.9.1", "169.254.9.2"
GATEWAY_V6, INTRUDER_V6 = "fd00:bad::1", "fd00:bad::2"
#: Addresses the host on ocfbr0 also sends from, which the gateway has no route to.
OFF_LINK = {socket.AF_INET: "10.99.0.2", socket.AF_INET6: "fd00:99::2"}
FAMILIES = [socket.AF_INET, socket.AF_INET6]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def socket_in(netns: str, family: int) -> socket.socket:
    """A non-blocking UDP socket of network namespace ``netns`` (it stays there)."""
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if _libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {netns} failed")
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM)
        finally:
            if _libc.setns(here, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back failed")
    finally:
        os.close(here)
        os.close(there)
    sock.setblocking(False)
    return sock


@pytest.fixture
def intruder(ocf_network: OcfNetwork) -> Iterator[str]:
    """A network namespace on a second link to this machine, not named in ocf.interfaces."""
    netns = f"{NAMESPACE_PREFIX}{os.getpid()}-intruder"
    ip("netns", "add", netns)
    try:
        ip("link", "add", INTRUDER_LINK, "type", "veth", "peer", "name", "eth0", "netns", netns)
        for prefix, link, v4, v6 in ((), INTRUDER_LINK, GATEWAY_V4, GATEWAY_V6), (
                ("-n", netns), "eth0", INTRUDER_V4, INTRUDER_V6):
            # No address but the test's own: no generated link-local address, no DAD.
            ip(*prefix, "link", "set", link, "addrgenmode", "none")
            ip(*prefix, "addr", "add", f"{v4}/24", "dev", link)
            ip(*prefix, "addr", "add", f"{v6}/64", "dev", link, "nodad")
            ip(*prefix, "link", "set", link, "up")
        ip("-n", netns, "link", "set", "lo", "up")
        # Everything else through this machine, so its ocfbr0 addresses are reachable too.
        ip("-n", netns, "route", "add", "default", "via", GATEWAY_V4)
        ip("-n", netns, "-6", "route", "add", "default", "via", GATEWAY_V6)
        yield netns
    finally:
        subprocess.run(["ip", "netns", "delete", netns], check=False, capture_output=True)
        subprocess.run(["ip", "link", "delete", INTRUDER_LINK], check=False,
                       capture_output=True)


def multicast_socket(host: Host, family: int, source: str) -> socket.socket:
    """A socket of ``host`` sending from ``source`` to the OCF group of its link."""
    assert host.netns is not None
    sock = socket_in(host.netns, family)
    if family == socket.AF_INET6:
        # The host's link is its eth0, whose index is the same seen from inside.
        index = int(subprocess.run(
            ["ip", "netns", "exec", host.netns, "cat", "/sys/class/net/eth0/ifindex"],
            check=True, capture_output=True, text=True).stdout)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    sock.bind((source, 0))
    return sock


def group(family: int) -> tuple[str, int]:
    return (wire.MCAST_V4 if family == socket.AF_INET else wire.MCAST_V6["link"],
            wire.COAP_PORT)


def request(path: str, number: int, *, confirmable: bool = True) -> bytes:
    message = Message(code=Code.GET, uri_path=tuple(p for p in path.split("/") if p))
    message.mtype = CON if confirmable else NON
    message.mid = number & 0xFFFF
    message.token = number.to_bytes(4, "big")
    return bytes(message.encode())


def answers(sock: socket.socket) -> list[Message]:
    """Every datagram waiting on ``sock``, decoded (no waiting)."""
    received = []
    while True:
        try:
            received.append(Message.decode(sock.recv(65536)))
        except BlockingIOError:
            return received


async def until(predicate: Callable[[], bool], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 (counters have no event)
            await asyncio.sleep(0.01)


async def exchange(sock: socket.socket, target: tuple[str, int], data: bytes) -> Message:
    loop = asyncio.get_running_loop()
    await loop.sock_sendto(sock, data, target)
    async with asyncio.timeout(10):
        return Message.decode(await loop.sock_recv(sock, 65536))


async def lamp_side(ocf_side: SideFactory, registry: Registry, catalogue: Catalogue,
                    **config: object) -> tuple[OcfSide, int]:
    registry.upsert(alljoyn_lamp(catalogue, IdentityBook()))
    side = await ocf_side(**config)
    assert side.virtual is not None
    await side.virtual.wait_idle()
    [device] = side.virtual.virtuals.values()
    return side, device.endpoint.port


def refusals(side: OcfSide) -> Refusals:
    assert side.virtual is not None
    return side.virtual.limits.refused


@pytest.mark.parametrize("family", FAMILIES, ids=["ipv4", "ipv6"])
async def test_a_host_on_another_interface_cannot_reach_the_virtual_devices(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry,
        catalogue: Catalogue, intruder: str, family: int) -> None:
    side, port = await lamp_side(ocf_side, registry, catalogue)
    refused = refusals(side)
    v6 = family == socket.AF_INET6
    member = ocf_network.add_host("member")
    assert member.netns is not None
    # The control: a host on ocfbr0 reads the lamp.
    with socket_in(member.netns, family) as sock:
        answer = await exchange(sock, (ocf_network.local.ipv6 if v6 else
                                       ocf_network.local.ipv4, port), request("/switch", 1))
        assert str(answer.code.dotted) == "2.05"

    # The intruder tries the lamp and the 5683 listener at the gateway's address on its own
    # link, and at the gateway's ocfbr0 address (which Linux accepts on any interface).
    targets = [(GATEWAY_V6 if v6 else GATEWAY_V4, port),
               (ocf_network.local.ipv6 if v6 else ocf_network.local.ipv4, port),
               (GATEWAY_V6 if v6 else GATEWAY_V4, wire.COAP_PORT)]
    with socket_in(intruder, family) as sock:
        for number, target in enumerate(targets):
            data = request("/oic/res" if target[1] == wire.COAP_PORT else "/switch", number)
            await asyncio.get_running_loop().sock_sendto(sock, data, target)
        await until(lambda: refused.off_interface >= len(targets))
        assert answers(sock) == []
    assert refused.off_interface == len(targets)


@pytest.mark.parametrize("family", FAMILIES, ids=["ipv4", "ipv6"])
async def test_a_multicast_flood_from_one_source_gets_at_most_the_configured_rate(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry,
        catalogue: Catalogue, family: int) -> None:
    burst, rate, flood = 3, 1.0, 40
    side, _ = await lamp_side(ocf_side, registry, catalogue, multicast_burst=burst,
                              multicast_answers_per_second=rate)
    refused = refusals(side)
    host = ocf_network.add_host("flooder")
    loop = asyncio.get_running_loop()
    source = host.ipv4 if family == socket.AF_INET else host.ipv6
    with multicast_socket(host, family, source) as sock:
        began = time.monotonic()
        for number in range(flood):
            await loop.sock_sendto(sock, request("/oic/res", number, confirmable=False),
                                   group(family))
        received: list[Message] = []

        def all_seen() -> bool:
            received.extend(answers(sock))
            return len(received) + refused.multicast_rate >= flood

        await until(all_seen)
        elapsed = time.monotonic() - began
        assert 1 <= len(received) <= burst + int(elapsed * rate) + 1
        assert all(str(a.code.dotted) == "2.05" for a in received)
    assert refused.multicast_rate >= flood - burst - int(elapsed * rate) - 1


@pytest.mark.parametrize("family", FAMILIES, ids=["ipv4", "ipv6"])
async def test_multicast_from_an_off_link_source_gets_no_answer(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry,
        catalogue: Catalogue, family: int) -> None:
    side, _ = await lamp_side(ocf_side, registry, catalogue)
    refused = refusals(side)
    host = ocf_network.add_host("router")
    assert host.netns is not None
    # A source the gateway reaches through no link of its own (as behind a router).
    v6 = family == socket.AF_INET6
    ip("-n", host.netns, *(["-6"] if v6 else []), "addr", "add",
       f"{OFF_LINK[family]}/{128 if v6 else 32}", "dev", "eth0", *(["nodad"] if v6 else []))
    loop = asyncio.get_running_loop()
    with multicast_socket(host, family, OFF_LINK[family]) as off_link, \
            multicast_socket(host, family, host.ipv6 if v6 else host.ipv4) as on_link:
        for number in range(3):
            await loop.sock_sendto(off_link, request("/oic/res", number, confirmable=False),
                                   group(family))
        await until(lambda: refused.off_link >= 3)
        # The same host from its on-link address is answered.
        answer = await exchange(on_link, group(family),
                                request("/oic/res", 9, confirmable=False))
        assert str(answer.code.dotted) == "2.05"
        assert answers(off_link) == []
    assert refused.off_link == 3
