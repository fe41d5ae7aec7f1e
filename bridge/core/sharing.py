"""One copy of the values that every device repeats: resource paths, type and interface names.

Layer: ``bridge.core`` (pure: no I/O). A thousand lights list the same ``/light/switch``,
``oic.r.switch.binary`` and ``oic.if.a``; decoding each device's answer makes a new string (and
tuple) for each of them, which the device's records then keep for as long as the device is
known. :class:`SharedValues` hands back the first equal copy instead, so the records of all
devices point at one. It is bounded: a peer that sends ever new names fills it, and then it
starts afresh (values already shared stay valid; only later ones are copies again), so it
never holds more than ``limit`` values. Only immutable values belong here (``str``, tuples of
them, frozen dataclasses): everyone who got one holds the same object.

It is not ``sys.intern``: interned strings may outlive every user on some Python versions, and
a table of our own is bounded whatever the network sends.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, TypeVar

H = TypeVar("H", bound=Hashable)

#: Values kept at most. The names and paths are a few per model; each OCF device adds three
#: (its ``di``, its endpoint and the tuple of its endpoints), so 1,000 + 1,000 bridged devices
#: need about 3,100. At the limit, the values nobody else holds any more are about 1 MiB.
LIMIT = 8192


class SharedValues:
    """A bounded table of immutable values; :meth:`share` returns the copy seen first."""

    __slots__ = ("_table", "limit")

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._table: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self._table)

    def share(self, value: H) -> H:
        """``value``, or the equal value shared before (of the same type)."""
        kept: H | None = self._table.get(value)
        if kept is not None and type(kept) is type(value):
            return kept
        if len(self._table) >= self.limit:
            self._table.clear()
        self._table[value] = value
        return value

    def names(self, values: tuple[str, ...]) -> tuple[str, ...]:
        """A tuple of names, the tuple and each name shared."""
        return self.share(tuple(self.share(v) for v in values))


#: The process's table for names and paths that cross from devices (``bridge.ocf.links``...).
SHARED = SharedValues()
