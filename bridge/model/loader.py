"""Read the model files of a directory and check them together.

Layer: ``bridge.model``. The only module of the package that touches the file system (reading
``capabilities/*.toml`` and ``devices/*.toml`` under one directory); it imports nothing outside
``bridge.model``. Each file is checked for shape (``bridge.model.schema``), then for meaning
(``bridge.model.capability``), then the whole set for consistency: unique ids, device types that
name existing capabilities, one capability per OCF link and per AllJoyn interface.
Every problem is a ``ModelError`` naming the file, the key path and what was expected.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge.model.capability import build_capability
from bridge.model.errors import ModelError
from bridge.model.schema import CAPABILITY, DEVICE_TYPE, Key, SchemaViolation, check_table
from bridge.model.types import CapabilityModel, Catalogue, DeviceTypeModel


def load_directory(directory: Path) -> Catalogue:
    """The catalogue of ``directory`` (which holds ``capabilities/`` and ``devices/``)."""
    capabilities = [
        capability_from_dict(_read(path, directory), _name(path, directory), path.stem)
        for path in _files(directory, "capabilities")
    ]
    device_types = [
        device_type_from_dict(_read(path, directory), _name(path, directory), path.stem)
        for path in _files(directory, "devices")
    ]
    check_catalogue(capabilities, device_types)
    return Catalogue(capabilities=tuple(capabilities), device_types=tuple(device_types))


def capability_from_dict(doc: object, file: str, stem: str | None = None) -> CapabilityModel:
    """Check and build one capability document; ``stem``, when given, must equal its id."""
    _check(doc, file, CAPABILITY, stem)
    assert isinstance(doc, dict)
    try:
        return build_capability(doc, file)
    except SchemaViolation as exc:
        raise ModelError(file, exc.path, exc.expected, exc.found) from None


def device_type_from_dict(doc: object, file: str, stem: str | None = None) -> DeviceTypeModel:
    """Check and build one device type document; ``stem``, when given, must equal its id."""
    _check(doc, file, DEVICE_TYPE, stem)
    assert isinstance(doc, dict)
    both = set(doc["required"]) & set(doc.get("optional", ()))
    if both:
        raise ModelError(file, "optional", "capabilities not already required",
                         ", ".join(sorted(both)))
    return DeviceTypeModel(
        id=doc["id"], title=doc["title"], ocf_device_type=doc["ocf_device_type"],
        required=tuple(doc["required"]), optional=tuple(doc.get("optional", ())),
        source_file=file,
    )


def check_catalogue(capabilities: list[CapabilityModel],
                    device_types: list[DeviceTypeModel]) -> None:
    """Consistency of the whole set; ModelError naming the later of two clashing files."""
    by_id: dict[str, CapabilityModel] = {}
    links: dict[tuple[str, str], CapabilityModel] = {}
    owners: dict[str, CapabilityModel] = {}
    for cap in capabilities:
        _unique(by_id, cap.id, cap, "id", "a capability id no other file uses")
        _unique(links, (cap.ocf.resource_type, cap.ocf.default_interface), cap,
                "ocf.default_interface",
                f"a default interface that no other capability with resource type "
                f"{cap.ocf.resource_type} uses")
        for index, iface in enumerate(cap.alljoyn.interfaces):
            _unique(owners, iface.name, cap, f"alljoyn.interfaces[{index}].name",
                    "an interface no other capability lists")
    devices: dict[str, DeviceTypeModel] = {}
    ocf_types: dict[str, DeviceTypeModel] = {}
    for dev in device_types:
        _unique(devices, dev.id, dev, "id", "a device type id no other file uses")
        _unique(ocf_types, dev.ocf_device_type, dev, "ocf_device_type",
                "an OCF device type no other device type file uses")
        for key, ids in (("required", dev.required), ("optional", dev.optional)):
            for index, cap_id in enumerate(ids):
                if cap_id not in by_id:
                    raise ModelError(dev.source_file, f"{key}[{index}]",
                                     "the id of a capability in capabilities/",
                                     repr(cap_id))


def _unique(seen: dict[Any, Any], key: object, item: CapabilityModel | DeviceTypeModel,
            path: str, expected: str) -> None:
    if key in seen:
        raise ModelError(item.source_file, path, expected,
                         f"{key!r}, already used by {seen[key].source_file}")
    seen[key] = item


def _check(doc: object, file: str, keys: Mapping[str, Key], stem: str | None) -> None:
    try:
        check_table(doc, "", keys)
    except SchemaViolation as exc:
        raise ModelError(file, exc.path, exc.expected, exc.found) from None
    assert isinstance(doc, dict)
    if stem is not None and doc["id"] != stem:
        raise ModelError(file, "id", f"the file name without .toml ({stem!r})", repr(doc["id"]))


def _files(directory: Path, kind: str) -> list[Path]:
    folder = directory / kind
    if not folder.is_dir():
        raise ModelError(str(folder), "", f"a directory of {kind} model files", "none")
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise ModelError(str(folder), "", f"at least one {kind} model file (*.toml)", "none")
    return files


def _name(path: Path, directory: Path) -> str:
    return path.relative_to(directory).as_posix()


def _read(path: Path, directory: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(_name(path, directory), "", "valid TOML", str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(_name(path, directory), "", "a readable file", str(exc)) from None
