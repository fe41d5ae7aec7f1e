"""A test PKI for the manufacturer certificate ownership transfer, written as PEM files.

Layer: ``bridge.sim.testing`` (test kit; the certificates themselves are made by
``bridge.ocf.mfg_profile.issue`` to the OCF profile). One :class:`TestPki` is a
manufacturer's root CA, optionally an intermediate CA, and any number of device
certificates: valid ones, expired ones, and ones from a CA nobody trusts (a second,
unrelated root). Every item is written under ``directory`` so that a simulated device
(``ocfaj simulate ocf --secure --mfg-cert ... --mfg-key ... --mfg-chain ...``, the
``ocf_device`` fixture's ``mfg_*`` arguments) and a gateway (``[ocf]
manufacturer_trust_anchors``, ``mfg_cert``...) can read them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from bridge.ocf.mfg_profile import Issued, issue

DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class DeviceFiles:
    """A device certificate's files: ``cert``, ``key``, and ``chain`` (its intermediates;
    None when the device's issuer is the root)."""

    cert: Path
    key: Path
    chain: Path | None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class TestPki:
    """A manufacturer's CAs under ``directory``: ``root`` (the trust anchor file is
    :attr:`anchors`) and, with ``intermediate``, a CA between the root and the devices."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, *, intermediate: bool = True,
                 name: str = "Test Manufacturer") -> None:
        self.directory = directory
        self.name = name
        directory.mkdir(parents=True, exist_ok=True)
        now = _now()
        self.root = issue(f"{name} Root CA", issuer=None, ca=True, not_before=now - DAY,
                          not_after=now + 3650 * DAY, organisation=name)
        self.issuer: Issued = self.root
        self.intermediate: Issued | None = None
        if intermediate:
            self.intermediate = issue(f"{name} Device CA", issuer=self.root, ca=True,
                                      not_before=now - DAY, not_after=now + 1825 * DAY,
                                      organisation=name, path_length=0)
            self.issuer = self.intermediate
        self.anchors = self._write(f"{_slug(name)}-root.pem", self.root.certificate_pem())
        self._count = 0

    def device(self, name: str = "device", *, expired: bool = False,
               not_yet_valid: bool = False) -> DeviceFiles:
        """A device certificate to the OCF profile, valid now unless ``expired`` (ended a
        day ago) or ``not_yet_valid`` (starts tomorrow)."""
        now = _now()
        not_before, not_after = now - DAY, now + 365 * DAY
        if expired:
            not_before, not_after = now - 400 * DAY, now - DAY
        elif not_yet_valid:
            not_before = now + DAY
        self._count += 1
        issued = issue(f"{name} {self._count}", issuer=self.issuer, ca=False,
                       not_before=not_before, not_after=not_after,
                       organisation=self.name)
        stem = f"{_slug(name)}-{self._count}"
        chain = (self._write(f"{stem}-chain.pem", self.intermediate.certificate_pem())
                 if self.intermediate is not None else None)
        return DeviceFiles(self._write(f"{stem}-cert.pem", issued.certificate_pem()),
                           self._write(f"{stem}-key.pem", issued.key_pem(), private=True),
                           chain)

    def _write(self, name: str, data: bytes, *, private: bool = False) -> Path:
        path = self.directory / name
        path.write_bytes(data)
        if private:
            path.chmod(0o600)
        return path


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
