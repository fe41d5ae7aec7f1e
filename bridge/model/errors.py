"""The error a broken model file raises.

Layer: ``bridge.model``. Pure: no I/O, no import of another part of ``bridge``. The message names
the file, the key path inside it and what was expected there, so that whoever edits ``models/``
can fix the file without reading the loader.
"""

from __future__ import annotations


class ModelError(ValueError):
    """A model file (or the set of them) is invalid.

    ``path`` is the key path inside the file (``alljoyn.interfaces[0].properties.IsOn.signature``;
    list indexes count from 0), or ``""`` when the whole file or catalogue is concerned.
    """

    def __init__(self, file: str, path: str, expected: str, found: str | None = None) -> None:
        self.file = file
        self.path = path
        self.expected = expected
        self.found = found
        where = f"{file}: {path}" if path else file
        message = f"{where}: expected {expected}"
        if found is not None:
            message += f", found {found}"
        super().__init__(message)
