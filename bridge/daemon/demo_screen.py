"""What ``ocfaj demo`` shows: a device table that fits the terminal, event lines, the screen.

Layer: ``bridge.daemon`` (pure text: no I/O, no asyncio; ``demo_command`` writes it out).
The screen keeps its title (with "Ctrl-C stops") and the start-up notes on top, then the
table, then as many recent events as the terminal has rows left. Every line is cut to the
terminal's width, never wrapped: a wrapped line would push the title off the screen. Columns
that do not fit are dropped (the device type) or narrowed (names), property names are
abbreviated, and a cut cell ends with an ellipsis.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

#: Shorter spellings of long property names, used when a device's values do not fit.
_SHORT_NAMES = {
    "temperature": "temp", "target_temperature": "target", "colour_temperature": "ct",
    "brightness": "bri", "saturation": "sat", "humidity": "hum", "charge": "batt",
    "charging": "chg",
}
_GAP = "  "
#: The values column gets at least this much before other columns are dropped or narrowed.
_MIN_VALUES = 24
_MIN_NAME = 12
_MIN_EVENTS = 3


def value_text(value: Any) -> str:
    """One property value as the demo shows it (JSON spelling, floats to two decimals)."""
    if isinstance(value, float):
        value = round(value, 2)
    return json.dumps(value)


def values_text(capabilities: Mapping[str, Any], *, short: bool = False,
                first: Sequence[str] = ()) -> list[str]:
    """``["on=true", "bri=60"]``: every property of every capability, those of the
    capabilities in ``first`` (the device type's own) before the others."""
    order = [c for c in first if c in capabilities] + [c for c in capabilities if c not in first]
    parts = []
    for cap_id in order:
        for key, value in capabilities[cap_id].get("state", {}).items():
            name = _SHORT_NAMES.get(key, key) if short else key
            parts.append(f"{name}={value_text(value)}")
    return parts


def cut_items(items: Sequence[str], width: int, ellipsis: str = "…") -> str:
    """As many whole ``items`` (space-separated) as fit in ``width``, then ``ellipsis``."""
    text = " ".join(items)
    if len(text) <= width:
        return text
    shown: list[str] = []
    for item in items:
        if len(" ".join([*shown, item])) + 1 + len(ellipsis) > width:
            break
        shown.append(item)
    return " ".join([*shown, ellipsis]) if shown else cut(text, width, ellipsis)


def cut(text: str, width: int, ellipsis: str = "…") -> str:
    """``text`` in at most ``width`` characters, ending with ``ellipsis`` when cut."""
    if len(text) <= width:
        return text
    if width <= len(ellipsis):
        return text[:width]
    return text[:width - len(ellipsis)] + ellipsis


def _state(row: Mapping[str, Any]) -> str:
    if row.get("not_bridgeable"):
        return "not bridgeable"
    if row.get("virtual"):
        return "virtual"
    return "up" if row.get("available") else "gone"


def device_table(rows: Iterable[Mapping[str, Any]], width: int | None = None, *,
                 ellipsis: str = "…", first: Mapping[str, Sequence[str]] | None = None,
                 ) -> list[str]:
    """The table of devices, one line each after the header; ``width=None``: nothing cut.

    ``first`` maps a device type (``oic.d.thermostat``) to the capabilities whose values
    come first in its rows (``temperature``), so that cutting keeps what matters.
    """
    rows = list(rows)
    header = ["ORIGIN", "NAME", "TYPE", "STATE", "BRIDGED TO", "VALUES"]
    cells = [[str(r.get("origin", "")), str(r.get("name", "")),
              str(r.get("device_type", "")).removeprefix("oic.d."), _state(r),
              ",".join(r.get("bridged_to", [])) or "-"] for r in rows]
    widths = [max([len(header[i])] + [len(c[i]) for c in cells]) for i in range(5)]
    columns = [0, 1, 2, 3, 4]

    def room() -> int:
        return (width or 0) - sum(widths[i] + len(_GAP) for i in columns)

    if width is not None and room() < _MIN_VALUES:
        columns.remove(2)
    if width is not None and room() < _MIN_VALUES:
        widths[1] = max(_MIN_NAME, widths[1] - (_MIN_VALUES - room()))
    values_width = None if width is None else max(room(), len(header[5]))
    values = [header[5]]
    for row in rows:
        caps = row.get("capabilities", {})
        lead = (first or {}).get(str(row.get("device_type", "")), ())
        items = values_text(caps, first=lead)
        if values_width is not None and len(" ".join(items)) > values_width:
            items = values_text(caps, short=True, first=lead)
        values.append(" ".join(items) if values_width is None
                      else cut_items(items, values_width, ellipsis))
    lines = []
    for line_cells, line_values in zip([header[:5], *cells], values, strict=True):
        text = _GAP.join(cut(line_cells[i], widths[i], ellipsis).ljust(widths[i])
                         for i in columns)
        lines.append((text + _GAP + line_values).rstrip())
    return lines


def screen(title: str, notes: Iterable[str], table: list[str], events: Iterable[str],
           width: int, height: int, *, ellipsis: str = "…") -> list[str]:
    """The whole screen, at most ``height`` lines of at most ``width`` characters.

    The title and notes come first, then the table (cut short, with a line saying how many
    devices are not shown, when the terminal is too low), then the newest events that fit.
    """
    top = [title, *notes, ""]
    room_for_table = max(2, height - len(top) - 2 - _MIN_EVENTS)
    if len(table) > room_for_table:
        hidden = len(table) - room_for_table + 1
        table = [*table[:room_for_table - 1], f"... and {hidden} more devices"]
    lines = [*top, *table, "", "recent events:"]
    left = max(0, height - len(lines))
    recent = list(events)[-left:] if left else []
    return [cut(line, width, ellipsis) for line in [*lines, *recent]][:height]


class EventFeed:
    """The demo's event lines: kept for the screen and, in plain mode, printed at once.

    After :meth:`close` (the demo is stopping) nothing is added any more: devices that go
    away because the demo stops them are not news.
    """

    def __init__(self, echo: Callable[[str], None] | None = None, keep: int = 50) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self._echo = echo
        self.closed = False

    def add(self, text: str) -> None:
        if self.closed:
            return
        line = f"{time.strftime('%H:%M:%S')} {text}"
        self.lines.append(line)
        if self._echo is not None:
            self._echo(line)

    def close(self) -> None:
        self.closed = True
