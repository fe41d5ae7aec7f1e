"""CoAP's own rules on the gateway's OCF servers (RFC 7252, RFC 7959), from raw datagrams.

A virtual OCF device (and the gateway's own endpoint) with the default ``max_payload`` gets
hand-made datagrams over loopback, one case each: unrecognised or malformed critical options
(4.02, or nothing for a non-confirmable request), proxying (5.05), reserved and wrong block
sizes (4.00), a gap in a block-wise upload (4.08), bodies over the limit (4.13 with Size1),
datagrams bigger than aiocoap's read buffer (read whole), bytes after the CBOR item (4.00).
Nothing refused reaches the origin device. Simulated OCF devices serve with the same code.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import AsyncIterator, Iterator

import cbor2
import pytest
from aiocoap import CON, NON, Message
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption, OpaqueOption, UintOption

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry, SetProperties
from bridge.core.thing import Side, Thing
from bridge.model.types import Catalogue
from bridge.ocf.config import OcfConfig
from bridge.ocf.virtual import VirtualOcfDevices
from bridge.sim.testing.procs import free_udp_port
from tests.ocf.things import RecordingOrigin, alljoyn_lamp

OCF_CBOR = 10000
MAX_PAYLOAD = OcfConfig().max_payload
# Raw datagrams need our own message ids and tokens, which aiocoap marks as deprecated API.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Peer:
    """A CoAP client that writes its own datagrams, on one socket."""

    def __init__(self, virtual: VirtualOcfDevices, thing: Thing, origin: RecordingOrigin
                 ) -> None:
        self.virtual, self.thing, self.origin = virtual, thing, origin
        self.port = virtual.virtuals[thing.id].endpoint.port
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.bind(("::1", 0))
        self.sock.setblocking(False)
        self._mids: Iterator[int] = itertools.count(1)

    async def send(self, msg: Message, port: int | None = None) -> None:
        msg.mid = next(self._mids)
        msg.token = os.urandom(4)
        await asyncio.get_running_loop().sock_sendto(self.sock, msg.encode(),
                                                     ("::1", port or self.port))

    async def exchange(self, msg: Message, port: int | None = None) -> Message:
        """Send the CON ``msg`` and return its piggybacked answer."""
        await self.send(msg, port)
        loop = asyncio.get_running_loop()
        while True:
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 70000), 10)
            reply = Message.decode(data)
            if reply.mid == msg.mid:
                return reply


@pytest.fixture
async def peer(registry: Registry, catalogue: Catalogue) -> AsyncIterator[Peer]:
    origin = RecordingOrigin()
    registry.register_handler(Side.ALLJOYN, origin)
    thing = registry.upsert(alljoyn_lamp(catalogue, IdentityBook()))
    virtual = VirtualOcfDevices(registry, gateway_name="Test gateway", bind_host="::",
                                server_port=free_udp_port("::1"), multicast=[],
                                max_payload=MAX_PAYLOAD)
    await virtual.start()
    await virtual.wait_idle()
    client = Peer(virtual, thing, origin)
    try:
        yield client
    finally:
        client.sock.close()
        await virtual.shutdown()


def get(*options: OpaqueOption | UintOption, mtype: int = CON) -> Message:
    msg = Message(code=Code.GET, mtype=mtype, uri_path=("switch",))
    for option in options:
        msg.opt.add_option(option)
    return msg


def post(payload: bytes, *options: OpaqueOption | UintOption, mtype: int = CON) -> Message:
    msg = Message(code=Code.POST, mtype=mtype, uri_path=("switch",), payload=payload)
    msg.opt.content_format = OCF_CBOR
    for option in options:
        msg.opt.add_option(option)
    return msg


def block1(payload: bytes, number: int, more: bool, szx: int = 6) -> Message:
    msg = post(payload)
    msg.opt.block1 = BlockOption.BlockwiseTuple(number, more, szx)
    return msg


ON = cbor2.dumps({"value": True})


def text(reply: Message) -> str:
    return bytes(reply.payload).decode()


@pytest.mark.parametrize(("option", "diagnostic"), [
    (OpaqueOption(65001, b"x"), "unrecognised critical option 65001"),
    # Critical options aiocoap knows but these servers do not act on: conditional requests
    # and OSCORE would silently lose their meaning.
    (OpaqueOption(5, b""), "unrecognised critical option 5"),
    (OpaqueOption(9, b""), "unrecognised critical option 9"),
    # RFC 7252 5.4.3: a recognised option whose value is longer than defined (Accept: 2 bytes).
    (OpaqueOption(17, b"\x01\x27\x10"), "is 3 bytes long"),
    (OpaqueOption(2049, b"\x01\x00\x08\x00"), "is 4 bytes long"),
])
async def test_an_unrecognised_or_malformed_critical_option_is_a_bad_option(
        peer: Peer, option: OpaqueOption, diagnostic: str) -> None:
    reply = await peer.exchange(get(option))
    assert reply.code == Code.BAD_OPTION, (reply, reply.payload)
    assert diagnostic in text(reply)


async def test_elective_unknown_options_and_ocfs_own_critical_ones_are_served(
        peer: Peer) -> None:
    reply = await peer.exchange(get(OpaqueOption(65000, b"x"), UintOption(2049, 2048)))
    assert reply.code == Code.CONTENT
    assert cbor2.loads(reply.payload) == {"value": False}


async def test_a_non_repeatable_critical_option_twice_is_a_bad_option(peer: Peer) -> None:
    reply = await peer.exchange(get(UintOption(17, OCF_CBOR), UintOption(17, OCF_CBOR)))
    assert reply.code == Code.BAD_OPTION
    assert "occurs more than once" in text(reply)


async def test_the_gateway_endpoint_refuses_an_unknown_critical_option_too(
        peer: Peer) -> None:
    msg = Message(code=Code.GET, mtype=CON, uri_path=("oic", "res"))
    msg.opt.add_option(OpaqueOption(65001, b""))
    reply = await peer.exchange(msg, peer.virtual.listener.port)
    assert reply.code == Code.BAD_OPTION


async def test_a_post_with_an_unknown_critical_option_never_reaches_the_device(
        peer: Peer) -> None:
    reply = await peer.exchange(post(ON, OpaqueOption(65001, b"x")))
    assert reply.code == Code.BAD_OPTION
    assert peer.origin.commands == []


async def test_a_non_confirmable_request_with_an_unknown_critical_option_is_ignored(
        peer: Peer) -> None:
    # RFC 7252 5.4.1 and 4.3: rejected, i.e. neither answered nor carried out. The CON POST
    # that follows is dispatched after it, so once it is answered the NON one was handled.
    await peer.send(post(ON, OpaqueOption(65001, b"x"), mtype=NON))
    reply = await peer.exchange(post(cbor2.dumps({"value": False})))
    assert reply.code == Code.CHANGED
    assert peer.origin.commands == [SetProperties("switch", {"on": False})]


async def test_proxy_uri_gets_proxying_not_supported(peer: Peer) -> None:
    msg = Message(code=Code.GET, mtype=CON, proxy_uri="coap://[::1]:5683/switch")
    reply = await peer.exchange(msg)
    assert reply.code == Code.PROXYING_NOT_SUPPORTED
    assert "Proxy-Uri (35): this server is no proxy" in text(reply)


async def test_a_five_byte_block1_option_is_a_bad_option(peer: Peer) -> None:
    reply = await peer.exchange(post(ON, OpaqueOption(27, b"\x01\x00\x00\x00\x06")))
    assert reply.code == Code.BAD_OPTION
    assert "Block1 (27) is 5 bytes long" in text(reply)
    assert peer.origin.commands == []


async def test_a_block1_number_beyond_the_limit_is_too_large_with_size1(peer: Peer) -> None:
    reply = await peer.exchange(block1(ON, 2**20 - 1, False))
    assert reply.code == Code.REQUEST_ENTITY_TOO_LARGE
    assert reply.opt.size1 == MAX_PAYLOAD
    assert peer.origin.commands == []


async def test_the_last_block_beyond_a_started_upload_is_too_large_not_an_error(
        peer: Peer) -> None:
    body = cbor2.dumps({"value": True, "note": "x" * 2000})
    first = await peer.exchange(block1(body[:1024], 0, True))
    assert first.code == Code.CONTINUE
    reply = await peer.exchange(block1(body[1024:], 2**20 - 1, False))
    assert reply.code == Code.REQUEST_ENTITY_TOO_LARGE
    assert reply.opt.size1 == MAX_PAYLOAD


async def test_a_gap_in_a_block1_upload_is_request_entity_incomplete(peer: Peer) -> None:
    body = cbor2.dumps({"value": True, "note": "x" * 4000})
    assert (await peer.exchange(block1(body[:1024], 0, True))).code == Code.CONTINUE
    reply = await peer.exchange(block1(body[3072:], 3, False))
    assert reply.code == Code.REQUEST_ENTITY_INCOMPLETE
    assert peer.origin.commands == []


async def test_a_reserved_block1_size_is_a_bad_request(peer: Peer) -> None:
    reply = await peer.exchange(block1(ON + b"\0" * (1024 - len(ON)), 0, True, szx=7))
    assert reply.code == Code.BAD_REQUEST
    assert "block size exponent 7 is reserved" in text(reply)


async def test_a_reserved_block2_size_is_a_bad_request(peer: Peer) -> None:
    msg = get()
    msg.opt.block2 = BlockOption.BlockwiseTuple(0, False, 7)
    reply = await peer.exchange(msg)
    assert reply.code == Code.BAD_REQUEST


async def test_a_block_shorter_than_its_size_with_more_to_come_is_a_bad_request(
        peer: Peer) -> None:
    reply = await peer.exchange(block1(ON, 0, True))
    assert reply.code == Code.BAD_REQUEST
    assert "it must have 1024" in text(reply)


async def test_a_block1_upload_within_the_limit_is_carried_out(peer: Peer) -> None:
    body = cbor2.dumps({"value": True, "note": "x" * 2000})
    assert (await peer.exchange(block1(body[:1024], 0, True))).code == Code.CONTINUE
    reply = await peer.exchange(block1(body[1024:], 1, False))
    assert reply.code == Code.CHANGED
    assert peer.origin.commands == [SetProperties("switch", {"on": True})]


async def test_an_announced_size1_over_the_limit_is_too_large(peer: Peer) -> None:
    msg = block1(ON + b"\0" * (1024 - len(ON)), 0, True)
    msg.opt.size1 = MAX_PAYLOAD + 1
    reply = await peer.exchange(msg)
    assert reply.code == Code.REQUEST_ENTITY_TOO_LARGE
    assert reply.opt.size1 == MAX_PAYLOAD


async def test_a_datagram_bigger_than_the_read_buffer_is_read_whole_and_too_large(
        peer: Peer) -> None:
    # 64,000 bytes: a valid command in the first 4,096 and padding after it. Cut to aiocoap's
    # 4,096-byte read buffer it was carried out (2.04).
    reply = await peer.exchange(post(ON + b"\0" * (64000 - len(ON))))
    assert reply.code == Code.REQUEST_ENTITY_TOO_LARGE
    assert reply.opt.size1 == MAX_PAYLOAD
    assert peer.origin.commands == []


async def test_a_15_kib_post_in_one_datagram_is_carried_out_whole(peer: Peer) -> None:
    body = cbor2.dumps({"value": True, "note": "x" * 15 * 1024})
    assert 4096 < len(body) <= MAX_PAYLOAD
    reply = await peer.exchange(post(body))
    assert reply.code == Code.CHANGED, text(reply)
    assert peer.origin.commands == [SetProperties("switch", {"on": True})]


async def test_bytes_after_the_cbor_item_are_a_bad_request(peer: Peer) -> None:
    reply = await peer.exchange(post(ON + b"\x01"))
    assert reply.code == Code.BAD_REQUEST
    assert "1 bytes after the CBOR item" in text(reply)
    assert peer.origin.commands == []
