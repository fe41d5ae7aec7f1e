"""Where aiocoap's server reads datagrams cut, and no public setting exists.

Layer: ``bridge.ocf`` I/O (aiocoap internals; checked with aiocoap 0.4.17, the version bound
of the override below). docs/design.md, "Where the OCF side relies on aiocoap's behaviour
(checked with aiocoap 0.4.17)", says why each is needed.

- **Cut datagrams.** aiocoap's UDP transport reads each datagram with ``recvmsg(4096)``
  (``RecvmsgSelectorDatagramTransport.max_size``) and ignores ``MSG_TRUNC``, so a bigger
  datagram reaches the server cut to 4,096 bytes and is carried out as if that were all of
  it. :func:`read_whole_datagrams` raises the read size of one transport to the largest UDP
  payload there is, so no datagram is ever cut and the request rules see its real size.
- Gaps in a block-wise upload (aiocoap's ``Block1Spool`` answers them 5.00) need no override
  here: the servers assemble uploads in their own bounded spool (``bridge.ocf.uploads``),
  which answers a gap 4.08 as RFC 7959 section 2.9.2 asks.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("ocfaj.ocf.server")

#: The UDP length field (RFC 768) counts 16 bits including its own 8-byte header. IPv6
#: jumbograms (RFC 2675) could carry more but need a link MTU above 65,575 bytes.
LARGEST_UDP_PAYLOAD = 65535 - 8


def read_whole_datagrams(transport: Any) -> None:
    """Make aiocoap's datagram ``transport`` read every datagram whole."""
    if not isinstance(getattr(transport, "max_size", None), int):
        log.warning("this aiocoap (%s) has no read size to raise: datagrams over 4,096 bytes "
                    "may reach the OCF server cut", type(transport).__name__)
        return
    transport.max_size = LARGEST_UDP_PAYLOAD

