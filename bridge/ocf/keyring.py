"""Which PSK a coaps client uses for a server: chosen by the server's identity hint only.

Layer: ``bridge.ocf`` pure (no sockets, no DTLS library). An OCF server sends its uuid (16
raw bytes) as PSK identity hint; the client answers with its own uuid as identity and the
pairwise or owner key it holds for that server. A server that sends no hint, or a hint no
key is known for, is refused: there is no fallback key (the reference client's fallback to
one byte of its own uuid lets anyone who saw that identity impersonate any server).

Beside the keys of the devices the gateway owns, it may hold keys an external onboarding
tool provisioned on the gateway's own bridge device (:meth:`Keyring.provide`,
``bridge.ocf.provisioned``): for those servers the client identity is the bridge device's
uuid, the subject the tool gave the gateway on the device.

OpenSSL ends hints at a zero byte (``bridge.ocf.dtls_lib``): a hint shorter than 16 bytes
matches the one known uuid that begins with it and has a zero byte right after.
"""

from __future__ import annotations

import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("ocfaj.ocf.keys")


class Keyring:
    """The gateway's own uuid and the PSK it holds for each server uuid (mutable)."""

    def __init__(self, own: uuid.UUID, keys: Mapping[uuid.UUID, bytes] | None = None) -> None:
        self.own = own
        self._keys: dict[uuid.UUID, bytes] = dict(keys or {})
        #: server -> (our identity for it, key): provisioned by another onboarding tool.
        self._provided: dict[uuid.UUID, tuple[uuid.UUID, bytes]] = {}

    def set(self, server: uuid.UUID, key: bytes) -> None:
        if len(key) not in (16, 32):
            raise ValueError("an OCF PSK has 16 or 32 bytes")
        self._keys[server] = key

    def remove(self, server: uuid.UUID) -> None:
        self._keys.pop(server, None)

    def replace(self, keys: Mapping[uuid.UUID, bytes]) -> None:
        """Hold exactly ``keys`` from now on (the credential store changed)."""
        self._keys = dict(keys)

    def provide(self, identity: uuid.UUID, keys: Mapping[uuid.UUID, bytes]) -> None:
        """Hold exactly ``keys`` as the ones provisioned for ``identity`` by another
        onboarding tool; the keys of owned devices (:meth:`replace`) stay as they are and
        win for a server that is in both."""
        self._provided = {server: (identity, key) for server, key in keys.items()}

    def provided(self) -> frozenset[uuid.UUID]:
        """The servers held through :meth:`provide`."""
        return frozenset(self._provided)

    def holds(self, device_id: str) -> bool:
        """True when a key for the device with this ``di`` (its uuid) is held."""
        try:
            return uuid.UUID(device_id) in self
        except ValueError:
            return False

    def __len__(self) -> int:
        return len(self._keys.keys() | self._provided.keys())

    def __contains__(self, server: object) -> bool:
        return server in self._keys or server in self._provided

    def server_for(self, hint: bytes) -> uuid.UUID | None:
        if len(hint) == 16:
            server = uuid.UUID(bytes=hint)
            return server if server in self else None
        if not hint or len(hint) > 16:
            return None
        matches = [known for known in self._keys.keys() | self._provided.keys()
                   if known.bytes.startswith(hint) and known.bytes[len(hint)] == 0]
        return matches[0] if len(matches) == 1 else None

    def choose(self, _session: Any, hint: bytes) -> tuple[bytes, bytes] | None:
        """The (identity, key) for a server's hint; None refuses the handshake."""
        if not hint:
            log.warning("coaps: a server sent no PSK identity hint; refused (no fallback key)")
            return None
        server = self.server_for(hint)
        if server is None:
            log.warning("coaps: no key for the server with identity hint %s; refused",
                        hint.hex())
            return None
        if server in self._keys:
            return self.own.bytes, self._keys[server]
        identity, key = self._provided[server]
        return identity.bytes, key


class KeySource(ABC):
    """Where the OCF side gets the keys of the devices the gateway owns.

    The daemon builds it over its credential store and hands it to ``OcfSide``, which calls
    :meth:`refresh` before every discovery round, so that a device owned or given back while
    the gateway runs (``ocfaj onboard`` writing the store) is bridged or dropped without a
    restart. ``keyring`` is the same object for the source's whole life; ``refresh`` changes
    its contents in place.
    """

    keyring: Keyring

    @abstractmethod
    def refresh(self) -> bool:
        """Reload the keys when the store changed; True when they changed."""

    @abstractmethod
    def forget(self, device_id: str) -> None:
        """The device with this ``di`` was reset by its user: drop its key, in the store too."""
