"""The configuration: one TOML file, environment overrides and command-line overrides.

Layer: ``bridge.daemon``. This module reads the configuration file (and the MQTT secrets file)
and turns them into the frozen :class:`Config`; it owns the ``[gateway]`` and ``[bridge]``
sections, the other sections live next to the code they configure (``bridge/ocf/config.py``...)
as pure dataclasses. It must not start anything nor import a protocol library.

The loader is driven by the dataclass field types and ``field(metadata=...)`` bounds (``ge``,
``gt``, ``le``, ``check``, ``secret``), so a new key is one documented attribute in a section
class. Each attribute's docstring (read from the source with :mod:`ast`) is its documentation:
:func:`bridge.daemon.config_reference.config_reference_markdown` generates
docs/configuration.md from them.

Precedence, lowest first: defaults, the file, the secrets file (``username``/``password``
only), ``OCFAJ_<SECTION>_<KEY>`` environment variables, command-line overrides.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import stat
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from bridge.alljoyn.config import AllJoynConfig, bus_problem
from bridge.core.errors import ConfigError
from bridge.core.policy_config import PolicyConfig
from bridge.daemon.event_loop import LoopChoice
from bridge.mqtt.config import MqttConfig
from bridge.ocf.config import OcfConfig
from bridge.web.config import WebConfig

_log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("/etc/ocfaj/config.toml")
ENV_PREFIX = "OCFAJ_"
LogLevel = Literal["debug", "info", "warning", "error"]


def _control_bus(value: str) -> str | None:
    return bus_problem(value) if value else None


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "expected a non-empty string"


@dataclass(frozen=True)
class GatewayConfig:
    """The gateway itself: its name, where it keeps state, how it logs."""

    name: str = field(default="ocfaj", metadata={"check": _non_empty})
    """Name of this gateway: the OCF bridge device's name, the AllJoyn AppName of the
    gateway, and part of the default MQTT client id. Give each gateway on a broker its own."""

    state_dir: Path = Path("/var/lib/ocfaj")
    """Directory for persistent state: identities of bridged devices (so they survive restarts)
    and the MQTT outbox. Must be writable by the gateway's user; if it is not, the gateway
    runs without saving identities and with the MQTT outbox in memory, and logs both."""

    log_level: LogLevel = "info"
    """Least severe messages logged: ``debug``, ``info``, ``warning`` or ``error``. Protocol
    libraries log warnings and above only."""

    event_loop: LoopChoice = "auto"
    """The event loop the gateway runs on: ``asyncio`` (Python's own), ``uvloop`` (written in
    C on libuv; installed with the extra ``uvloop``: ``pip install 'ocfaj[uvloop]'``) or
    ``auto``: uvloop's where uvloop is installed, Python's otherwise. On uvloop a GET runs
    30 % fewer instructions in the gateway's serving code, and the gateway takes about
    2.3 MiB more memory. ``uvloop`` when it is not installed stops the gateway at start with
    this key named."""

    log_timestamps: bool = True
    """Start each log line with the time. Set to false under systemd, whose journal adds it."""

    models_dir: Path | None = None
    """Directory of capability model files to use instead of the built-in ones; empty means
    the built-in models."""

    control_bus: str = field(default="", metadata={"check": _control_bus})
    """D-Bus bus on which ``ocfaj devices`` reaches the running gateway; empty means the same
    as ``alljoyn.bus``."""


@dataclass(frozen=True)
class BridgeConfig:
    """Which directions devices cross in, and how long gone devices are kept."""

    ocf_to_alljoyn: bool = True
    """Expose every OCF device as a virtual AllJoyn device."""

    alljoyn_to_ocf: bool = True
    """Expose every AllJoyn device as a virtual OCF device."""

    virtual_grace_period: float = field(default=10.0, metadata={"ge": 0})
    """Seconds to wait before bridging a device that another bridge announced as virtual, so
    that the native device wins when both are present. 0 bridges at once."""

    mqtt_mirror: bool = True
    """Mirror every device (OCF and AllJoyn) to MQTT when ``[mqtt]`` is enabled."""

    forget_after: float = field(default=86400.0, metadata={"ge": 0})
    """Seconds a device may stay gone (unavailable) before the gateway forgets it: its virtual
    copies on every side are removed, its retained MQTT topics and Home Assistant discovery
    are cleared, its identity entry is dropped, and the log says so. A device that returns
    within this time keeps its identity; one that answers after being forgotten is a new
    device. The time counts across restarts of the gateway: a device gone when the gateway
    stopped, or one that does not answer after a start, is forgotten when its time is up,
    counted from when it left (stored with its identity; from the start if it was there
    when the gateway stopped), but never sooner than the origin sides need to find it after
    the start (OCF: ``missed_rounds`` + 1 discovery intervals). The default is one day; 0
    keeps gone devices forever."""


@dataclass(frozen=True)
class Config:
    """The whole configuration. Built by :func:`load_config`; every value is already checked,
    paths are absolute and derived defaults (``mqtt.client_id``, ``gateway.control_bus``) are
    filled in."""

    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    ocf: OcfConfig = field(default_factory=OcfConfig)
    alljoyn: AllJoynConfig = field(default_factory=AllJoynConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    web: WebConfig = field(default_factory=WebConfig)
    #: the file the configuration was read from, ``None`` for defaults only.
    source: Path | None = None


#: Section name -> section class, in file order.
SECTIONS: dict[str, type] = {
    name: hint for name, hint in typing.get_type_hints(Config).items()
    if isinstance(hint, type) and dataclasses.is_dataclass(hint)
}


def load_config(path: Path | None, env: Mapping[str, str] = os.environ,
                overrides: Sequence[str] = (), *, secrets: bool = True) -> Config:
    """Read ``path`` (``None``: defaults only), apply ``OCFAJ_*`` variables of ``env`` and
    ``section.key=value`` ``overrides``. Raises :class:`ConfigError` naming the dotted key.

    ``secrets=False`` leaves the secrets file unread (``mqtt.username``/``password`` keep what
    the other layers say), for commands that never talk to the broker."""
    data: Mapping[str, object] = {}
    if path is not None:
        data = read_toml(path, key="", source=str(path))
    return parse_config(data, path=path, env=env, overrides=overrides, secrets=secrets)


def read_toml(path: Path, *, key: str, source: str) -> dict[str, Any]:
    """The parsed TOML file; unreadable files and syntax errors become ConfigError."""
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except OSError as err:
        raise ConfigError(key, f"cannot read {path}: {err.strerror or err}", source) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(key, f"TOML syntax error: {err}", source) from err
    except UnicodeDecodeError as err:
        raise ConfigError(key, f"the file is not UTF-8 text: {err.reason}", source) from err


def parse_config(data: Mapping[str, object], *, path: Path | None = None,
                 env: Mapping[str, str] = os.environ, overrides: Sequence[str] = (),
                 secrets: bool = True) -> Config:
    """Like :func:`load_config` for data already parsed from TOML (read from ``path``)."""
    base_dir = path.absolute().parent if path is not None else Path.cwd()
    entries: dict[tuple[str, str], _Raw] = {}
    _add_file(entries, data, _Origin(str(path or "<defaults>"), base_dir, text=False, layer=0))
    _add_environment(entries, env)
    _add_overrides(entries, overrides)
    if secrets:
        _add_secrets(entries)
    _imply_mqtt_enabled(entries)
    return _build(entries, path)


# --- layers ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Origin:
    """Where a raw value came from: for messages, relative paths and parsing."""

    source: str
    base_dir: Path
    #: the value is text to parse (environment, command line) rather than a TOML value.
    text: bool
    #: 0 file, 1 secrets file, 2 environment, 3 command line: a higher layer wins.
    layer: int


@dataclass(frozen=True)
class _Raw:
    value: object
    origin: _Origin


def _add_file(entries: dict[tuple[str, str], _Raw], data: Mapping[str, object],
              origin: _Origin) -> None:
    for section, table in data.items():
        _known_section(section, origin)
        if not isinstance(table, dict):
            raise ConfigError(section, f"expected a table [{section}], got {_describe(table)}",
                              origin.source)
        for key, value in table.items():
            _known_key(section, key, origin)
            if is_secret(_field(section, key)):
                raise ConfigError(f"{section}.{key}", "a secret does not belong in the main "
                                  "file: put it in the file named by mqtt.secrets_file",
                                  origin.source)
            entries[section, key] = _Raw(value, origin)


def _add_environment(entries: dict[tuple[str, str], _Raw], env: Mapping[str, str]) -> None:
    for name in sorted(env):
        for section in SECTIONS:
            prefix = f"{ENV_PREFIX}{section.upper()}_"
            if name.startswith(prefix):
                origin = _Origin(f"environment variable {name}", Path.cwd(), text=True, layer=2)
                key = name[len(prefix):].lower()
                _known_key(section, key, origin)
                entries[section, key] = _Raw(env[name], origin)


def _add_overrides(entries: dict[tuple[str, str], _Raw], overrides: Sequence[str]) -> None:
    for item in overrides:
        dotted, equals, value = item.partition("=")
        # Messages name the key, never the value: it may be a password typed where it does
        # not belong. Without "=" the whole argument could be one, so it is not repeated.
        name = dotted.strip() if equals else ""
        origin = _Origin(f"command line (--set {name})" if name else "command line (--set)",
                         Path.cwd(), text=True, layer=3)
        section, dot, key = name.partition(".")
        if not (equals and dot and section and key):
            got = "an argument without '='" if not equals else f"{name or 'nothing'} before '='"
            raise ConfigError(name or "--set", f"expected section.key=value, got {got}",
                              origin.source)
        _known_section(section, origin)
        _known_key(section, key, origin)
        if is_secret(_field(section, key)):
            raise ConfigError(name, "a secret does not belong on the command line (other "
                              "users see it): use the secrets file or the environment",
                              origin.source)
        entries[section, key] = _Raw(value, origin)


def _add_secrets(entries: dict[tuple[str, str], _Raw]) -> None:
    raw = entries.get(("mqtt", "secrets_file"))
    path = _convert_entry("mqtt", "secrets_file", raw) if raw is not None else None
    if not isinstance(path, Path):
        return
    data = read_toml(path, key="mqtt.secrets_file", source=raw.origin.source if raw else "")
    mode = path.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        _log.warning("config: secrets file %s is readable by other users (mode %03o); "
                     "run chmod 600 %s", path, stat.S_IMODE(mode), path)
    origin = _Origin(str(path), path.parent, text=False, layer=1)
    for key, value in data.items():
        target = _SECRET_KEYS.get(key)
        if target is None:
            raise ConfigError(key, "unknown key: a secrets file holds only "
                              + ", ".join(_SECRET_KEYS), origin.source)
        current = entries.get(target)
        if current is None or current.origin.layer < origin.layer:
            entries[target] = _Raw(value, origin)


#: Keys of the secrets file and the configuration key each one sets.
_SECRET_KEYS: dict[str, tuple[str, str]] = {
    "username": ("mqtt", "username"), "password": ("mqtt", "password"),
    "web_password_hash": ("web", "password_hash"),
}


def _imply_mqtt_enabled(entries: dict[tuple[str, str], _Raw]) -> None:
    """A host given anywhere turns MQTT on, unless ``enabled`` is set explicitly."""
    raw = entries.get(("mqtt", "host"))
    if raw is None or ("mqtt", "enabled") in entries:
        return
    if _convert_entry("mqtt", "host", raw):
        entries["mqtt", "enabled"] = _Raw(True, dataclasses.replace(raw.origin, text=False))


# --- building the sections ---------------------------------------------------------------------

@runtime_checkable
class _Consistent(Protocol):
    def problems(self) -> list[tuple[str, str]]: ...


def _build(entries: dict[tuple[str, str], _Raw], path: Path | None) -> Config:
    values: dict[str, dict[str, object]] = {name: {} for name in SECTIONS}
    for (section, key), raw in entries.items():
        values[section][key] = _convert_entry(section, key, raw)
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        section = cls(**values[name])
        if isinstance(section, _Consistent):
            for key, problem in section.problems():
                culprit = entries.get((name, key))
                raise ConfigError(f"{name}.{key}", problem,
                                  culprit.origin.source if culprit else str(path or ""))
        sections[name] = section
    gateway: GatewayConfig = sections["gateway"]
    if not gateway.control_bus:
        sections["gateway"] = dataclasses.replace(gateway, control_bus=sections["alljoyn"].bus)
    if not sections["mqtt"].client_id:
        sections["mqtt"] = dataclasses.replace(sections["mqtt"], client_id=f"ocfaj-{gateway.name}")
    return Config(**sections, source=path)


def _convert_entry(section: str, key: str, raw: _Raw) -> object:
    return _convert_field(_field(section, key), type_hints(SECTIONS[section])[key], raw.value,
                          f"{section}.{key}", raw.origin)


def _convert_field(fld: dataclasses.Field[Any], hint: object, value: object, key: str,
                   origin: _Origin) -> object:
    if not is_secret(fld):
        return _checked(fld, hint, value, key, origin)
    try:
        return _checked(fld, hint, value, key, origin)
    except ConfigError:
        # The usual message describes the value; a secret's is never repeated anywhere.
        raise ConfigError(key, f"expected {_expected(hint)}; the value is a secret and is not "
                          "shown", origin.source) from None


def is_secret(fld: dataclasses.Field[Any]) -> bool:
    """A key whose value never appears in a message (``field(metadata={"secret": True})``)."""
    return bool(fld.metadata.get("secret"))


_EXPECTED: dict[object, str] = {bool: "true or false", int: "an integer", float: "a number",
                                Path: "a path"}


def _expected(hint: object) -> str:
    return _EXPECTED.get(hint, "a string")


def _checked(fld: dataclasses.Field[Any], hint: object, value: object, key: str,
             origin: _Origin) -> object:
    result = _convert(value, hint, key, origin)
    meta = fld.metadata
    if isinstance(result, int | float) and not isinstance(result, bool):
        high = meta.get("le")
        if (("ge" in meta and result < meta["ge"]) or ("gt" in meta and result <= meta["gt"])
                or (high is not None and result > high)):
            raise ConfigError(key, f"expected {bounds_text(meta, hint)}, got {result}",
                              origin.source)
    check: Callable[[Any], str | None] | None = meta.get("check")
    problem = check(result) if check is not None else None
    if problem:
        raise ConfigError(key, problem, origin.source)
    return result


def _convert(value: object, hint: object, key: str, origin: _Origin) -> object:
    kind = typing.get_origin(hint)
    args = typing.get_args(hint)
    if kind is Literal:
        return _to_choice(value, args, key, origin)
    if kind in (types.UnionType, typing.Union):
        if value == "":
            return None
        (inner,) = (arg for arg in args if arg is not type(None))
        return _convert(value, inner, key, origin)
    if kind is tuple:
        return _to_tuple(value, args[0], key, origin)
    if kind is dict:
        return _to_str_table(value, key, origin)
    scalar = _SCALARS.get(hint)
    if scalar is None:
        raise TypeError(f"{key}: the loader does not support the type {hint!r}")
    return scalar(value, key, origin)


def _fail(key: str, expected: str, value: object, origin: _Origin) -> ConfigError:
    return ConfigError(key, f"expected {expected}, got {_describe(value)}", origin.source)


def _to_bool(value: object, key: str, origin: _Origin) -> bool:
    if isinstance(value, bool):
        return value
    if origin.text and isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "1", "yes", "on"):
            return True
        if word in ("false", "0", "no", "off"):
            return False
    raise _fail(key, "true or false", value, origin)


def _to_int(value: object, key: str, origin: _Origin) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if origin.text and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _fail(key, "an integer", value, origin)


def _to_float(value: object, key: str, origin: _Origin) -> float:
    number: float | None = None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif origin.text and isinstance(value, str):
            number = float(value.strip())
    except (ValueError, OverflowError):
        number = None
    if number is None or not math.isfinite(number):
        raise _fail(key, "a number", value, origin)
    return number


def _to_str(value: object, key: str, origin: _Origin) -> str:
    if isinstance(value, str):
        return value
    raise _fail(key, "a string", value, origin)


def _to_path(value: object, key: str, origin: _Origin) -> Path:
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise _fail(key, "a path", value, origin)
    try:
        path = Path(value).expanduser()
    except RuntimeError as err:  # "~" without a home directory
        raise ConfigError(key, str(err), origin.source) from err
    return origin.base_dir / path


_SCALARS: dict[object, Callable[[object, str, _Origin], object]] = {
    bool: _to_bool, int: _to_int, float: _to_float, str: _to_str, Path: _to_path,
}


def _to_choice(value: object, choices: tuple[object, ...], key: str, origin: _Origin) -> object:
    if isinstance(value, str):
        word = value.strip().lower()
        for choice in choices:
            if str(choice).lower() == word:
                return choice
    elif isinstance(value, int) and not isinstance(value, bool):
        for choice in choices:
            if str(choice) == str(value):
                return choice
    raise _fail(key, "one of " + ", ".join(json.dumps(c) for c in choices), value, origin)


def _to_tuple(value: object, item: object, key: str, origin: _Origin) -> tuple[object, ...]:
    if isinstance(item, type) and dataclasses.is_dataclass(item):
        if origin.text:
            raise ConfigError(key, "a list of tables can only be set in the file", origin.source)
        if not isinstance(value, list):
            raise _fail(key, "a list of tables", value, origin)
        return tuple(_to_record(entry, item, f"{key}[{i}]", origin)
                     for i, entry in enumerate(value))
    if origin.text and isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise _fail(key, "a list", value, origin)
    return tuple(_convert(entry, item, f"{key}[{i}]", origin) for i, entry in enumerate(value))


def _to_record(value: object, cls: type, key: str, origin: _Origin) -> object:
    if not isinstance(value, dict):
        raise _fail(key, "a table", value, origin)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = type_hints(cls)
    kwargs: dict[str, object] = {}
    for name, entry in value.items():
        if name not in fields:
            raise ConfigError(f"{key}.{name}", _unknown("key", name, fields), origin.source)
        kwargs[name] = _convert_field(fields[name], hints[name], entry, f"{key}.{name}", origin)
    for name, fld in fields.items():
        required = (fld.default is dataclasses.MISSING
                    and fld.default_factory is dataclasses.MISSING)
        if required and name not in kwargs:
            raise ConfigError(f"{key}.{name}", "required key missing", origin.source)
    return cls(**kwargs)


def _to_str_table(value: object, key: str, origin: _Origin) -> dict[str, str]:
    if origin.text and isinstance(value, str):
        table: dict[str, object] = {}
        for pair in filter(None, (part.strip() for part in value.split(","))):
            name, equals, text = pair.partition("=")
            if not equals or not name.strip():
                raise _fail(key, "name=value pairs separated by commas", value, origin)
            table[name.strip()] = text.strip()
        value = table
    if not isinstance(value, dict):
        raise _fail(key, "a table", value, origin)
    for name, entry in value.items():
        if not isinstance(entry, str):
            raise _fail(f"{key}.{name}", "a string", entry, origin)
    return dict(value)


# --- helpers -----------------------------------------------------------------------------------

@functools.cache
def type_hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls)


def _field(section: str, key: str) -> dataclasses.Field[Any]:
    fields: dict[str, dataclasses.Field[Any]] = {
        f.name: f for f in dataclasses.fields(SECTIONS[section])}
    return fields[key]


def _known_section(section: str, origin: _Origin) -> None:
    if section not in SECTIONS:
        raise ConfigError(section, _unknown("section", section, SECTIONS), origin.source)


def _known_key(section: str, key: str, origin: _Origin) -> None:
    names = [f.name for f in dataclasses.fields(SECTIONS[section])]
    if key not in names:
        raise ConfigError(f"{section}.{key}", _unknown("key", key, names), origin.source)


def _unknown(what: str, name: str, known: typing.Iterable[str]) -> str:
    import difflib  # only for a configuration error: not kept in the running gateway's memory

    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else f"; known: {', '.join(known)}"
    return f"unknown {what}{hint}"


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {json.dumps(text)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__} ({value})"


def bounds_text(meta: Mapping[str, Any], hint: object) -> str:
    noun = "an integer" if hint is int else "a number"
    if "le" in meta and "ge" in meta:
        return f"{noun} from {meta['ge']} to {meta['le']}"
    parts = []
    if "ge" in meta:
        parts.append(f"at least {meta['ge']}")
    if "gt" in meta:
        parts.append(f"greater than {meta['gt']}")
    if "le" in meta:
        parts.append(f"at most {meta['le']}")
    return f"{noun} " + " and ".join(parts)
