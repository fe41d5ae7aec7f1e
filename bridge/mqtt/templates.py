"""Jinja templates of Home Assistant discovery documents that read the gateway's JSON.

Layer: ``bridge.mqtt`` (pure). The gateway clears a device's retained topics with empty
messages when the device is renamed or forgotten; Home Assistant may still deliver those to the
old entities before it has removed them, and an empty payload has no ``value_json``. Every
template that reads a device topic therefore renders to nothing for a payload that is not
JSON (each platform ignores an empty result), instead of failing with a logged error.
"""

from __future__ import annotations

import json

from bridge.model.types import Value

#: an availability topic's ``{"state": ...}``; a cleared topic reads as offline.
AVAILABILITY = "{{ value_json.state if value_json is defined else 'offline' }}"


def literal(value: Value) -> str:
    """``value`` as a Jinja literal (JSON literals of scalars are valid Jinja)."""
    return json.dumps(value)


def value_path(key: str, prop: str) -> str:
    """The expression of property ``prop`` of capability ``key`` in a state document."""
    return f"value_json[{literal(key)}][{literal(prop)}]"


def guarded(expression: str, otherwise: str = "") -> str:
    """A template rendering ``expression`` when the payload is JSON, else ``otherwise``."""
    return (f"{{% if value_json is defined %}}{{{{ {expression} }}}}"
            f"{{% else %}}{otherwise}{{% endif %}}") if otherwise else (
        f"{{% if value_json is defined %}}{{{{ {expression} }}}}{{% endif %}}")
