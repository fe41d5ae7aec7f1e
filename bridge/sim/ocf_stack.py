"""How a simulated OCF device's stack behaves where real stacks differ: the reference stack's
double.

Layer: ``bridge.sim`` (aiocoap glue around the OCF side's server). A :class:`StackQuirks`
value says which behaviours of the reference OCF stack (IoTivity-Lite) a simulator process
reproduces; all are off by default, :meth:`StackQuirks.reference` turns on those a
reference-stack device shows on every network. The multicast ``/oic/res`` responder of the
process (:class:`ListingEndpoint`) applies them:

- ``block_multicast_listing``: a listing longer than ``listing_block_size`` bytes is answered
  block-wise, to multicast requests too (block 0 only). The stack then keeps the unfinished
  transfer for ``blockwise_hold`` seconds, keyed by the client's address and port, and
  silently drops every multicast request from that address and port while it does; asking
  for the last block from the same address and port ends the transfer.
- ``reply_jitter``: each multicast reply waits a random 0..``reply_jitter`` seconds, so a
  dual-stack device's IPv4 and IPv6 replies arrive in random order.
- ``non_dedup_window``: a NON request whose message id is one of the last that many NON ids
  the stack saw is dropped as a duplicate, whoever sent it.
- ``client_only``: the device is an OCF client application: it answers discovery with its
  ``/oic/d`` and ``/oic/p`` and has no resource to bridge.

That a device which restarts comes back with a fresh ``di`` and fresh ports while its ``piid``
stays is not a quirk: every simulated OCF device does it (``bridge.sim.ocf``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import aiocoap
from aiocoap.numbers.types import Type
from aiocoap.optiontypes import BlockOption

from bridge.ocf.coap_messages import code_of, is_multicast
from bridge.ocf.coap_server import Listed
from bridge.ocf.netif import unmapped
from bridge.ocf.served import Reply
from bridge.sim.device import SimDevice
from bridge.sim.ocf_faults import FaultyListingEndpoint, _FaultySite

log = logging.getLogger("ocfaj.sim.stack")

#: RFC 7967 No-Response value "not interested in any response": aiocoap sends nothing.
_SILENT = 26
#: RFC 7959 block sizes: 2 ** (exponent + 4), exponent 0..6.
BLOCK_SIZES = tuple(2 ** (e + 4) for e in range(7))


@dataclass(frozen=True)
class StackQuirks:
    """Reference-stack behaviours a simulator reproduces (see the module docstring)."""

    block_multicast_listing: bool = False
    listing_block_size: int = 1024
    blockwise_hold: float = 247.0
    reply_jitter: float = 0.0
    non_dedup_window: int = 0
    client_only: bool = False

    @classmethod
    def reference(cls) -> StackQuirks:
        """What a reference-stack device does on every network (all but ``client_only``)."""
        return cls(block_multicast_listing=True, reply_jitter=0.05, non_dedup_window=25)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> StackQuirks:
        """Quirks from keyword settings (a fixture's or a control command's); ``ValueError``
        names an unknown key or a bad value."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known) - {"reference"})
        if unknown:
            raise ValueError(f"unknown stack quirk(s) {', '.join(unknown)} "
                             f"(known: reference, {', '.join(known)})")
        quirks = cls.reference() if values.get("reference") else cls()
        settings = {k: v for k, v in values.items() if k != "reference"}
        for key, value in settings.items():
            default = getattr(cls(), key)
            if isinstance(default, bool):
                fits = isinstance(value, bool)
            elif isinstance(default, int):
                fits = isinstance(value, int) and not isinstance(value, bool)
            else:
                fits = isinstance(value, int | float) and not isinstance(value, bool)
            if not fits:
                raise ValueError(f"stack quirk {key} must be {type(default).__name__}, "
                                 f"got {value!r}")
        quirks = replace(quirks, **settings)
        quirks.check()
        return quirks

    def check(self) -> None:
        if self.listing_block_size not in BLOCK_SIZES:
            raise ValueError(f"listing_block_size must be one of {BLOCK_SIZES}, "
                             f"got {self.listing_block_size}")
        if self.blockwise_hold < 0 or self.reply_jitter < 0 or self.non_dedup_window < 0:
            raise ValueError("blockwise_hold, reply_jitter and non_dedup_window must not be "
                             "negative")

    def describe(self) -> dict[str, Any]:
        return asdict(self)


class _ListingSite(_FaultySite):
    """The responder's site: the quirks, then the endpoint's answers (with its faults)."""

    def __init__(self, endpoint: ListingEndpoint) -> None:
        super().__init__(endpoint, endpoint.faulty_for)
        self._listing = endpoint

    async def render_to_pipe(self, pipe: Any) -> None:
        request = pipe.request
        state = self._listing
        quirks = state.quirks
        if quirks.non_dedup_window and request.mtype == Type.NON:
            if request.mid in state.recent_non_mids:
                state.counters["non_duplicates_dropped"] += 1
                pipe.add_response(aiocoap.Message(code=code_of(205), no_response=_SILENT),
                                  is_last=True)
                return
            state.recent_non_mids.append(request.mid)
        multicast = is_multicast(request)
        path = "/" + "/".join(request.opt.uri_path)
        if multicast:
            state.counters["multicast_requests"] += 1
        if path != "/oic/res" or not quirks.block_multicast_listing:
            if multicast and quirks.reply_jitter:
                await asyncio.sleep(random.uniform(0, quirks.reply_jitter))
            await super().render_to_pipe(pipe)
            return
        pipe.add_response(await self._listing_block(request, multicast), is_last=True)

    async def _listing_block(self, request: Any, multicast: bool) -> aiocoap.Message:
        state = self._listing
        quirks = state.quirks
        client = _client_of(request)
        now = time.monotonic()
        for key, until in list(state.transfers.items()):
            if until <= now:
                del state.transfers[key]
                state.counters["transfers_expired"] += 1
        if multicast and client in state.transfers:
            # "duplicate block-wise transfer request due to repeated multicast"
            state.counters["multicast_dropped"] += 1
            return aiocoap.Message(code=code_of(205), no_response=_SILENT)
        if multicast and quirks.reply_jitter:
            await asyncio.sleep(random.uniform(0, quirks.reply_jitter))
        reply = await self.render(request)
        if not reply.code.is_successful() or reply.opt.no_response:
            return reply
        asked = request.opt.block2
        size = min(quirks.listing_block_size, asked.size if asked else 1024)
        number = asked.block_number if asked else 0
        payload = bytes(reply.payload)
        if number == 0 and len(payload) <= size:
            state.transfers.pop(client, None)
            return reply
        start = number * size
        if start >= len(payload):
            return aiocoap.Message(code=code_of(402), payload=b"block past the end")
        more = start + size < len(payload)
        reply.payload = payload[start:start + size]
        reply.opt.block2 = BlockOption.BlockwiseTuple(number, more, BLOCK_SIZES.index(size))
        if more:
            state.transfers[client] = now + quirks.blockwise_hold
            state.counters["blocks_sent"] += 1
        else:
            state.transfers.pop(client, None)
            state.counters["transfers_finished"] += 1
        return reply


def _client_of(request: Any) -> tuple[str, int]:
    sockaddr = getattr(request.remote, "sockaddr", None) or ("", 0)
    return unmapped(str(sockaddr[0])), int(sockaddr[1])


#: Answers a request to the responder instead of it, or None to leave it to the responder.
Answerer = Callable[[Any], Awaitable[Reply | None]]


class ListingEndpoint(FaultyListingEndpoint):
    """The multicast ``/oic/res`` responder of a simulator process, with its stack quirks
    (and the fault injection of ``bridge.sim.ocf_faults``); ``extra`` answers first."""

    def __init__(self, devices: Callable[[], Sequence[SimDevice]], *, port: int,
                 multicast: list[tuple[str, str]], listed: Listed, quirks: StackQuirks) -> None:
        super().__init__(devices, port=port, multicast=multicast, listed=listed)
        self.quirks = quirks
        #: unfinished block-wise transfers: client (address, port) -> when they expire.
        self.transfers: dict[tuple[str, int], float] = {}
        self.recent_non_mids: collections.deque[int] = collections.deque(
            maxlen=max(quirks.non_dedup_window, 1))
        self.counters: collections.Counter[str] = collections.Counter()
        self.extra: Answerer | None = None

    async def answer(self, message: Any) -> Reply:
        if self.extra is not None:
            reply = await self.extra(message)
            if reply is not None:
                return reply
        return await super().answer(message)

    async def start(self) -> int:
        port = await super().start()
        # aiocoap documents replacing the site of a running context through this attribute.
        self._context.serversite = _ListingSite(self)
        return port

    def stats(self) -> dict[str, int]:
        """What the quirks did so far, and the transfers still unfinished."""
        return {"unfinished_transfers": len(self.transfers), **self.counters}


def add_quirk_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "stack behaviour", "behave like the reference OCF stack (IoTivity-Lite) where real "
                           "stacks differ from the simple default")
    group.add_argument("--like-reference", action="store_true",
                       help="all of the reference stack's behaviours below but --client-only "
                            "(block-wise multicast listing with its drop rule, reply jitter "
                            "0.05 s, NON duplicate window 25)")
    group.add_argument("--block-multicast-listing", action="store_true", default=None,
                       help="answer /oic/res block-wise to multicast too, and drop multicast "
                            "requests from a client whose block-wise transfer is unfinished")
    group.add_argument("--listing-block-size", type=int, default=None, metavar="BYTES",
                       help="block size of the listing, 16..1024 (default 1024)")
    group.add_argument("--blockwise-hold", type=float, default=None, metavar="SECONDS",
                       help="how long an unfinished block-wise transfer is kept (default 247)")
    group.add_argument("--reply-jitter", type=float, default=None, metavar="SECONDS",
                       help="random delay of each multicast reply, up to this (IPv4 and IPv6 "
                            "replies then arrive in random order)")
    group.add_argument("--non-dedup-window", type=int, default=None, metavar="N",
                       help="drop a NON request whose message id is among the last N seen, "
                            "whoever sent it (the reference stack: 25)")
    group.add_argument("--client-only", action="store_true", default=None,
                       help="an OCF client application: /oic/d and /oic/p, no resources")


def quirks_from_args(args: argparse.Namespace) -> StackQuirks:
    """The quirks the command line asked for; ``ValueError`` names a bad value."""
    names = ("block_multicast_listing", "listing_block_size", "blockwise_hold",
             "reply_jitter", "non_dedup_window", "client_only")
    settings: dict[str, Any] = {name: getattr(args, name) for name in names
                                if getattr(args, name) is not None}
    return StackQuirks.from_mapping({"reference": args.like_reference, **settings})


def quirk_arguments(quirks: StackQuirks) -> list[str]:
    """The ``ocfaj simulate ocf`` flags that give ``quirks`` (the inverse of
    :func:`quirks_from_args`), for starting a simulator process."""
    default = StackQuirks()
    flags: list[str] = []
    for name, value in quirks.describe().items():
        if value == getattr(default, name):
            continue
        flag = "--" + name.replace("_", "-")
        flags += [flag] if isinstance(value, bool) else [flag, str(value)]
    return flags
