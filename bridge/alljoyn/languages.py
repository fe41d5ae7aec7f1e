"""Language tags of About data: which of a producer's languages answers a request.

Layer: ``bridge.alljoyn``, pure (no bus I/O). AllJoyn About names languages with IETF BCP 47
tags (RFC 5646). Tags compare case-insensitively (RFC 5646 section 2.1.1: ``EN`` and ``en``
are the same tag), and a request for a more specific tag than a producer offers falls back
to the less specific one, as RFC 4647 section 3.4 "Lookup" does: ``en-US`` is served in
``en``, ``zh-Hant-TW`` in ``zh-Hant`` or ``zh``. The empty tag asks for the default language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# RFC 5646 section 2.1: subtags of 1 to 8 letters or digits joined by "-"; the first one
# (the primary language, or a private-use "x") has letters only.
_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


def well_formed(tag: str) -> bool:
    """Whether ``tag`` has the syntax of a language tag (the registry is not consulted)."""
    return bool(_TAG.match(tag))


def lookup(requested: str, supported: Iterable[str], default: str) -> str | None:
    """The tag of ``supported`` that serves ``requested``, spelled as the producer spells it.

    ``""`` gives ``default``; a malformed tag or one with no match gives ``None`` (the
    producer answers ``org.alljoyn.Error.LanguageNotSupported``).
    """
    if requested == "":
        return default
    if not well_formed(requested):
        return None
    offered = {tag.lower(): tag for tag in supported}
    subtags = requested.lower().split("-")
    while subtags:
        found = offered.get("-".join(subtags))
        if found is not None:
            return found
        subtags.pop()
        # RFC 4647 3.4: a single-character subtag (an extension or "x" singleton) left at
        # the end is removed together with the one that follows it.
        if len(subtags) > 1 and len(subtags[-1]) == 1:
            subtags.pop()
    return None
