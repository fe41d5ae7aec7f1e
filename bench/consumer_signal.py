"""The About consumer's own work per PropertiesChanged: ``python -m bench.consumer_signal``.

Layer: benchmark tooling (issue 18, point 5). In one process, with no bus: a simulated light's
Thing is built the way the consumer builds it and stored in a registry with no subscriber,
and 20,000 ``PropertiesChanged`` messages of its ``Brightness`` (made with dbus-fast, as the
bus hands them over) go through the consumer's message handler into ``Registry.update_state``.
It prints the best of ``--rounds`` rounds in µs per signal: the consumer's part of the
AllJoyn -> OCF + MQTT leg, without dbus-fast's receiving and the other sides' work.
"""

from __future__ import annotations

import argparse
import time

from dbus_fast import Message, Variant

from bridge.alljoyn.consumer import AboutConsumer, DeviceRecord
from bridge.alljoyn.things import build_thing, plan_capabilities
from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model import load_catalogue

SENDER = ":1.5"
BRIGHTNESS = "org.alljoyn.SmartSpaces.Operation.Brightness"
OBJECTS = [("/light", ["org.alljoyn.SmartSpaces.Operation.OnOffStatus",
                       "org.alljoyn.SmartSpaces.Operation.OnControl",
                       "org.alljoyn.SmartSpaces.Operation.OffControl", BRIGHTNESS])]
ABOUT = {"AppId": bytes(range(16)), "DeviceId": "bench-1", "AppName": "Lamp",
         "DefaultLanguage": "en", "Manufacturer": "bench", "ModelNumber": "1"}


def per_signal(rounds: int, count: int) -> float:
    """The best round's seconds per signal."""
    catalogue = load_catalogue()
    book = IdentityBook()
    registry = Registry(EventBus())
    thing = build_thing(ABOUT, OBJECTS, plan_capabilities(OBJECTS, {}, catalogue), book,
                        catalogue)
    registry.upsert(thing)
    consumer = AboutConsumer(registry, catalogue, book, call_timeout=1.0, scan_timeout=1.0)
    # What discovery records for a device it follows; the bus is not needed past this point.
    consumer._devices[SENDER] = DeviceRecord(SENDER, thing.id, f"sender='{SENDER}'")
    messages = []
    for i in range(count):
        msg = Message.new_signal("/light", "org.freedesktop.DBus.Properties",
                                 "PropertiesChanged", "sa{sv}as",
                                 [BRIGHTNESS, {"Brightness": Variant("d", (i % 100) / 100)}, []])
        msg.sender = SENDER
        messages.append(msg)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for msg in messages:
            consumer._on_message(msg)
        best = min(best, (time.perf_counter() - start) / count)
    if thing.capabilities["brightness"].state.get("brightness") != 99:
        raise SystemExit("the signals did not reach the Thing's state")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    print(f"{per_signal(args.rounds, args.count) * 1e6:.2f} us per PropertiesChanged "
          f"(best of {args.rounds} x {args.count})")


if __name__ == "__main__":
    main()
