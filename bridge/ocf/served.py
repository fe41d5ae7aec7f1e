"""What an OCF server answers: request checks, interfaces, ``/oic/res`` listings, error codes.

Layer: ``bridge.ocf``, pure: no socket, no asyncio, no aiocoap. A :class:`ServedDevice` is a
device this process serves (a virtual device of a bridged Thing, the gateway's own bridge
device, or a simulated device); :func:`handle` turns one decoded :class:`Request` into a
:class:`Reply`. The aiocoap glue (``bridge.ocf.coap_server``) only converts messages, so every
rule here (docs/ocf.md, "Interoperability": 4.06 to Accept 60/50, 4.15 for a POST in format 60,
silence on a multicast filter that matches nothing, eps of the request's family) is
unit-tested and fuzzed without a network. Where the OCF specification asks for "an error"
without naming a code, the answers are those of the reference stack (IoTivity-Lite); the table
in docs/ocf.md ("Answers where the specification leaves room") gives each one and its reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.core.errors import (
    CommandError,
    DeviceError,
    DeviceTimeout,
    DeviceUnavailable,
    NotAllowed,
    ReadOnly,
    UnknownProperty,
    UnknownThing,
)
from bridge.model.types import Value
from bridge.ocf import wire
from bridge.ocf.wire import BM_DISCOVERABLE, BM_OBSERVABLE, PayloadError

Reader = Callable[[], Mapping[str, Value]]
#: Brings a resource's state up to date before a GET is answered (read through to the origin).
Refresher = Callable[[], Awaitable[object]]
#: Applies a checked POST body; returns the resource's new representation (or None).
Writer = Callable[[dict[str, Any]], Awaitable[Mapping[str, Value] | None]]
#: Interfaces through which the OCF interface definitions allow no UPDATE (POST).
READ_ONLY_INTERFACES = ("oic.if.s", "oic.if.r", "oic.if.ll")


class OcfStatus(Exception):
    """An answer other than success, raised by a resource's reader or writer."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class ServedResource:
    href: str
    rts: tuple[str, ...]
    ifs: tuple[str, ...]
    observable: bool
    read: Reader
    write: Writer | None = None
    #: awaited before a GET (not before observe notifications) is answered; None: never.
    refresh: Refresher | None = None
    #: whether ``refresh`` would ask the origin now, looked at without awaiting (the lean GET
    #: path answers only when it would not); None: assume it would.
    reads_through: Callable[[], bool] | None = None
    #: until when (``time.monotonic()``) ``reads_through`` stays false by time alone (inf:
    #: never reads through): the compiled GET path answers from this resource's kept answer
    #: until then. A change of the origin's availability or capabilities, which may change
    #: it, drops kept answers anyway. None: not at all.
    fresh_until: Callable[[], float] | None = None

    @property
    def bm(self) -> int:
        return BM_DISCOVERABLE | (BM_OBSERVABLE if self.observable else 0)


@dataclass(slots=True)
class ServedDevice:
    """One OCF device: identity, ``/oic/d`` and ``/oic/p`` contents, resources."""

    di: str
    device_types: tuple[str, ...]
    device: Mapping[str, Value]
    platform: Mapping[str, Value]
    resources: dict[str, ServedResource] = field(default_factory=dict)
    #: False while the origin is gone: resources answer 5.03 (the device stays listed).
    available: bool = True
    #: The ``eps`` of one resource's link from the device's plain ones (a secured device adds
    #: its coaps endpoints, and lists only those for its secured resources); None: as given.
    link_eps: Callable[[ServedResource, Sequence[str]], Sequence[str]] | None = None

    def core_resources(self) -> list[ServedResource]:
        return [
            ServedResource("/oic/d", self.device_types, ("oic.if.r", "oic.if.baseline"), False,
                           lambda: self.device),
            ServedResource("/oic/p", ("oic.wk.p",), ("oic.if.r", "oic.if.baseline"), False,
                           lambda: self.platform),
        ]

    def find(self, href: str) -> ServedResource | None:
        if href in self.resources:
            return self.resources[href]
        return next((r for r in self.core_resources() if r.href == href), None)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: tuple[str, ...] = ()
    payload: bytes = b""
    content_format: int | None = None
    accept: int | None = None
    accept_version: int | None = None
    multicast: bool = False
    max_payload: int = 16384


@dataclass(frozen=True)
class Reply:
    """A response: ``code`` as a status number (205), a CBOR ``body`` or a ``diagnostic``."""

    code: int
    body: Any = None
    diagnostic: str = ""
    #: send nothing at all (a multicast request whose filter matched nothing).
    silent: bool = False
    #: the Size1 option of a 4.13: the largest body the server takes (RFC 7959 section 4).
    size1: int | None = None

    @property
    def success(self) -> bool:
        return self.code < 400


def status_of(error: BaseException) -> Reply:
    """The CoAP answer for an error raised while serving (docs/architecture.md, "Data flow" 4)."""
    if isinstance(error, OcfStatus):
        return Reply(error.code, diagnostic=error.message)
    if isinstance(error, PayloadError):
        return Reply(400, diagnostic=str(error))
    if isinstance(error, CommandError):
        codes: list[tuple[type[CommandError], int]] = [
            (ReadOnly, 405), (UnknownThing, 404), (NotAllowed, 403), (DeviceUnavailable, 503)]
        code = next((c for kind, c in codes if isinstance(error, kind)), 400)
        return Reply(code, diagnostic=error.message)
    if isinstance(error, DeviceTimeout):
        return Reply(504, diagnostic=error.message)
    if isinstance(error, DeviceError):
        code = error.code if 400 <= error.code <= 599 else 500
        return Reply(code, diagnostic=error.message)
    return Reply(500, diagnostic=f"internal error: {type(error).__name__}")


def query_values(query: Sequence[str], key: str) -> list[str]:
    prefix = f"{key}="
    return [item[len(prefix):] for item in query if item.startswith(prefix)]


def link_of(device: ServedDevice, resource: ServedResource, eps: Sequence[str]) -> dict[str, Any]:
    return {"anchor": f"ocf://{device.di}", "href": resource.href, "rt": list(resource.rts),
            "if": list(resource.ifs), "p": {"bm": resource.bm},
            "eps": [{"ep": ep} for ep in eps]}


def listing(devices: Sequence[tuple[ServedDevice, Sequence[str]]],
            query: Sequence[str]) -> list[dict[str, Any]]:
    """The links of ``devices`` (each with its endpoints) that pass the ``rt=`` filters."""
    wanted_rt = query_values(query, "rt")
    links: list[dict[str, Any]] = []
    for device, eps in devices:
        for resource in [*device.core_resources(), *device.resources.values()]:
            if wanted_rt and not set(wanted_rt) & set(resource.rts):
                continue
            links.append(link_of(device, resource, device.link_eps(resource, eps)
                                 if device.link_eps is not None else eps))
    return links


RES_INTERFACES = ("oic.if.ll", "oic.if.baseline")


def _check_common(request: Request) -> Reply | None:
    if request.method not in ("GET", "POST"):
        return Reply(405, diagnostic=f"{request.method} is not supported here")
    if request.accept is not None and request.accept != wire.CF_OCF_CBOR:
        return Reply(406, diagnostic=f"only content format {wire.CF_OCF_CBOR} is offered")
    if request.accept_version is not None and request.accept_version < wire.OCF_1_0:
        return Reply(415, diagnostic="only OCF content format version 1.0.0 is offered")
    if len(request.payload) > request.max_payload:
        return Reply(413, diagnostic=f"payload larger than {request.max_payload} bytes",
                     size1=request.max_payload)
    return None


def handle_res(devices: Sequence[tuple[ServedDevice, Sequence[str]]], request: Request) -> Reply:
    """``/oic/res``: the links of every device served here (``oic.if.ll`` or baseline)."""
    problem = _check_common(request)
    wanted_if = query_values(request.query, "if")
    interface = wanted_if[0] if wanted_if else RES_INTERFACES[0]
    if problem is None:
        problem = _interface_problem("/oic/res", RES_INTERFACES, interface, request.method)
    if problem is None and request.method != "GET":
        problem = Reply(405, diagnostic="/oic/res is read-only")
    if problem is not None:
        return Reply(problem.code, silent=True) if request.multicast else problem
    links = listing(devices, request.query)
    if not links and request.multicast:
        return Reply(205, silent=True)
    if wanted_if and wanted_if[0] == "oic.if.baseline":
        return Reply(205, [{"rt": ["oic.wk.res"], "if": list(RES_INTERFACES), "links": links}])
    return Reply(205, links)


def _target(device: ServedDevice, request: Request) -> tuple[ServedResource, str] | Reply:
    """The resource and interface a request addresses, or the answer refusing it."""
    problem = _check_common(request)
    if problem is not None:
        return problem
    resource = device.find(request.path)
    if resource is None:
        return Reply(404, diagnostic=f"no resource {request.path}")
    wanted_if = query_values(request.query, "if")
    interface = wanted_if[0] if wanted_if else resource.ifs[0]
    problem = _interface_problem(resource.href, resource.ifs, interface, request.method)
    return problem if problem is not None else (resource, interface)


def _interface_problem(href: str, offered: Sequence[str], interface: str,
                       method: str) -> Reply | None:
    """4.03 for an interface the resource does not offer, or one that allows no POST.

    The OCF interface rules only ask for an error here; 4.03 is the reference stack's answer
    (docs/ocf.md, "Answers where the specification leaves room").
    """
    if interface not in offered:
        return Reply(403, diagnostic=f"{href} has no interface {interface!r} "
                                     f"(offered: {', '.join(offered)})")
    if method == "POST" and interface in READ_ONLY_INTERFACES:
        return Reply(403, diagnostic=f"{href} cannot be updated through {interface}")
    return None


def read(device: ServedDevice, request: Request) -> Reply:
    """A GET to one device, answered at once: observe notifications are rendered with it
    when the state changes, so that each carries that state and not a later one."""
    target = _target(device, request)
    if isinstance(target, Reply):
        return target
    try:
        return Reply(205, _representation(device, *target))
    except Exception as err:
        return status_of(err)


async def handle(device: ServedDevice, request: Request) -> Reply:
    """Any request to one device other than ``/oic/res``."""
    if request.method == "GET":
        target = _target(device, request)
        if not isinstance(target, Reply) and target[0].refresh is not None and device.available:
            try:
                await target[0].refresh()
            except Exception as err:
                return status_of(err)
        return read(device, request)
    target = _target(device, request)
    if isinstance(target, Reply):
        return target
    try:
        return await _post(device, *target, request)
    except Exception as err:
        return status_of(err)


async def _post(device: ServedDevice, resource: ServedResource, interface: str,
                request: Request) -> Reply:
    if resource.write is None:
        return Reply(405, diagnostic=f"{resource.href} is read-only ({interface})")
    if request.content_format not in (None, wire.CF_OCF_CBOR):
        return Reply(415, diagnostic=f"POST payloads must be content format {wire.CF_OCF_CBOR}")
    # An empty POST is an update that changes nothing (a method resource: a call without
    # arguments); each writer decides what an empty body means for it.
    body = wire.decode_map(request.payload) if request.payload else {}
    if not device.available:
        raise OcfStatus(503, "the device behind this resource is unavailable")
    new = await resource.write(body)
    return Reply(204, dict(new) if new is not None else None)


def known_properties(body: Mapping[str, Any], known: Collection[str],
                     where: str) -> dict[str, Any]:
    """The part of a POST ``body`` that names properties of the resource (``known``).

    Other names are ignored, as the reference stack does (the resource has nowhere to keep
    them, and clients that send a whole representation back keep working), unless nothing
    would remain of a non-empty body: an update that would silently change nothing is
    refused with 4.00 instead of a 2.04 that reports a write which never happened.
    """
    kept = {name: value for name, value in body.items() if name in known}
    if body and not kept:
        names = ", ".join(repr(name) for name in sorted(body))
        raise UnknownProperty(f"{where} has none of the properties {names} "
                              f"(known: {', '.join(sorted(known)) or 'none'})",
                              prop=sorted(body)[0])
    return kept


def _representation(device: ServedDevice, resource: ServedResource,
                    interface: str) -> dict[str, Any]:
    if resource.href not in ("/oic/d", "/oic/p") and not device.available:
        raise OcfStatus(503, "the device behind this resource is unavailable")
    body = dict(resource.read())
    if interface == "oic.if.baseline":
        body = {"rt": list(resource.rts), "if": list(resource.ifs), **body}
    return body
