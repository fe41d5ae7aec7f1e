"""The saved security state of a simulated secured OCF device (``--state-dir``).

Layer: ``bridge.sim`` (one JSON file per device; the document is ``bridge.ocf.svr_store``'s,
the same the gateway keeps for its secured virtual devices). ``ocfaj simulate ocf --secure
--state-dir D`` keeps each device's doxm (``oxmsel``, ``owned``, its uuid, owner and resource
owner), ``pstat.dos.s``, its credentials with their keys, its ACEs and sdi, together with its
``piid``, ``pi`` and coaps port, in ``D/ocf-device-<n>.json`` (``n`` counts the devices of
the process from 1, in ``--count`` order). Every change an owner makes is written at once,
atomically (a temporary file in the same directory, fsync, rename), mode 0600 in a 0700
directory, and loaded at the next start: a restarted owned device is still owned by the
same owner, under the same uuid, with the same clients, and serves coaps on the port it had
(an owner that kept the device's coaps endpoint reaches it there again, as with a device on
a fixed port). The PIN is never saved (an unowned device shows a new one after a restart).
The files hold PSKs: nothing here logs them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from bridge.ocf import svr
from bridge.ocf.svr_store import from_document, to_document
from bridge.sim.private_files import private_directory, write_private_json


@dataclass
class SavedDevice:
    """What a device's file gives back: its SVRs, its lifelong ids, its coaps port."""

    state: svr.SecureState
    piid: str
    pi: str
    coaps_port: int


class SecureStateFile:
    """The file of one simulated secured device."""

    def __init__(self, directory: Path, number: int) -> None:
        self.path = directory / f"ocf-device-{number}.json"

    def load(self) -> SavedDevice | None:
        """The saved device, or None when there is no file yet. Raises ``ValueError``, with
        the file's name, for a file that is not one this simulator wrote."""
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise ValueError(f"{self.path}: cannot be read ({err.strerror})") from None
        try:
            document = json.loads(text)
            security = document["security"]
            state = from_document(security, first=uuid.UUID(security["deviceuuid"]))
            state.first_device = None  # a reset gives a new random uuid, as on a real device
            return SavedDevice(state, str(uuid.UUID(document["piid"])),
                               str(uuid.UUID(document["pi"])),
                               int(document.get("coaps_port", 0)))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{self.path}: not a saved secured device "
                             f"({type(err).__name__}: {err}); move it away to start unowned"
                             ) from None

    def save(self, state: svr.SecureState, piid: str, pi: str, coaps_port: int = 0) -> None:
        """Replace the file (raises ``OSError`` when it cannot)."""
        private_directory(self.path.parent)
        write_private_json(self.path, {"piid": piid, "pi": pi, "coaps_port": coaps_port,
                                       "security": to_document(state)})
