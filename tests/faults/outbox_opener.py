"""Open an MQTT outbox the way the MQTT side does, and say what happened.

Run as ``python -m tests.faults.outbox_opener PATH [--exhaust-fds]`` (under the wrappers of
``tests.faults.restricted`` for a read-only directory or without file permissions). With
``--exhaust-fds`` every free file descriptor is taken first, so the open meets "too many open
files". Prints one JSON line: the error (type and text) or, when the outbox opened, whether it
is persistent and what a message appended and read back looks like; and the outbox's log lines.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
from pathlib import Path

from bridge.mqtt.outbox import Message, Outbox


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


def _exhaust_descriptors() -> list[int]:
    # A low limit keeps this quick; everything this program needs afterwards is already open.
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    taken: list[int] = []
    while True:
        try:
            taken.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            return taken


def main(path: Path, exhaust: bool) -> int:
    handler = _Lines()
    logging.getLogger("ocfaj.mqtt.outbox").addHandler(handler)
    box = Outbox(path, max_messages=1000, max_bytes=1 << 20)
    taken = _exhaust_descriptors() if exhaust else []
    result: dict[str, object] = {}
    try:
        box.open()
    except Exception as err:
        result = {"error": type(err).__name__, "message": str(err)}
    finally:
        for fd in taken:
            os.close(fd)
    if not result:
        before = box.count
        box.append(Message("gw/probe", b"42"))
        box.commit()
        result = {"error": "", "persistent": box.persistent, "count_before": before,
                  "last": box.peek(before + 1)[-1].message.payload.decode()}
        box.close()
    result["log"] = handler.lines
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), "--exhaust-fds" in sys.argv[2:]))
