"""Refused writes as a stream of numbered MQTT messages, for the fault tests of the uplink.

A write of brightness ``n`` out of range is refused by the gateway, which publishes one
``command_rejected`` bridge event naming ``n``: events are never coalesced, so a run of them
shows whether every message arrived, and in which order.
"""

from __future__ import annotations

import json
import re

from tests.mqtt.conftest import Recorder

EVENTS = "ocfaj/bridge/event"


def refused_values(recorder: Recorder) -> list[int]:
    """The ``n`` of every refused brightness write the recorder saw, in arrival order."""
    values: list[int] = []
    for message in recorder.on(EVENTS):
        data = json.loads(message.payload).get("data", {})
        found = re.search(r"brightness = (\d+)", data.get("message", ""))
        if data.get("capability") == "brightness" and found:
            values.append(int(found.group(1)))
    return values


def first_occurrences(values: list[int]) -> list[int]:
    """QoS 1 may deliver a message twice (a resend); duplicates never reorder."""
    seen: list[int] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen
