"""Fill an MQTT outbox past a full disk, then drain it as the broker link would.

Run as ``python -m tests.faults.outbox_filler DIRECTORY COUNT`` on a small disk
(``tests.faults.small_disk``). Prints one JSON line: what the outbox kept, in order, what it
dropped, and the outbox's log lines. Any exception fails the run (exit status 1).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from bridge.mqtt.outbox import Message, Outbox

#: commits after 1, 7 and 60 appends in turn: one event-loop turn carries one or many.
BATCHES = (1, 7, 60)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


def main(directory: Path, count: int) -> int:
    handler = _Lines()
    lines = handler.lines
    logging.getLogger("ocfaj.mqtt.outbox").addHandler(handler)
    box = Outbox(directory / "mqtt-outbox.sqlite3", max_messages=10**6, max_bytes=64 << 20)
    box.open()
    n = 0
    turn = 0
    while n < count:
        for _ in range(BATCHES[turn % len(BATCHES)]):
            if n < count:
                box.append(Message("ocfaj/lamp/event", json.dumps({"n": n, "pad": "x" * 120})
                                   .encode()))
                n += 1
        box.commit()
        turn += 1
    queued = count_before_drain = box.count
    kept: list[int] = []
    while box.count:
        batch = box.peek(100)
        kept += [json.loads(q.message.payload)["n"] for q in batch]
        box.remove_through(batch[-1].seq)
    dropped = box.dropped
    box.close()
    print(json.dumps({"queued": queued, "count_before_drain": count_before_drain,
                      "kept": kept, "dropped": dropped, "log": lines}))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2])))
