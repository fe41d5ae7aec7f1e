"""The web page of the gateway: see and control every bridged device from a browser.

Layer: ``bridge.web``, an adapter like the protocol sides: it imports ``core``, ``model`` and
``naming`` and is the only importer of the HTTP library (h11, the optional extra ``web``).
The daemon builds it only when ``[web] enabled`` is true, so a gateway without the page never
imports h11. Commands from the page go through :meth:`bridge.core.registry.Registry.command`
like those of every other side; the facts it shows come from the daemon's one description of
the devices (the same one ``ocfaj devices`` prints).
"""
