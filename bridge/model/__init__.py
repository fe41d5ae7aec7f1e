"""The shared data models: capabilities and device types, loaded from ``models/`` and validated.

Layer: ``bridge.model``. Imports nothing else of ``bridge`` and no network library; the only I/O
is reading the model files (``bridge.model.loader``). Everyone else gets a ``Catalogue`` from
``load_catalogue()`` and looks capabilities up by OCF resource type, AllJoyn interface or MQTT
component.
"""

from __future__ import annotations

import functools
from pathlib import Path

from bridge.model.errors import ModelError
from bridge.model.loader import load_directory
from bridge.model.types import (
    AllJoynBinding,
    AllJoynInterfaceBinding,
    AllJoynMethodBinding,
    AllJoynPropertyBinding,
    CapabilityModel,
    Catalogue,
    DeviceTypeModel,
    MqttBinding,
    OcfBinding,
    OcfPropertyBinding,
    PropertySpec,
    Transform,
    Value,
    ValueBinding,
)

__all__ = [
    "AllJoynBinding",
    "AllJoynInterfaceBinding",
    "AllJoynMethodBinding",
    "AllJoynPropertyBinding",
    "CapabilityModel",
    "Catalogue",
    "DeviceTypeModel",
    "ModelError",
    "MqttBinding",
    "OcfBinding",
    "OcfPropertyBinding",
    "PropertySpec",
    "Transform",
    "Value",
    "ValueBinding",
    "default_models_dir",
    "load_catalogue",
]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def default_models_dir() -> Path:
    """``bridge/_models`` of an installed wheel if present, else ``models/`` of the source tree."""
    installed = _PACKAGE_DIR / "_models"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "models"


@functools.lru_cache(maxsize=1)
def _default_catalogue() -> Catalogue:
    return load_directory(default_models_dir())


def load_catalogue(directory: Path | None = None) -> Catalogue:
    """The catalogue of ``directory``, or the shipped one (loaded once) when None.

    Raises ``ModelError`` when a file is invalid.
    """
    if directory is None:
        return _default_catalogue()
    return load_directory(directory)
