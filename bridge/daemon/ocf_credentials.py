"""The gateway's OCF security identity and the devices it owns, in the state directory.

Layer: ``bridge.daemon`` (files). ``ocf-credentials.json`` holds the gateway's own device
uuid (chosen once, without a zero byte: ``bridge.ocf.sec_keys.nul_free_uuid``) and, per owned
device, its uuid, its coaps endpoint, its name and the owner PSK. The file is written
atomically with mode 0600 (``bridge.daemon.state.write_atomic``); keys are never logged and
never printed by any command (``ocfaj onboard --list`` shows names and uuids only).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.core.errors import BridgeError, SecurityError
from bridge.daemon.state import write_atomic
from bridge.ocf.keyring import Keyring, KeySource
from bridge.ocf.sec_keys import nul_free_uuid

log = logging.getLogger("ocfaj.credentials")

FILE = "ocf-credentials.json"


@dataclass(frozen=True)
class OwnedRecord:
    uuid: uuid.UUID
    name: str
    coaps: str
    key: bytes

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "coaps": self.coaps, "key": self.key.hex()}

    def __repr__(self) -> str:  # never show the key, even in a traceback
        return f"OwnedRecord({self.uuid}, {self.name!r}, {self.coaps})"


class OcfCredentials:
    """Load, change and save the credentials file of ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE
        self.own = uuid.UUID(int=0)
        self.devices: dict[uuid.UUID, OwnedRecord] = {}

    def load(self) -> OcfCredentials:
        """Read the file; a missing one gives a new identity, saved at once."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.own = nul_free_uuid()
            self.save()
            return self
        try:
            document = json.loads(self.path.read_text("utf-8"))
            self.own = uuid.UUID(document["uuid"])
            self.devices = {
                uuid.UUID(key): OwnedRecord(uuid.UUID(key), str(entry["name"]),
                                            str(entry["coaps"]), bytes.fromhex(entry["key"]))
                for key, entry in document.get("devices", {}).items()}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise SecurityError(str(self.path), f"the OCF credentials file does not load "
                                                f"({type(err).__name__}); it is left as it is"
                                ) from None
        return self

    def save(self) -> None:
        write_atomic(self.path, {"uuid": str(self.own), "devices": {
            str(key): record.to_json() for key, record in self.devices.items()}},
            keep_backup=False)

    def add(self, record: OwnedRecord) -> None:
        self.devices[record.uuid] = record
        self.save()

    def remove(self, device: uuid.UUID) -> None:
        self.devices.pop(device, None)
        self.save()

    def keyring(self) -> Keyring:
        return Keyring(self.own, {key: record.key for key, record in self.devices.items()})


class CredentialWatch(KeySource):
    """The running gateway's keys: the store of ``directory``, read again whenever the file
    changed (``ocfaj onboard`` or ``ocfaj offboard`` run against the same state directory).
    A file that does not load is logged once and the keys held so far stay in force."""

    def __init__(self, directory: Path) -> None:
        self.store = OcfCredentials(directory)
        self.keyring = Keyring(uuid.UUID(int=0))
        self._stamp: tuple[int, int, int] | None = None
        self._failing = False

    def load(self) -> CredentialWatch:
        self.refresh()
        return self

    def refresh(self) -> bool:
        stamp = self._file_stamp()
        if stamp is not None and stamp == self._stamp:
            return False
        store = OcfCredentials(self.store.path.parent)
        try:
            store.load()
        except BridgeError as err:
            if not self._failing:
                log.error("%s; the OCF keys held so far stay in force", err)
            self._failing = True
            self._stamp = stamp
            return False
        before = set(self.store.devices)
        self._failing = False
        self.store = store
        self._stamp = self._file_stamp()
        self.keyring.own = store.own
        self.keyring.replace({key: record.key for key, record in store.devices.items()})
        added, gone = set(store.devices) - before, before - set(store.devices)
        for device in sorted(added):
            log.info("holding a key for OCF device %s (%s)", store.devices[device].name, device)
        for device in sorted(gone):
            log.info("no longer holding a key for OCF device %s", device)
        return bool(added or gone)

    def forget(self, device_id: str) -> None:
        try:
            device = uuid.UUID(device_id)
        except ValueError:
            return
        self.keyring.remove(device)
        if device not in self.store.devices:
            return
        try:
            self.store.remove(device)
        except OSError as err:
            log.error("cannot drop the credential of OCF device %s from %s: %s", device,
                      self.store.path, err)
            return
        self._stamp = self._file_stamp()
        log.info("dropped the credential of OCF device %s", device)

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.store.path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)
