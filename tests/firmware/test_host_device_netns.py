"""The firmware running under CPython in its own network namespace, seen from the link.

The device runs in host ``fw`` (169.254.0.2, fd00:cfa::2) of ``ocf_network``; this test
process sits on the bridge ``ocfbr0`` (169.254.0.1, fd00:cfa::1) like a gateway. Discovery
uses raw multicast datagrams (aiocoap's request API returns only the first reply to a
multicast request); unicast requests and the main observation use aiocoap as the client.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path
from typing import Any

import cbor2
import pytest
from aiocoap import CHANGED, CONTENT, GET, NON, NOT_ACCEPTABLE, POST, Context, Message
from aiocoap.numbers.types import Type
from aiocoap.optiontypes import UintOption

from bridge.sim.testing.netns import OcfNetwork
from tests.firmware.hostdevice import HostDevice, host_config, start_host_device

OCF_CBOR = 10000
ACCEPT_VERSION = 2049
CONTENT_VERSION = 2053
OCF_1_0 = 2048
RECEIVE_TIMEOUT = 10.0
BLOCK_SZX = 4  # 256-byte blocks: /oic/res of the host board goes block-wise

# The raw-datagram parts set message id, type and token themselves on purpose (duplicate
# detection, RST matching); aiocoap deprecates that for its own request API only.
pytestmark = pytest.mark.filterwarnings("ignore:Initializing messages with:DeprecationWarning")


@pytest.fixture
def device(ocf_network: OcfNetwork, tmp_path: Path) -> HostDevice:
    host = ocf_network.add_host("fw")
    # Short ACK timeout so the retransmission test sees backoff without a long wait.
    config = host_config(block_szx=BLOCK_SZX, ack_timeout_ms=300)
    return start_host_device(host, tmp_path / "fw", config)


def ocf_request(code: Any, uri: str, payload: bytes = b"", **kwargs: Any) -> Message:
    msg = Message(code=code, uri=uri, payload=payload, **kwargs)
    msg.opt.accept = OCF_CBOR
    msg.opt.add_option(UintOption(ACCEPT_VERSION, OCF_1_0))
    if payload:
        msg.opt.content_format = OCF_CBOR
        msg.opt.add_option(UintOption(CONTENT_VERSION, OCF_1_0))
    return msg


def raw_discovery(mid: int, token: bytes, query: str | None = None) -> bytes:
    msg = Message(mtype=NON, code=GET, mid=mid, token=token, uri_path=("oic", "res"))
    if query:
        msg.opt.uri_query = (query,)
    msg.opt.accept = OCF_CBOR
    msg.opt.add_option(UintOption(ACCEPT_VERSION, OCF_1_0))
    return msg.encode()


def multicast_socket(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET:
        sock.bind(("169.254.0.1", 0))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("169.254.0.1"))
    else:
        sock.bind(("fd00:cfa::1", 0))
        index = socket.if_nametoindex("ocfbr0")
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, struct.pack("@I", index))
    sock.settimeout(RECEIVE_TIMEOUT)
    return sock


def receive(sock: socket.socket) -> tuple[Message, Any]:
    data, peer = sock.recvfrom(2048)
    return Message.decode(data), peer


def option(msg: Message, number: int) -> int | None:
    for opt in msg.opt.option_list():
        if opt.number == number:
            value = opt.value
            return int.from_bytes(value, "big") if isinstance(value, bytes) else int(value)
    return None


def test_multicast_discovery_ipv4_filters_and_block2(device: HostDevice) -> None:
    sock = multicast_socket(socket.AF_INET)
    with sock:
        # A filter that matches nothing must get no answer at all; a matching request sent
        # right after it is answered, and that answer is the first datagram to arrive.
        sock.sendto(raw_discovery(0x1001, b"none", "rt=oic.r.nothing"), ("224.0.1.187", 5683))
        sock.sendto(raw_discovery(0x1002, b"sw", "rt=oic.r.switch.binary"),
                    ("224.0.1.187", 5683))
        reply, peer = receive(sock)
        assert reply.token == b"sw"
        # The reply leaves from the device's ephemeral unicast port, not 5683.
        assert peer == ("169.254.0.2", device.port4)
        assert device.port4 != 5683
        assert reply.code == CONTENT
        assert reply.opt.content_format == OCF_CBOR
        assert option(reply, CONTENT_VERSION) == OCF_1_0
        links = cbor2.loads(reply.payload)
        assert links == [{
            "anchor": f"ocf://{device.di}", "href": "/switch/1",
            "rt": ["oic.r.switch.binary"], "if": ["oic.if.a", "oic.if.baseline"],
            "p": {"bm": 3}, "eps": [{"ep": f"coap://169.254.0.2:{device.port4}"}],
        }]

        # Unfiltered, /oic/res exceeds one 256-byte block: block 0 comes back to multicast.
        sock.sendto(raw_discovery(0x1003, b"all"), ("224.0.1.187", 5683))
        first, _ = receive(sock)
        assert first.token == b"all"
        assert first.opt.block2 is not None
        assert (first.opt.block2.block_number, first.opt.block2.more) == (0, True)
        assert first.opt.block2.size_exponent == BLOCK_SZX
        assert len(first.payload) == 256
        assert first.opt.size2 is not None and first.opt.size2 > 256


async def test_unicast_blockwise_res_get_post_and_observe(device: HostDevice) -> None:
    base = f"coap://169.254.0.2:{device.port4}"
    ctx = await Context.create_client_context()
    try:
        # aiocoap follows Block2 by unicast CON and hands back the whole /oic/res.
        res = await ctx.request(ocf_request(GET, base + "/oic/res")).response
        assert res.code == CONTENT
        links = cbor2.loads(res.payload)
        assert len(res.payload) > 256
        by_href = {link["href"]: link for link in links}
        assert set(by_href) == {"/oic/res", "/oic/d", "/oic/p", "/switch/1", "/light/1",
                                "/temperature/1", "/contact/1"}
        for href in ("/switch/1", "/light/1", "/temperature/1", "/contact/1"):
            assert by_href[href]["p"] == {"bm": 3}
            assert by_href[href]["anchor"] == f"ocf://{device.di}"
        assert by_href["/oic/d"]["p"] == {"bm": 1}

        d = await ctx.request(ocf_request(GET, base + "/oic/d")).response
        assert d.code == CONTENT and d.opt.content_format == OCF_CBOR
        assert option(d, CONTENT_VERSION) == OCF_1_0
        body = cbor2.loads(d.payload)
        assert body["di"] == device.di
        assert body["n"] == "Host demo device"
        assert len(body["piid"]) == 36 and body["piid"] != device.di

        refused = Message(code=GET, uri=base + "/oic/d")
        refused.opt.accept = 60
        assert (await ctx.request(refused).response).code == NOT_ACCEPTABLE

        post = ocf_request(POST, base + "/switch/1", cbor2.dumps({"value": True}))
        changed = await ctx.request(post).response
        assert changed.code == CHANGED
        assert cbor2.loads(changed.payload) == {"value": True}
        # The relay pin really moved.
        assert device.wait_event("pin 5") == "pin 5 1"
        now = await ctx.request(ocf_request(GET, base + "/switch/1")).response
        assert cbor2.loads(now.payload) == {"value": True}

        # Observe the door contact: open at rest (pin 7 pulled up: value true, OCF's "contact
        # broken"); the reed switch closing it (pin low) notifies false, opening again true.
        req = ocf_request(GET, base + "/contact/1", observe=0)
        observed = ctx.request(req)
        first = await observed.response
        assert first.opt.observe is not None
        assert cbor2.loads(first.payload) == {"value": True}
        notifications = aiter(observed.observation)
        device.set_pin(7, 0)
        note = await asyncio.wait_for(anext(notifications), RECEIVE_TIMEOUT)
        assert cbor2.loads(note.payload) == {"value": False}
        assert note.opt.observe > first.opt.observe
        device.set_pin(7, 1)
        note = await asyncio.wait_for(anext(notifications), RECEIVE_TIMEOUT)
        assert cbor2.loads(note.payload) == {"value": True}
        assert device.observers() == 1
    finally:
        await ctx.shutdown()


def test_ipv6_multicast_discovery_lists_ipv6_endpoint(device: HostDevice) -> None:
    with multicast_socket(socket.AF_INET6) as sock:
        sock.sendto(raw_discovery(0x2001, b"v6", "rt=oic.r.sensor.contact"),
                    ("ff02::158", 5683, 0, socket.if_nametoindex("ocfbr0")))
        reply, peer = receive(sock)
    assert peer[0] == "fd00:cfa::2" and peer[1] == device.port6
    links = cbor2.loads(reply.payload)
    assert [link["href"] for link in links] == ["/contact/1"]
    assert links[0]["eps"] == [{"ep": f"coap://[fd00:cfa::2]:{device.port6}"}]


def test_con_notifications_retransmit_and_cancel(device: HostDevice) -> None:
    """Raw client: leave a CON notification un-ACKed, watch the retransmissions, cancel."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("169.254.0.1", 0))
    sock.settimeout(RECEIVE_TIMEOUT)
    target = ("169.254.0.2", device.port4)
    with sock:
        reg = Message(mtype=Type.CON, code=GET, mid=0x3001, token=b"obs1",
                      uri_path=("contact", "1"), observe=0)
        sock.sendto(reg.encode(), target)
        ack, _ = receive(sock)
        assert (ack.mtype, ack.mid, ack.token) == (Type.ACK, 0x3001, b"obs1")
        assert ack.opt.observe is not None
        assert device.observers() == 1

        device.set_pin(7, 0)
        note, _ = receive(sock)
        assert note.mtype == Type.CON and note.token == b"obs1"
        again, _ = receive(sock)  # not ACKed: the same message comes again
        assert (again.mid, again.payload) == (note.mid, note.payload)
        assert cbor2.loads(again.payload) == {"value": False}  # contact closed

        # An RST to the notification ends the observation (RFC 7641 3.6).
        sock.sendto(Message(mtype=Type.RST, code=0, mid=note.mid).encode(), target)
        assert device.observers() == 0

        # Register again, then cancel with GET Observe=1 (the way IoTivity expects).
        reg2 = Message(mtype=Type.CON, code=GET, mid=0x3002, token=b"obs2",
                       uri_path=("contact", "1"), observe=0)
        sock.sendto(reg2.encode(), target)
        assert receive(sock)[0].mid == 0x3002
        assert device.observers() == 1
        cancel = Message(mtype=Type.CON, code=GET, mid=0x3003, token=b"obs2",
                         uri_path=("contact", "1"), observe=1)
        sock.sendto(cancel.encode(), target)
        reply, _ = receive(sock)
        assert reply.mid == 0x3003 and reply.opt.observe is None
        assert cbor2.loads(reply.payload) == {"value": False}  # still closed
        assert device.observers() == 0


def test_identity_survives_restart(ocf_network: OcfNetwork, tmp_path: Path) -> None:
    host = ocf_network.add_host("fw")
    first = start_host_device(host, tmp_path / "fw")
    di = first.di
    assert first.stop() == 0
    second = start_host_device(host, tmp_path / "fw")
    assert second.di == di
