"""What ``ocfaj simulate obt`` remembers between its runs: its own uuid and what it owns.

Layer: ``bridge.sim`` (one JSON file, ``<state dir>/obt.json``, written atomically with mode
0600 by ``bridge.sim.private_files``). The onboarding tool's uuid is chosen at its first run
and kept: it is the owner (``devowneruuid``, ``rowneruuid``) of every device it owns. Per
owned device: its uuid after the transfer, its name, its coaps endpoint and the owner PSK
(hex), and the uuids of the clients provisioned on it. The file holds keys: nothing here
logs them, and ``status`` never prints them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.ocf.links import parse_endpoint
from bridge.ocf.sec_keys import nul_free_uuid
from bridge.sim.ocf_obt import OwnedByTool
from bridge.sim.private_files import private_directory, write_private_json

FILE = "obt.json"
VERSION = 1


@dataclass
class ToolDevice:
    name: str
    coaps: str
    key: bytes
    clients: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # never show a key
        return f"ToolDevice({self.name!r}, {self.coaps})"


class ToolState:
    """The tool's uuid and owned devices, from and to ``directory/obt.json``."""

    def __init__(self, directory: Path, owner: uuid.UUID,
                 devices: dict[uuid.UUID, ToolDevice]) -> None:
        self.directory = directory
        self.owner = owner
        self.devices = devices

    @classmethod
    def load(cls, directory: Path) -> ToolState:
        """The saved state, or a new tool (saved at once). Raises ``ValueError`` for a file
        that is not one this tool wrote."""
        path = directory / FILE
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            state = cls(directory, nul_free_uuid(), {})
            state.save()
            return state
        except OSError as err:
            raise ValueError(f"{path}: cannot be read ({err.strerror})") from None
        try:
            document = json.loads(text)
            if document["version"] != VERSION:
                raise ValueError(f"version {document['version']!r}")
            devices = {uuid.UUID(key): ToolDevice(str(entry["name"]), str(entry["coaps"]),
                                                  bytes.fromhex(entry["key"]),
                                                  [str(c) for c in entry["clients"]])
                       for key, entry in document["devices"].items()}
            return cls(directory, uuid.UUID(document["uuid"]), devices)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{path}: not this onboarding tool's state "
                             f"({type(err).__name__}: {err})") from None

    def save(self) -> None:
        private_directory(self.directory)
        document: dict[str, Any] = {
            "version": VERSION, "uuid": str(self.owner),
            "devices": {str(key): {"name": d.name, "coaps": d.coaps, "key": d.key.hex(),
                                   "clients": d.clients}
                        for key, d in sorted(self.devices.items())}}
        write_private_json(self.directory / FILE, document)

    def owned(self, device: uuid.UUID) -> OwnedByTool:
        """The device as the onboarding tool's owner code takes it; ``ValueError`` when the
        tool does not own it."""
        entry = self.devices.get(device)
        secure = parse_endpoint(entry.coaps) if entry is not None else None
        if entry is None or secure is None:
            raise ValueError(f"this onboarding tool owns no device {device} (owned: "
                             f"{', '.join(str(d) for d in self.devices) or 'none'})")
        return OwnedByTool(device, entry.key, secure)
