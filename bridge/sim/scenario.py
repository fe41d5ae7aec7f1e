"""Scenario files: a home of simulated devices and their scripted behaviour, in TOML.

Layer: ``bridge.sim`` (parsing and validation are pure; :mod:`bridge.sim.scenario_run` runs
them). A scenario names devices on both sides, their starting state, fault injection, and
behaviours: a value that drifts, a sensor that fires every N seconds, a switch that toggles, a
device that leaves and comes back. Every mistake is a :class:`ScenarioError` naming the file,
the key path and what was expected. The format is documented in
docs/testing-with-simulated-devices.md. The scenarios shipped in ``bridge/sim/scenarios``
(part of the installed package) can be named instead of given as a path: ``home``.
"""

from __future__ import annotations

import tomllib
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from bridge.core.errors import BridgeError
from bridge.core.values import check_value
from bridge.model.types import Catalogue, Value
from bridge.sim.device import Faults
from bridge.sim.ocf_identity import OcfSimIdentity, derive_ocf_identity

Side = Literal["ocf", "alljoyn"]
Kind = Literal["drift", "pulse", "toggle", "leave"]
BEHAVIOURS: tuple[str, ...] = ("drift", "pulse", "toggle", "leave")

#: The scenarios that ship with the package, named by their file's stem.
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


class ScenarioError(BridgeError, ValueError):
    """A scenario file is invalid: ``file: key.path: what was expected``."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    side: Side
    capabilities: tuple[str, ...]
    device_type: str
    state: dict[str, dict[str, Value]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    #: an OCF device's ids: derived from the scenario and device name unless the file gives them.
    ocf_identity: OcfSimIdentity | None = None


@dataclass(frozen=True)
class Behaviour:
    kind: Kind
    device: str
    every: float
    capability: str = ""
    property: str = ""
    step: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    #: for ``pulse``: seconds the value stays on; for ``leave``: seconds the device is away.
    duration: float = 1.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    devices: tuple[DeviceSpec, ...]
    behaviours: tuple[Behaviour, ...]
    source: str = ""

    def on_side(self, side: Side) -> list[DeviceSpec]:
        return [d for d in self.devices if d.side == side]


def shipped_scenarios() -> list[str]:
    """The names of the shipped scenarios (``home``...), sorted."""
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))


def resolve_scenario(path: Path) -> Path:
    """``path`` itself when it exists or names a directory; else the shipped scenario with
    that name (``home`` or ``home.toml``) when there is one; else ``path``."""
    if path.exists() or path.parent != Path("."):
        return path
    shipped = SCENARIO_DIR / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    return shipped if shipped.is_file() else path


def load_scenario(path: Path, catalogue: Catalogue) -> Scenario:
    """Read and validate a scenario file, or the shipped scenario ``path`` names."""
    path = resolve_scenario(path)
    name = str(path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ScenarioError(name, "", "no such file, and no shipped scenario has this name; "
                            "give a scenario file or one of: "
                            + ", ".join(shipped_scenarios())) from None
    except OSError as err:
        raise ScenarioError(name, "", f"cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ScenarioError(name, "", f"not UTF-8 text ({err.reason}): a scenario is a TOML "
                            "file") from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(name, "", f"not valid TOML: {err}; the format is in "
                            "docs/testing-with-simulated-devices.md") from None
    return parse_scenario(data, catalogue, name)


def parse_scenario(data: dict[str, Any], catalogue: Catalogue, file: str) -> Scenario:
    reader = _Reader(file)
    reader.only(data, "", {"name", "description", "device", "behaviour"})
    devices_raw = reader.get(data, "device", list, [])
    if not devices_raw:
        raise ScenarioError(file, "device", "at least one [[device]] table is expected")
    scenario_name = reader.get(data, "name", str, Path(file).stem)
    devices: list[DeviceSpec] = []
    for index, raw in enumerate(devices_raw):
        devices.extend(_device(reader, raw, f"device[{index}]", catalogue, scenario_name))
    names = [d.name for d in devices]
    for dup in {n for n in names if names.count(n) > 1}:
        raise ScenarioError(file, "device", f"device name {dup!r} is used twice")
    piids = [d.ocf_identity.piid for d in devices if d.ocf_identity is not None]
    for dup in {p for p in piids if piids.count(p) > 1}:
        raise ScenarioError(file, "device", f"piid {dup} is used twice")
    by_name = {d.name: d for d in devices}
    behaviours = [
        _behaviour(reader, raw, f"behaviour[{index}]", by_name, catalogue)
        for index, raw in enumerate(reader.get(data, "behaviour", list, []))
    ]
    return Scenario(name=scenario_name,
                    description=reader.get(data, "description", str, ""),
                    devices=tuple(devices), behaviours=tuple(behaviours), source=file)


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, problem: str) -> ScenarioError:
        return ScenarioError(self.file, key, problem)

    def only(self, table: Any, key: str, allowed: set[str]) -> None:
        if not isinstance(table, dict):
            raise self.fail(key, "a table is expected")
        for name in table:
            if name not in allowed:
                where = f"{key}.{name}" if key else name
                raise self.fail(where, "unknown key (allowed: " + ", ".join(sorted(allowed))
                                + ")")

    def get(self, table: dict[str, Any], name: str, kind: type, default: Any = ...,
            key: str = "") -> Any:
        where = f"{key}.{name}" if key else name
        if name not in table:
            if default is ...:
                raise self.fail(where, "is required")
            return default
        value = table[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.fail(where, f"{_KIND_WORDS.get(kind, kind.__name__)} is expected, "
                                   f"got {value!r}")
        return value


_KIND_WORDS = {str: "a string", float: "a number", int: "an integer", list: "a list",
               dict: "a table", bool: "true or false"}


def _device(reader: _Reader, raw: Any, key: str, catalogue: Catalogue,
            scenario_name: str) -> list[DeviceSpec]:
    reader.only(raw, key, {"name", "side", "model", "capabilities", "count", "state", "faults",
                           *_OCF_IDS})
    name = reader.get(raw, "name", str, key=key)
    side = reader.get(raw, "side", str, key=key)
    if side not in ("ocf", "alljoyn"):
        raise reader.fail(f"{key}.side", f"'ocf' or 'alljoyn' is expected, got {side!r}")
    model = reader.get(raw, "model", str, "", key=key)
    caps: list[str] = list(reader.get(raw, "capabilities", list, [], key=key))
    device_type = ""
    if model:
        dtype = catalogue.device_type(model)
        if dtype is None:
            known = ", ".join(d.id for d in catalogue.device_types)
            raise reader.fail(f"{key}.model", f"unknown device model {model!r} (known: {known})")
        device_type = dtype.ocf_device_type
        caps = caps or [*dtype.required, *dtype.optional]
    if not caps:
        raise reader.fail(key, "either 'model' or 'capabilities' is required")
    for cap in caps:
        if not isinstance(cap, str) or catalogue.capability(cap) is None:
            raise reader.fail(f"{key}.capabilities", f"unknown capability {cap!r}")
    state = _state(reader, reader.get(raw, "state", dict, {}, key=key), f"{key}.state", caps,
                   catalogue)
    faults = _faults(reader, reader.get(raw, "faults", dict, {}, key=key), f"{key}.faults")
    count = reader.get(raw, "count", int, 1, key=key)
    if not 1 <= count <= 10000:
        raise reader.fail(f"{key}.count", f"1..10000 is expected, got {count}")
    names = [name] if count == 1 else [f"{name} {n}" for n in range(1, count + 1)]
    given = _ocf_ids(reader, raw, key, side, count)
    return [DeviceSpec(name=n, side=side, capabilities=tuple(caps), device_type=device_type,
                       state=state, faults=faults,
                       ocf_identity=replace(derive_ocf_identity(scenario_name, n), **given)
                       if side == "ocf" else None)
            for n in names]


_OCF_IDS = ("piid", "pi", "di")


def _ocf_ids(reader: _Reader, raw: dict[str, Any], key: str, side: str,
             count: int) -> dict[str, str]:
    """The ids a ``[[device]]`` table sets itself (UUIDs), for one OCF device only."""
    given: dict[str, str] = {}
    for name in _OCF_IDS:
        if name not in raw:
            continue
        where = f"{key}.{name}"
        if side != "ocf":
            raise reader.fail(where, "only an OCF device (side = 'ocf') has this id")
        if count != 1:
            raise reader.fail(where, "a fixed id needs count = 1 (ids must be unique)")
        text = reader.get(raw, name, str, key=key)
        try:
            given[name] = str(uuid.UUID(text))
        except ValueError:
            raise reader.fail(where, f"a UUID is expected, got {text!r}") from None
    return given


def _state(reader: _Reader, raw: dict[str, Any], key: str, caps: list[str],
           catalogue: Catalogue) -> dict[str, dict[str, Value]]:
    state: dict[str, dict[str, Value]] = {}
    for cap_id, values in raw.items():
        model = catalogue.capability(cap_id)
        if cap_id not in caps or model is None:
            raise reader.fail(f"{key}.{cap_id}", "not a capability of this device")
        if not isinstance(values, dict):
            raise reader.fail(f"{key}.{cap_id}", "a table of property values is expected")
        checked: dict[str, Value] = {}
        for prop, value in values.items():
            spec = model.property(prop)
            if spec is None:
                raise reader.fail(f"{key}.{cap_id}.{prop}",
                                  f"{cap_id} has no such property")
            try:
                checked[prop] = check_value(spec, value)
            except Exception as err:
                raise reader.fail(f"{key}.{cap_id}.{prop}", str(err)) from None
        state[cap_id] = checked
    return state


def _faults(reader: _Reader, raw: dict[str, Any], key: str) -> Faults:
    reader.only(raw, key, {"drop", "delay", "error", "error_code", "malformed", "seed",
                           "paths", "observe_answer"})
    values: dict[str, Any] = {}
    paths = reader.get(raw, "paths", list, [], key=key)
    if not all(isinstance(path, str) for path in paths):
        raise reader.fail(f"{key}.paths", "a list of hrefs is expected")
    values["paths"] = tuple(paths)
    for name in ("drop", "delay", "error", "malformed"):
        values[name] = reader.get(raw, name, float, 0.0, key=key)
    values["error_code"] = reader.get(raw, "error_code", int, 503, key=key)
    values["observe_answer"] = reader.get(raw, "observe_answer", str, "observe", key=key)
    values["seed"] = reader.get(raw, "seed", int, None, key=key) if "seed" in raw else None
    if not 400 <= values["error_code"] <= 599:
        raise reader.fail(f"{key}.error_code", "a CoAP-style error 400..599 is expected")
    try:
        return Faults(**values)
    except ValueError as err:
        raise reader.fail(key, str(err)) from None


def _behaviour(reader: _Reader, raw: Any, key: str, devices: dict[str, DeviceSpec],
               catalogue: Catalogue) -> Behaviour:
    reader.only(raw, key, {"kind", "device", "every", "capability", "property", "step", "min",
                           "max", "duration"})
    kind = reader.get(raw, "kind", str, key=key)
    if kind not in BEHAVIOURS:
        raise reader.fail(f"{key}.kind", "one of " + ", ".join(BEHAVIOURS) + " is expected")
    device_name = reader.get(raw, "device", str, key=key)
    device = devices.get(device_name)
    if device is None:
        raise reader.fail(f"{key}.device", f"no device named {device_name!r}")
    every = reader.get(raw, "every", float, key=key)
    if every <= 0:
        raise reader.fail(f"{key}.every", "a positive number of seconds is expected")
    behaviour = Behaviour(
        kind=kind, device=device_name, every=every,
        capability=reader.get(raw, "capability", str, "", key=key),
        property=reader.get(raw, "property", str, "", key=key),
        step=reader.get(raw, "step", float, 0.0, key=key),
        minimum=reader.get(raw, "min", float, None, key=key) if "min" in raw else None,
        maximum=reader.get(raw, "max", float, None, key=key) if "max" in raw else None,
        duration=reader.get(raw, "duration", float, 1.0, key=key),
    )
    if kind == "leave":
        return behaviour
    if behaviour.capability not in device.capabilities:
        raise reader.fail(f"{key}.capability",
                          f"{device_name} has no capability {behaviour.capability!r}")
    model = catalogue.capability(behaviour.capability)
    assert model is not None
    spec = model.property(behaviour.property)
    if spec is None:
        raise reader.fail(f"{key}.property",
                          f"{behaviour.capability} has no property {behaviour.property!r}")
    wanted = {"drift": ("integer", "number"), "pulse": ("boolean",), "toggle": ("boolean",)}
    if spec.type not in wanted[kind]:
        raise reader.fail(f"{key}.property", f"a {kind} behaviour needs a "
                          f"{' or '.join(wanted[kind])} property, {spec.name} is {spec.type}")
    if kind == "drift" and behaviour.step == 0:
        raise reader.fail(f"{key}.step", "a drift needs a non-zero step")
    return behaviour
