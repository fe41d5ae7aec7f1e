"""The owners' provisioning of the gateway's secured virtual OCF devices, in the state dir.

Layer: ``bridge.daemon`` (files). One JSON file per device under
``<state_dir>/ocf-security/`` (directory mode 0700), named by the device's stable key (the
uuid derived from its origin, or ``bridge`` for the bridge device), written atomically with
mode 0600 (``bridge.daemon.state.write_atomic``). The files hold PSKs: they are never logged
and never printed by any command.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge.core.errors import SecurityError
from bridge.daemon.state import write_atomic
from bridge.ocf.svr_store import SecurityStore

DIRECTORY = "ocf-security"
_KEY = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class SecurityFiles(SecurityStore):
    """:class:`~bridge.ocf.svr_store.SecurityStore` over ``<state_dir>/ocf-security``."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / DIRECTORY

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a device key: {key!r}")
        return self.directory / f"{key}.json"

    def load(self, key: str) -> Mapping[str, Any] | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            document = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as err:
            raise SecurityError(str(path), f"the saved OCF security does not load "
                                           f"({type(err).__name__}); it is replaced at the "
                                           f"device's next change"
                                ) from None
        if not isinstance(document, dict):
            raise SecurityError(str(path), "the saved OCF security is not a JSON object")
        return document

    def save(self, key: str, document: Mapping[str, Any]) -> None:
        path = self._path(key)
        if not self.directory.exists():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        write_atomic(path, dict(document), keep_backup=False)
