"""At most one warning line per peer per window: log lines a LAN peer can provoke, bounded.

Layer: ``bridge.ocf`` pure (no sockets, no logging itself; the clock is given). The coaps
transport (``bridge.ocf.coaps``) asks :meth:`PeerLogLimit.admit` before it logs a DTLS
session failure (a malformed record in a handshake, a wrong key): a peer that sends garbage
into its half-done handshakes, from one port or many, gets one warning line a minute, which
says how many failures of that peer went unlogged since the previous line. A peer is its
host address, whatever its port. At most ``max_peers`` peers are remembered (the longest
quiet one is forgotten first), so the limiter's memory is bounded too.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

#: Seconds between two warning lines about one peer.
WINDOW = 60.0
#: Peers remembered at once.
MAX_PEERS = 256


class PeerLogLimit:
    """Decides which of a peer's failures are logged; counts the others."""

    def __init__(self, window: float = WINDOW, *, max_peers: int = MAX_PEERS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.max_peers = max_peers
        self.clock = clock
        #: peer -> (time of its last logged line, failures not logged since)
        self._peers: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def admit(self, peer: str) -> int | None:
        """None: do not log this failure of ``peer`` (it is counted). A number: log it now;
        the number is how many of the peer's failures were not logged since its last line."""
        now = self.clock()
        last = self._peers.get(peer)
        if last is not None and now - last[0] < self.window:
            self._peers[peer] = (last[0], last[1] + 1)
            return None
        self._peers.pop(peer, None)
        while len(self._peers) >= self.max_peers:
            self._peers.popitem(last=False)
        self._peers[peer] = (now, 0)
        return 0 if last is None else last[1]

    def __len__(self) -> int:
        return len(self._peers)
