"""The device type model names the simulators' ``--model`` accepts, and their short aliases.

Layer: ``bridge.sim`` (command line helpers). Both ``ocfaj simulate ocf`` and ``ocfaj simulate
alljoyn`` offer every device type model of the catalogue by its id (``smartlock``); the
aliases (``lock``, ``plug``) are what users tend to type and keep working on both sides.
"""

from __future__ import annotations

from bridge.model.types import Catalogue

#: Short names users type for device type models whose id differs.
ALIASES = {"lock": "smartlock", "plug": "smartplug"}


def model_id(name: str) -> str:
    """The device type model id ``name`` stands for (an alias resolved, else ``name``)."""
    return ALIASES.get(name, name)


def device_model_names(catalogue: Catalogue) -> str:
    """``electricmeter, light, ..., smartlock (or lock), ...``: every device type model."""
    aliases = {target: alias for alias, target in ALIASES.items()}
    return ", ".join(f"{d.id} (or {aliases[d.id]})" if d.id in aliases else d.id
                     for d in sorted(catalogue.device_types, key=lambda d: d.id))
