"""Friendly names: the stable, unique topic level of each device.

Layer: ``bridge.mqtt`` (pure). A device's name comes from ``[mqtt.names]`` when the
configuration names it (by Thing id, ``piid``, ``di`` or AllJoyn DeviceId), otherwise from the
identity book, which assigns a slug of the device's own name once and persists it; a ``rename``
request changes the book. Names never come from random ids, so topics and Home Assistant
entities survive restarts and devices that come back with a fresh ``di``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from bridge.core.identity import IdentityBook
from bridge.core.text import MAX_NAME_LENGTH, text_problem
from bridge.core.thing import Thing

log = logging.getLogger("ocfaj.mqtt")

#: first topic level of the gateway's own topics, so no device may take it.
RESERVED = "bridge"
_SLUG = re.compile(r"[^a-z0-9]+")
MAX_LENGTH = MAX_NAME_LENGTH


class RenameRefused(ValueError):
    """A rename request that cannot be carried out; the message says why."""


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a friendly name, or None when it can.

    A name is exactly one topic level (MQTT 5.0 section 4.7: no ``/``, no wildcards, no NUL),
    so ``<base>/<name>/set`` parses one way only, and UTF-8 text (section 1.5.4), so it can
    be sent at all.
    """
    if not isinstance(name, str) or not name.strip():
        return "a friendly name must be a non-empty string"
    problem = text_problem(name)
    if problem is not None:
        return f"{name!r} {problem}"
    if len(name) > MAX_LENGTH:
        return f"a friendly name has at most {MAX_LENGTH} characters"
    if any(ch in name for ch in "/+#\x00"):
        return f"{name!r}: a friendly name must not contain '/', '+', '#' or NUL"
    if name == RESERVED:
        return f"{name!r} is reserved for the gateway's own topics"
    return None


class FriendlyNames:
    """Names of the devices the MQTT side exposes, both ways."""

    def __init__(self, book: IdentityBook, overrides: Mapping[str, str]) -> None:
        self._book = book
        self._overrides = dict(overrides)
        self._by_id: dict[str, str] = {}
        self._by_name: dict[str, str] = {}

    def override_for(self, thing: Thing) -> str | None:
        ident = thing.identity
        for key in (thing.id, ident.piid, ident.di, ident.device_id):
            if key and key in self._overrides:
                return self._overrides[key]
        return None

    def assign(self, thing: Thing) -> str:
        """The name of ``thing``, assigned on first sight and then kept."""
        current = self._by_id.get(thing.id)
        if current is not None:
            return current
        name = self._configured(thing) or self._book.friendly_name(thing.id, thing.info.name)
        if name_problem(name) and name != RESERVED:
            # Only an old book can hold such a name (renames are checked): a fresh one.
            log.warning("%s (%s): the stored friendly name %r cannot be used (%s); assigning "
                        "a new one", thing.info.name, thing.id, name, name_problem(name))
            self._book.forget_friendly_name(thing.id)
            name = self._book.friendly_name(thing.id, thing.info.name)
        if self._by_name.get(name, thing.id) != thing.id or name_problem(name):
            # A name the book handed out can only clash with a configured one (the book keeps
            # its own names unique): keep both devices reachable under distinct names.
            base, n = name, 2
            while f"{base}_{n}" in self._by_name:
                n += 1
            log.warning("%s (%s): friendly name %r is taken or invalid, using %r", thing.info.name,
                        thing.id, name, f"{base}_{n}")
            name = f"{base}_{n}"
        self._by_id[thing.id] = name
        self._by_name[name] = thing.id
        return name

    def _configured(self, thing: Thing) -> str | None:
        name = self.override_for(thing)
        if name is None:
            return None
        problem = name_problem(name)
        if problem:
            log.warning("%s (%s): ignoring [mqtt.names] entry: %s", thing.info.name, thing.id,
                        problem)
            return None
        return name

    def name_of(self, thing_id: str) -> str | None:
        return self._by_id.get(thing_id)

    def thing_id(self, name_or_id: str) -> str | None:
        """The Thing id behind a friendly name (or a Thing id the side knows)."""
        if name_or_id in self._by_name:
            return self._by_name[name_or_id]
        return name_or_id if name_or_id in self._by_id else None

    def forget(self, thing_id: str) -> None:
        name = self._by_id.pop(thing_id, None)
        if name is not None:
            self._by_name.pop(name, None)

    def rename(self, thing: Thing, new: str) -> str:
        """Give ``thing`` the name ``new`` (persisted in the book); returns the old name."""
        problem = name_problem(new)
        if problem:
            raise RenameRefused(problem)
        if self.override_for(thing) is not None:
            raise RenameRefused(f"the name of {thing.id} is set by [mqtt.names] in the "
                                "configuration; change it there")
        owner = self._by_name.get(new)
        if owner is not None and owner != thing.id:
            raise RenameRefused(f"{new!r} is already the name of {owner}")
        old = self.assign(thing)
        self._book.set_friendly_name(thing.id, new)
        self._by_name.pop(old, None)
        self._by_id[thing.id] = new
        self._by_name[new] = thing.id
        return old


def display_name(thing: Thing, friendly: str) -> str:
    """The name people read for ``thing`` (Home Assistant's device name).

    The device's own name (OCF ``n``, AllJoyn AppName), unless a person chose the friendly name
    (``[mqtt.names]`` or a ``rename``): then that one. A friendly name the identity book made
    from the device's name (its slug, perhaps with a ``_<n>`` suffix) is no choice.
    """
    automatic = _SLUG.sub("_", thing.info.name.lower()[:MAX_LENGTH]).strip("_") or "device"
    if re.fullmatch(re.escape(automatic) + r"(_\d+)?", friendly):
        return thing.info.name
    return friendly
