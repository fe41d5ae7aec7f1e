"""Checks of a configuration against this machine, before anything starts.

Layer: ``bridge.daemon``. :func:`bridge.daemon.config.load_config` checks each value on its
own (types, ranges, consistency); this module checks what the values name on the machine: the
models directory and its model files, the network interfaces of ``[ocf]``, the manufacturer
certificate and trust anchor files of ``[ocf]``, the certificate files of ``[mqtt]``.
``ocfaj check-config`` and ``ocfaj run`` both call it, so a setting that check-config passes
is one that run accepts. It starts nothing and opens no connection.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from bridge.core.errors import ConfigError
from bridge.daemon.config import Config
from bridge.daemon.event_loop import uvloop_class
from bridge.model import ModelError, load_catalogue
from bridge.mqtt.tls import tls_context


def check_machine(config: Config) -> None:
    """Raise :class:`ConfigError` naming the key and its value for the first setting that
    cannot work on this machine."""
    source = str(config.source or "")
    _check_models(config, source)
    check_event_loop(config)
    if config.ocf.enabled:
        _check_interfaces(config.ocf.interfaces, source)
        _check_manufacturer_files(config, source)
    if config.mqtt.enabled and config.mqtt.tls:
        _check_tls(config, source)


def check_event_loop(config: Config) -> None:
    """``gateway.event_loop = "uvloop"`` needs uvloop (``ocfaj demo`` checks this alone)."""
    if config.gateway.event_loop == "uvloop" and uvloop_class() is None:
        raise ConfigError("gateway.event_loop", "'uvloop' needs uvloop, which cannot be "
                          "imported here: pip install 'ocfaj[uvloop]', or use 'auto'",
                          str(config.source or ""))


def _check_models(config: Config, source: str) -> None:
    directory = config.gateway.models_dir
    if directory is None:
        return
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "does not exist"
        raise ConfigError("gateway.models_dir", f"{directory} {problem}", source)
    try:
        load_catalogue(directory)
    except ModelError as err:
        raise ConfigError("gateway.models_dir", f"{directory}: {err}", source) from None


def _check_interfaces(names: tuple[str, ...], source: str) -> None:
    present = sorted(name for _, name in socket.if_nameindex())
    for name in names:
        if name not in present:
            raise ConfigError("ocf.interfaces", f"no network interface {name!r} on this "
                              f"machine (present: {', '.join(present)})", source)


def _check_manufacturer_files(config: Config, source: str) -> None:
    ocf = config.ocf
    if ocf.manufacturer_trust_anchors is None and ocf.manufacturer_certificate is None:
        return
    key = ("ocf.manufacturer_trust_anchors" if ocf.manufacturer_trust_anchors is not None
           else "ocf.manufacturer_certificate")
    try:
        from bridge.ocf.mfg_trust import CertificateFileError, DeviceCertificate, TrustAnchors
    except ImportError as err:
        raise ConfigError(key, f"manufacturer certificates need the 'secure' extra ({err}): "
                               "pip install 'ocfaj[secure]'", source) from None
    try:
        if ocf.manufacturer_trust_anchors is not None:
            TrustAnchors.load(ocf.manufacturer_trust_anchors)
        key = "ocf.manufacturer_certificate"
        if ocf.manufacturer_certificate is not None and ocf.manufacturer_key is not None:
            DeviceCertificate.load(ocf.manufacturer_certificate, ocf.manufacturer_key,
                                   ocf.manufacturer_chain)
    except CertificateFileError as err:
        raise ConfigError(key, str(err), source) from None


def _check_tls(config: Config, source: str) -> None:
    files: tuple[tuple[str, Path | None], ...] = (
        ("ca_file", config.mqtt.ca_file), ("cert_file", config.mqtt.cert_file),
        ("key_file", config.mqtt.key_file))
    for key, path in files:
        if path is None:
            continue
        if not path.is_file():
            problem = "is not a file" if path.exists() else "does not exist"
            raise ConfigError(f"mqtt.{key}", f"{path} {problem}", source)
        if not os.access(path, os.R_OK):
            raise ConfigError(f"mqtt.{key}", f"{path} is not readable by this user "
                              f"(uid {os.getuid()})", source)
    try:
        tls_context(config.mqtt)
    except ConfigError as err:
        raise ConfigError(err.key, err.problem, source) from None
