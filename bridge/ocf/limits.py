"""How much state unauthenticated CoAP clients may make the gateway keep: counts and caps.

Layer: ``bridge.ocf``, pure: standard library only, no socket, no asyncio, no aiocoap; time
comes in as a ``clock`` function. Anyone who can send a UDP datagram to the gateway can make
it remember something: an observation, an unfinished block-wise upload, an answer kept for
duplicate detection. Each kind is counted here per client address (whatever its ports) and
in total, and refused past its cap (the ``max_*`` keys of ``[ocf]``, docs/ocf.md, "Limits
per client"); the CoAP glue (``bridge.ocf.admission``, ``bridge.ocf.uploads``,
``bridge.ocf.coap_server``) asks before it keeps anything and gives back when it forgets.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from bridge.ocf.config import OcfConfig

Clock = Callable[[], float]

#: RFC 7252 section 4.8.2: how long a CoAP endpoint remembers a message id it received
#: (aiocoap keeps each answer that long, to resend it when the request is repeated).
EXCHANGE_LIFETIME = 247.0
#: Sources whose multicast rate is tracked at once; the oldest is forgotten past this.
RATE_SOURCES = 4096
#: The cap of :class:`ClientLimits` without configuration.
UNLIMITED = 1 << 62


class Ledger:
    """Live things (observations, uploads) per client address and in total, both capped."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.limit = total
        self.total = 0
        self._counts: dict[str, int] = {}

    def count(self, host: str) -> int:
        return self._counts.get(host, 0)

    def refusal(self, host: str) -> str | None:
        """Why one more for ``host`` is refused, or None when it fits."""
        if self._counts.get(host, 0) >= self.per_client:
            return f"at most {self.per_client} per client address"
        if self.total >= self.limit:
            return f"at most {self.limit} for all clients together"
        return None

    def take(self, host: str) -> str | None:
        """Count one more for ``host`` unless refused; returns the refusal or None."""
        problem = self.refusal(host)
        if problem is None:
            self._counts[host] = self._counts.get(host, 0) + 1
            self.total += 1
        return problem

    def give(self, host: str) -> None:
        """One of ``host``'s ended."""
        left = self._counts.get(host, 0) - 1
        if left < 0:
            return
        self.total -= 1
        if left:
            self._counts[host] = left
        else:
            del self._counts[host]


class Window:
    """Requests remembered for ``lifetime`` seconds after they arrived, capped like a Ledger.

    ``key`` identifies a message (source address, port and message id): a repeated one is the
    same request, which the CoAP layer answers from what it remembered, so it takes no room.
    """

    def __init__(self, per_client: int, total: int, lifetime: float = EXCHANGE_LIFETIME,
                 clock: Clock = time.monotonic) -> None:
        self.per_client = per_client
        self.limit = total
        self.lifetime = lifetime
        #: what ``take`` reads as now (a caller that read it already may pass its reading).
        self.clock = clock
        self._order: deque[tuple[float, str, Hashable]] = deque()
        self._by_host: dict[str, deque[float]] = {}
        self._keys: set[Hashable] = set()

    @property
    def total(self) -> int:
        self._forget(self.clock())
        return len(self._order)

    def count(self, host: str) -> int:
        self._forget(self.clock())
        return len(self._by_host.get(host, ()))

    def take(self, host: str, key: Hashable, now: float | None = None) -> float | None:
        """Remember ``key`` of ``host``; None when it fits, else the seconds until it would.
        ``now``: the caller's reading of this window's clock (None: read it here)."""
        if now is None:
            now = self.clock()
        order, keys = self._order, self._keys
        if order and order[0][0] + self.lifetime <= now:
            self._forget(now)
        if key in keys:
            return None
        mine = self._by_host.get(host)
        if mine is not None and len(mine) >= self.per_client:
            return mine[0] + self.lifetime - now
        if len(order) >= self.limit:
            return order[0][0] + self.lifetime - now
        order.append((now, host, key))
        if mine is None:
            mine = self._by_host[host] = deque()
        mine.append(now)
        keys.add(key)
        return None

    def _forget(self, now: float) -> None:
        while self._order and self._order[0][0] + self.lifetime <= now:
            _, host, key = self._order.popleft()
            self._keys.discard(key)
            mine = self._by_host[host]
            mine.popleft()
            if not mine:
                del self._by_host[host]


class SourceRate:
    """A token bucket per source address: ``rate`` per second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic,
                 sources: int = RATE_SOURCES) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sources = sources
        #: source -> (tokens, time of the last look), least recently seen first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, host: str) -> bool:
        now = self._clock()
        tokens, then = self._buckets.pop(host, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[host] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self._sources:
            self._buckets.popitem(last=False)
        return allowed


@dataclass
class Refusals:
    """What the gateway refused or forgot, for operators and tests."""

    observers: int = 0
    uploads: int = 0
    requests: int = 0
    #: unfinished uploads dropped after ``upload_expiry`` without their next block.
    uploads_expired: int = 0
    #: requests that arrived on an interface not in ``ocf.interfaces``.
    off_interface: int = 0
    #: multicast requests from a source not on the link they arrived on.
    off_link: int = 0
    #: multicast requests beyond a source's ``multicast_answers_per_second``.
    multicast_rate: int = 0


class ClientLimits:
    """Every cap of one gateway, shared by all its CoAP endpoints (memory is the process's).

    ``config`` None: nothing is capped nor rate-limited (simulated devices, which serve tests
    and benchmarks; unfinished uploads still expire).
    """

    def __init__(self, config: OcfConfig | None, clock: Clock = time.monotonic) -> None:
        self.refused = Refusals()
        self.requests: Window | None = None
        self.multicast: SourceRate | None = None
        if config is None:
            self.observers = Ledger(UNLIMITED, UNLIMITED)
            self.uploads = Ledger(UNLIMITED, UNLIMITED)
            self.upload_expiry = OcfConfig.upload_expiry
            self.observe_check: float | None = None
            # Simulated devices keep the registration's type, as aiocoap's servers do.
            self.notify_confirmable_every = 0
            return
        self.observers = Ledger(config.max_observers_per_client, config.max_observers)
        self.uploads = Ledger(config.max_uploads_per_client, config.max_uploads)
        self.upload_expiry = config.upload_expiry
        self.observe_check = config.observe_check
        self.notify_confirmable_every = config.notify_confirmable_every
        self.requests = Window(config.max_requests_per_client, config.max_requests,
                               clock=clock)
        self.multicast = SourceRate(config.multicast_answers_per_second,
                                    config.multicast_burst, clock=clock)

    @property
    def held(self) -> int:
        """Everything clients make the gateway keep now: observations, unfinished uploads
        and remembered requests (asking drops the requests past their lifetime)."""
        requests = self.requests.total if self.requests is not None else 0
        return self.observers.total + self.uploads.total + requests


def retry_after(seconds: float) -> int:
    """A Max-Age (whole seconds, at least 1) for a refusal that lasts ``seconds``."""
    return max(1, math.ceil(seconds))
