"""Settings of the AllJoyn side: the ``[alljoyn]`` section of the configuration file.

Layer: ``bridge.alljoyn``, but pure data: standard library only. It must not import the D-Bus
library nor do I/O, so that the configuration loader and the documentation generator can read
it without the AllJoyn adapter's dependencies installed.

Each attribute's docstring is its user documentation (docs/configuration.md is generated from
it); ``metadata`` holds the bounds the loader enforces (``ge``/``gt``/``le``/``check``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bridge.alljoyn.languages import well_formed  # standard library only, like this module

# A D-Bus server address is ``transport:key=value,...`` (D-Bus specification, "Server
# Addresses"); several may be joined by ``;``.
_DBUS_ADDRESS = re.compile(r"^[a-z][a-z0-9-]*:([^;]*)(;[a-z][a-z0-9-]*:[^;]*)*;?$")


def bus_problem(value: str) -> str | None:
    """Why ``value`` names no D-Bus bus, or ``None`` when it does."""
    if value in ("system", "session") or _DBUS_ADDRESS.match(value):
        return None
    return f'expected "system", "session" or a D-Bus address such as unix:path=..., got {value!r}'


#: how a virtual producer places a device's capabilities on objects (docs/alljoyn.md).
OBJECT_LAYOUTS = ("cdm", "per-capability")


def layout_problem(value: str) -> str | None:
    if value in OBJECT_LAYOUTS:
        return None
    return f"expected one of {', '.join(OBJECT_LAYOUTS)}, got {value!r}"


#: which OCF reads go through to an AllJoyn device (docs/alljoyn.md).
READ_THROUGH = ("all", "unsignalled")


def read_through_problem(value: str) -> str | None:
    if value in READ_THROUGH:
        return None
    return f"expected one of {', '.join(READ_THROUGH)}, got {value!r}"


def languages_problem(value: tuple[str, ...]) -> str | None:
    bad = [tag for tag in value if not well_formed(tag)]
    if bad:
        return f"expected language tags such as en or de-CH, got {bad[0]!r}"
    return None


@dataclass(frozen=True)
class AllJoynConfig:
    """The AllJoyn side: About-announcing devices on a D-Bus bus, and the virtual AllJoyn
    producers the gateway exports for devices of the other sides."""

    enabled: bool = True
    """Run the AllJoyn side at all."""

    bus: str = field(default="system", metadata={"check": bus_problem})
    """The D-Bus bus the AllJoyn devices are on: ``system``, ``session`` or a D-Bus address
    (``unix:path=/run/alljoyn/bus``, ``tcp:host=10.0.0.2,port=5000``)."""

    call_timeout: float = field(default=5.0, metadata={"gt": 0})
    """Seconds to wait for the answer to a method call or property access on a device."""

    scan_timeout: float = field(default=2.0, metadata={"gt": 0})
    """Seconds to wait for each bus name's ``GetAboutData`` answer during the start-up scan."""

    scan_languages: tuple[str, ...] = field(default=("en",),
                                            metadata={"check": languages_problem})
    """Languages the start-up scan asks a device's About in, one after the other, when it
    refuses the default one (``""``) with ``org.alljoyn.Error.LanguageNotSupported``: before
    its first ``Announce`` nothing tells which languages it speaks. A device that speaks none
    of them is found at its next ``Announce`` (whose ``DefaultLanguage`` and
    ``SupportedLanguages`` are then tried)."""

    reconnect_max_delay: float = field(default=30.0, metadata={"gt": 0})
    """Longest pause in seconds between two attempts to reconnect to a lost bus; the pause
    doubles from one second up to this value."""

    signal_batch: int = field(default=100, metadata={"ge": 1})
    """Most D-Bus signals handled in one go before the gateway lets other work run, so that a
    burst of ``PropertiesChanged`` cannot starve the other sides."""

    poll_interval: float = field(default=10.0, metadata={"ge": 0})
    """Seconds between two reads of the properties a device declares it does not signal
    (``EmitsChangedSignal="false"``), so that their changes still cross; 0 turns polling off.
    Properties that signal are never polled."""

    poll_const: bool = False
    """Poll ``EmitsChangedSignal="const"`` properties too (they should never change; off by
    default)."""

    read_cache: float = field(default=1.0, metadata={"ge": 0})
    """A read that another side asks for (MQTT ``/get``, the ``refresh`` command, an OCF
    ``GET``, see ``read_through``) is answered from the device's last read when that is
    younger than these seconds, so a burst of reads costs the device one."""

    read_through: str = field(default="all", metadata={"check": read_through_problem})
    """Which OCF ``GET`` of a virtual OCF device reads the AllJoyn device's properties
    (bounded by ``read_cache``): ``all`` (every capability, so a producer that changes a
    property without the ``PropertiesChanged`` its introspection promises is still seen) or
    ``unsignalled`` (only capabilities with properties declared ``EmitsChangedSignal="false"``
    or ``"const"``; the others answer from the signalled state)."""

    object_layout: str = field(default="cdm", metadata={"check": layout_problem})
    """Where a virtual producer puts the capabilities that cross through the models: ``cdm``
    puts all of a device's operation interfaces on one object per functional unit
    (``/light``: OnOffStatus, OnControl, OffControl, Brightness, Color...), as consumers that
    follow the AllJoyn Common Device Models expect; ``per-capability`` gives each capability an
    object of its own (``/switch``, ``/brightness``), the layout before this option existed."""
