"""TOML text for the small documents the kit writes: gateway configs and one-device scenarios.

Layer: ``bridge.sim.testing`` (pure). Python 3.11 reads TOML (``tomllib``) but cannot write it;
the kit only needs scalars, lists and tables of them, so this writes exactly those.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def value(item: Any) -> str:
    """One TOML value: booleans, numbers, strings, lists and inline tables of them."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int | float):
        return repr(item)
    if isinstance(item, str):
        # A JSON string is a valid TOML basic string (same escapes).
        return json.dumps(item)
    if isinstance(item, list | tuple):
        return "[" + ", ".join(value(v) for v in item) + "]"
    if isinstance(item, Mapping):
        return "{ " + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items()) + " }"
    raise TypeError(f"cannot write {type(item).__name__} as TOML: {item!r}")


def key(name: str) -> str:
    return json.dumps(name)


def sections(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """``[section]`` tables of ``key = value`` lines."""
    return "\n".join(f"[{name}]\n" + "".join(f"{key(k)} = {value(v)}\n" for k, v in body.items())
                     for name, body in tables.items())
