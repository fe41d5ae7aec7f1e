"""docs/configuration.md, generated from the configuration classes' attribute docstrings.

Layer: ``bridge.daemon``. Each configuration key is one documented attribute of a section
dataclass; this module reads those docstrings from the source (with :mod:`ast`) and renders the
reference, so the documentation can never drift from the code (a test compares them).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from bridge.daemon.config import ENV_PREFIX, SECTIONS, bounds_text, type_hints


def attribute_docs(cls: type) -> dict[str, str]:
    """The docstring written right below each attribute of ``cls``, by attribute name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    classdef = tree.body[0]
    if not isinstance(classdef, ast.ClassDef):
        raise TypeError(f"{cls!r} is not defined by a class statement")
    docs: dict[str, str] = {}
    for node, after in zip(classdef.body, classdef.body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def config_reference_markdown() -> str:
    """docs/configuration.md: the guide below plus every key with type, default and meaning."""
    out = [_GUIDE.strip(), ""]
    for section, cls in SECTIONS.items():
        out += [f"## [{section}]", "", _one_line(inspect.getdoc(cls) or ""), ""]
        docs = attribute_docs(cls)
        hints = type_hints(cls)
        for fld in dataclasses.fields(cls):
            out += _key_reference(section, fld, hints[fld.name], docs.get(fld.name, ""))
    out += [_EXAMPLE.strip(), ""]
    return "\n".join(out)


def _key_reference(section: str, fld: dataclasses.Field[Any], hint: object,
                   doc: str) -> list[str]:
    default = fld.default if fld.default_factory is dataclasses.MISSING else fld.default_factory()
    where = f"`{ENV_PREFIX}{section.upper()}_{fld.name.upper()}`"
    if fld.metadata.get("secret"):
        where += " or the secrets file only"
    facts = f"{_type_text(hint, fld.metadata)} · default `{_toml(default)}` · {where}"
    lines = [f"### `{section}.{fld.name}`", "", facts, "", _one_line(doc), ""]
    item = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else None
    if isinstance(item, type) and dataclasses.is_dataclass(item):
        lines[2] = f"list of tables · default `{_toml(default)}` · file only"
        item_docs = attribute_docs(item)
        item_hints = type_hints(item)
        for sub in dataclasses.fields(item):
            required = sub.default is dataclasses.MISSING
            default_text = "required" if required else f"default `{_toml(sub.default)}`"
            lines.append(f"- `{sub.name}` ({_type_text(item_hints[sub.name], sub.metadata)}, "
                         f"{default_text}): {_one_line(item_docs.get(sub.name, ''))}")
        lines.append("")
    return lines


def _type_text(hint: object, meta: Mapping[str, Any]) -> str:
    kind = typing.get_origin(hint)
    args = typing.get_args(hint)
    if kind is Literal:
        return "one of " + ", ".join(f"`{json.dumps(choice)}`" for choice in args)
    if kind in (types.UnionType, typing.Union):
        (inner,) = (arg for arg in args if arg is not type(None))
        return f"{_type_text(inner, meta)} or empty"
    if kind is tuple:
        if args[0] is str:
            return "list of strings"
        return f"list of {_type_text(args[0], {})}"
    if kind is dict:
        return "table of strings"
    names: dict[object, str] = {
        bool: "boolean", int: "integer", float: "number", str: "string", Path: "path"}
    text = names.get(hint, str(hint))
    if any(bound in meta for bound in ("ge", "gt", "le")):
        text = bounds_text(meta, hint)[len("an " if hint is int else "a "):]
    return text


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return '""'
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _one_line(text: str) -> str:
    """Docstring paragraphs as Markdown: lines joined, paragraphs kept."""
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))


_GUIDE = """
# Configuration reference

<!-- Generated from the attribute docstrings of the section classes by
`ocfaj config-reference > docs/configuration.md`; edit those docstrings, not this file. -->

The gateway reads one TOML file, `/etc/ocfaj/config.toml` by default (`--config FILE` or the
`OCFAJ_CONFIG` environment variable name another). Every key has a default, so an empty file, or
no file at all, is a valid configuration. `ocfaj check-config FILE` checks a file without
starting anything; a mistake is reported with its dotted key, for example
`config.toml: mqtt.port: expected an integer from 1 to 65535, got 70000`, and the gateway
refuses to start. Unknown sections and keys are mistakes too, so a typo never goes unnoticed.
Both `check-config` and `run` also check what the values name on this machine: that
`gateway.models_dir` is a directory of valid model files, that every interface of
`ocf.interfaces` exists, that `ocf.manufacturer_trust_anchors` holds CA certificates and
`ocf.manufacturer_certificate`, `manufacturer_key` and `manufacturer_chain` load, belong together
and fit the OCF certificate profile, and, with `mqtt.tls`, that `mqtt.ca_file`, `cert_file` and
`key_file` exist, are readable and load (`run` stops with exit status 2 and the key and value at
fault).
Commands that only talk to a running gateway (`ocfaj devices`) never read the secrets file
and skip a configuration file this user may not read.

## Where values come from

From lowest to highest precedence:

1. the defaults listed below;
2. the configuration file;
3. the secrets file (`mqtt.secrets_file`), for `mqtt.username`, `mqtt.password` and
   `web.password_hash` only;
4. environment variables `OCFAJ_<SECTION>_<KEY>`, e.g. `OCFAJ_MQTT_PORT=8883`;
5. command-line flags: `--set section.key=value` (repeatable, later ones win) and the specific
   flags of some commands (`--log-level`, `--bus`).

Environment and command-line values are text, read as follows: booleans accept `true`/`false`,
`yes`/`no`, `on`/`off` and `1`/`0`; numbers are written as in TOML; lists are comma-separated
(`OCFAJ_OCF_INTERFACES=eth0,wlan0`; an empty value is an empty list); tables of strings are
`name=value` pairs separated by commas; choices ignore case. Lists of tables
(`policy.rules`) can only be written in the file. An environment variable that starts with the
prefix of a section but names no key of it (`OCFAJ_MQTT_PROT=5`) is an error.

Setting `mqtt.host` to a non-empty value, in any of these places, turns MQTT on unless
`mqtt.enabled` is set explicitly somewhere: `OCFAJ_MQTT_HOST=broker.lan` is enough to mirror
all devices to a broker, while `enabled = false` in the file keeps it off.

Relative paths in the file are relative to the directory of the file; relative paths from the
environment or the command line are relative to the working directory. `~` is expanded. For
optional paths an empty string means "none".

## Secrets

Keep the broker password out of the main file, which is often world-readable. Name a second
TOML file in `mqtt.secrets_file`; it may hold only `username`, `password` and
`web_password_hash` (the web page's password as a hash, made by `ocfaj web-password`):

```toml
username = "gateway"
password = "s3cret"
web_password_hash = "scrypt$16384$8$1$..."
```

The gateway warns at start-up when that file is readable by other users (`chmod 600` it).
`mqtt.password` is refused in the main file and on the command line (where every user sees
it in the process list); the `OCFAJ_MQTT_PASSWORD` environment variable is accepted, for
containers. The password never appears in logs or in `check-config` output, and no error
message repeats a secret: a refused `--set mqtt.password=...` names the key and the command
line, never the value; a password of the wrong type in the secrets file is reported as
"expected a string; the value is a secret and is not shown". Command-line errors in general
quote only what comes before the `=` of `--set`, since a mistyped key may carry a secret.
"""

_EXAMPLE = """
## Example

A gateway that bridges both ways on its Ethernet port and mirrors everything to a broker with
TLS; examples/config.toml shows every key.

```toml
[gateway]
name = "hall-gateway"
state_dir = "/var/lib/ocfaj"

[ocf]
interfaces = ["eth0"]
unicast_peers = ["coap://192.168.10.7:5683"]

[mqtt]
enabled = true
host = "broker.lan"
port = 8883
tls = true
secrets_file = "mqtt-secrets.toml"   # next to this file

[mqtt.names]
"0685b960-736f-46f7-bead-0a3a2a5d5e3c" = "Hall light"

[policy]
default = "allow"

[[policy.rules]]
action = "read_only"
resource_type = "oic.r.lock.*"
```
"""
