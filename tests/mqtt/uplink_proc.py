"""Test helper process: an MqttSide fed from stdin JSON lines (for the kill -9 test).

Test support only, never part of the product. Usage:
``python -m tests.mqtt.uplink_proc <host> <port> <state_dir> <client_id>``; then one JSON object
per stdin line: ``{"op": "add"}`` adds the counter Thing, ``{"op": "tick", "n": N}`` updates its
state and emits a Tick signal. After each line, once the outbox has committed the resulting
messages, it prints ``ok <line number>`` (that is the moment they count as accepted). End of
input shuts the side down cleanly.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model import load_catalogue
from bridge.mqtt.config import MqttConfig
from bridge.mqtt.side import MqttSide
from tests.mqtt.things import counter


async def main(host: str, port: int, state_dir: Path, client_id: str) -> None:
    registry = Registry(EventBus())
    book = IdentityBook()
    config = MqttConfig(enabled=True, host=host, port=port, client_id=client_id, keepalive=4,
                        reconnect_max_delay=0.5, ha_discovery=False)
    side = MqttSide(config, registry, load_catalogue(), book, "proc", state_dir=state_dir)
    await side.start()
    thing_id = ""
    line_no = 0
    while line := await asyncio.to_thread(sys.stdin.readline):
        line_no += 1
        command = json.loads(line)
        if command["op"] == "add":
            thing_id = registry.upsert(counter(book)).id
        elif command["op"] == "tick":
            registry.update_state(thing_id, "counter", {"Count": command["n"]})
            registry.emit_signal(thing_id, "counter", "Tick", {"n": command["n"]})
        # The side commits at the end of the loop turn in which it queued messages.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        print(f"ok {line_no} queued={side.outbox.count}", flush=True)
    await side.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]))
