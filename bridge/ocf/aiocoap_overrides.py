"""Where the OCF servers replace parts of aiocoap's internals, as no public setting exists.

Layer: ``bridge.ocf`` I/O (aiocoap internals; checked with aiocoap 0.4.17, the version bound
of the overrides below). docs/design.md, "Where the OCF side relies on aiocoap's behaviour
(checked with aiocoap 0.4.8 and 0.4.17)", says why each is needed.

- **Cut datagrams.** aiocoap's UDP transport reads each datagram with ``recvmsg(4096)``
  (``RecvmsgSelectorDatagramTransport.max_size``) and ignores ``MSG_TRUNC``, so a bigger
  datagram reaches the server cut to 4,096 bytes and is carried out as if that were all of
  it. :func:`read_whole_datagrams` raises the read size of one transport to the largest UDP
  payload there is, so no datagram is ever cut and the request rules see its real size.
- **A text name for every request's task.** aiocoap's ``Context.render_to_pipe`` names the
  task that renders each request ``"Rendering for %r" % request``, and the ``repr`` of a
  received message formats both of its addresses again (interface name look-up, ``ipaddress``
  parsing): about 9 % of the gateway's time on a GET of a virtual device. The name is only
  seen by someone debugging asyncio tasks. :func:`render_without_task_names` makes one
  context render exactly as aiocoap does, under a fixed name.
- **Another peer's error on a send.** The transport's socket has ``IP_RECVERR`` and
  ``IPV6_RECVERR`` on, so the kernel queues each ICMP error (a closed client port, say) on
  the socket's error queue *and* keeps it as the socket's pending error, which the next
  ``sendmsg`` to *any* peer returns instead of sending. aiocoap takes that error for the peer
  it was sending to: the datagram is lost and that live peer's observations and exchanges are
  ended, while the error queue (read later, with the address it is for) reports it again for
  the right peer. :func:`send_past_stale_errors` sends once more when a send fails: the failed
  attempt consumed the pending error, so a second failure is this datagram's own.
- Gaps in a block-wise upload (aiocoap's ``Block1Spool`` answers them 5.00) need no override
  here: the servers assemble uploads in their own bounded spool (``bridge.ocf.uploads``),
  which answers a gap 4.08 as RFC 7959 section 2.9.2 asks.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import aiocoap.pipe

log = logging.getLogger("ocfaj.ocf.server")

#: The UDP length field (RFC 768) counts 16 bits including its own 8-byte header. IPv6
#: jumbograms (RFC 2675) could carry more but need a link MTU above 65,575 bytes.
LARGEST_UDP_PAYLOAD = 65535 - 8


def udp_message_manager(context: Any) -> Any | None:
    """The message layer (aiocoap ``MessageManager``) of an aiocoap context's udp6
    transport, None when it has none."""
    for interface in getattr(context, "request_interfaces", ()):
        manager = getattr(interface, "token_interface", None)
        if getattr(manager, "message_interface", None) is not None:
            return manager
    return None


def read_whole_datagrams(transport: Any) -> None:
    """Make aiocoap's datagram ``transport`` read every datagram whole."""
    if not isinstance(getattr(transport, "max_size", None), int):
        log.warning("this aiocoap (%s) has no read size to raise: datagrams over 4,096 bytes "
                    "may reach the OCF server cut", type(transport).__name__)
        return
    transport.max_size = LARGEST_UDP_PAYLOAD



#: the name of every request-rendering task of a context given to render_without_task_names.
RENDER_TASK_NAME = "ocfaj: rendering a request"


def render_without_task_names(context: Any) -> bool:
    """Make ``context`` (an aiocoap server ``Context``) render each request as aiocoap's
    ``Context.render_to_pipe`` does (errors turned into responses, the task cancelled when
    the requester loses interest) without formatting the request into the task's name.
    False (and aiocoap's own rendering kept) when this aiocoap lacks the parts it uses."""
    run = getattr(aiocoap.pipe, "run_driving_pipe", None)
    errors_to_message = getattr(aiocoap.pipe, "error_to_message", None)
    render = getattr(context, "_render_to_pipe", None)
    if run is None or errors_to_message is None or render is None \
            or not callable(getattr(context, "render_to_pipe", None)):
        log.debug("this aiocoap has no Context._render_to_pipe: requests keep its task names")
        return False
    context.render_to_pipe = _Render(run, errors_to_message, render, context.log)
    return True


class _Render:
    """aiocoap's ``render_to_pipe`` of one context, without the task name. An object rather
    than a closure (with a cell for each of its four parts): one is made per endpoint."""

    __slots__ = ("errors_to_message", "log_to", "render", "run")

    def __init__(self, run: Any, errors_to_message: Any, render: Any, log_to: Any) -> None:
        self.run = run
        self.errors_to_message = errors_to_message
        self.render = render
        self.log_to = log_to

    def __call__(self, pipe: Any) -> None:
        self.run(self.errors_to_message(pipe, self.log_to), self.render(pipe),
                 name=RENDER_TASK_NAME)


def send_datagram(sock: socket.socket, data: bytes, ancdata: list[Any], address: Any
                  ) -> OSError | None:
    """Send one datagram of the gateway's own on aiocoap's socket ``sock``, as
    :func:`send_past_stale_errors` makes aiocoap send: once more after a failure (the failed
    attempt consumed another peer's pending ICMP error). Returns the second failure, which is
    this datagram's own; None when sent, or lost because the socket buffer is full (like any
    datagram the kernel cannot take)."""
    try:
        sock.sendmsg((data,), ancdata, 0, address)
        return None
    except BlockingIOError:
        log.debug("socket buffer full: a datagram to %s lost", address[0])
        return None
    except OSError:
        pass
    try:
        sock.sendmsg((data,), ancdata, 0, address)
    except OSError as err:
        return err
    return None


def send_past_stale_errors(transport: Any) -> None:
    """Make aiocoap's datagram ``transport`` retry a send that failed with a pending error."""
    sock = transport.get_extra_info("socket")
    report_failure = transport.sendmsg
    if sock is None or not callable(report_failure):
        log.warning("this aiocoap (%s) has no socket to send on: an ICMP error of one client "
                    "may end the exchanges of another", type(transport).__name__)
        return
    transport.sendmsg = _SendAgain(sock, report_failure)


class _SendAgain:
    """A transport's ``sendmsg`` that sends once more through aiocoap's own after a failure
    (an object, not a closure: one is made per endpoint)."""

    __slots__ = ("report_failure", "sock")

    def __init__(self, sock: socket.socket, report_failure: Any) -> None:
        self.sock = sock
        self.report_failure = report_failure

    def __call__(self, data: bytes, ancdata: list[Any], flags: int, address: Any) -> None:
        try:
            self.sock.sendmsg((data,), ancdata, flags, address)
        except OSError:
            # aiocoap's own send: a second failure is reported to the peer it concerns.
            self.report_failure(data, ancdata, flags, address)
