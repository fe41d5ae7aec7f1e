"""systemd's notify protocol (READY, WATCHDOG, STOPPING, STATUS), without a dependency.

Layer: ``bridge.daemon``. When ``NOTIFY_SOCKET`` is unset (not started by systemd) every call
does nothing. Abstract socket names (leading ``@``) are supported as sd_notify(3) describes.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("ocfaj.systemd")


class SystemdNotifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET", "")
        usec = env.get("WATCHDOG_USEC", "")
        #: seconds between watchdog pings systemd expects (half its timeout), or None.
        self.watchdog_interval: float | None = (int(usec) / 2e6 if usec.isdigit() and int(usec)
                                                else None)

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, message: str) -> None:
        if not self.address:
            return
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode("utf-8"), target)
        except OSError as err:
            log.warning("cannot notify systemd at %s: %s", self.address, err)

    def ready(self, status: str = "") -> None:
        self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")
