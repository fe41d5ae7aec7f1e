"""Rules for text that crosses the gateway: what every side can carry.

Layer: ``bridge.core`` (pure). Text arrives from JSON on MQTT (whose ``\\ud800`` escapes decode
to lone surrogates, and ``\\u0000`` to NUL), from CBOR on CoAP (which may hold NUL), from D-Bus,
and from the identity book on disk. What leaves must fit every target:

- UTF-8 encodable: MQTT topics and payloads, CBOR text strings and D-Bus strings are all UTF-8,
  and a lone surrogate (U+D800..U+DFFF) has no UTF-8 form.
- No NUL where the target forbids it: D-Bus strings cannot hold U+0000 (a message with one is
  invalid and the bus drops the connection that sent it), nor can MQTT topics.
- Bounded: :data:`MAX_TEXT_BYTES` for a string value in a command.

Each side checks what enters it with :func:`text_problem` / :func:`check_texts` and answers in
its own form (MQTT response with ``error``, CoAP 4.00, D-Bus ``InvalidArgs``); the identity
book drops a stored value that fails them instead of handing it to a side.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bridge.core.errors import InvalidText
from bridge.model.types import Value

#: Longest friendly name (characters): one MQTT topic level a user types and reads. ``rename``
#: enforces it and names the gateway derives from device names never exceed it.
MAX_NAME_LENGTH = 100

#: Longest descriptive text of a device (name, manufacturer, model...) that crosses: a longer
#: one (a device announcing a 1 MiB name) is cut, so that it cannot swell every document that
#: lists devices on every side.
MAX_INFO_LENGTH = 255

#: Longest string value (UTF-8 bytes) a command may carry; a D-Bus string allows far more, but
#: no device property needs it and every copy of a state travels to every side.
MAX_TEXT_BYTES = 65535

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str, *, nul: bool = False, max_bytes: int = MAX_TEXT_BYTES) -> str | None:
    """Why ``text`` cannot cross, or None when it can (``nul``: the target carries NUL)."""
    bad = _SURROGATE.search(text)
    if bad is not None:
        return (f"is not valid Unicode text: a lone surrogate U+{ord(bad.group()):04X} at "
                f"position {bad.start()} has no UTF-8 form")
    if not nul and "\x00" in text:
        return f"contains NUL (U+0000) at position {text.index(chr(0))}, which D-Bus cannot carry"
    size = len(text.encode())
    if size > max_bytes:
        return f"is {size} bytes of UTF-8, more than the {max_bytes} allowed"
    return None


def check_texts(name: str, value: Value, *, nul: bool = False) -> None:
    """Raise :class:`InvalidText` naming ``name`` when any string in ``value`` (keys of objects
    included, at any depth) cannot cross."""
    if isinstance(value, str):
        problem = text_problem(value, nul=nul)
        if problem is not None:
            raise InvalidText(f"{name} {problem}", prop=name)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_texts(name, key, nul=nul)
            check_texts(name, item, nul=nul)
    elif isinstance(value, list | tuple):
        for item in value:
            check_texts(name, item, nul=nul)


def cut(text: str, max_length: int) -> str:
    """``text`` cut to ``max_length`` characters, with an ellipsis when it was longer."""
    return text if len(text) <= max_length else text[:max_length - 1] + "\u2026"


def encodable(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, for output that must not fail
    (an error message or an echoed field that quotes what a client sent)."""
    return _SURROGATE.sub("\ufffd", text)
