"""Which capability and interface view a device's signal belongs to, built once per Thing.

Layer: ``bridge.alljoyn``, pure (no bus I/O). The About consumer receives every
PropertiesChanged and member signal of a device it follows; finding the capability of the
signal's object path and interface, and the view that turns its values into state, used to
mean building the views of every capability again for each signal. :class:`SignalRoutes`
builds them once, from the capabilities the Thing has, and builds them again when the Thing's
capabilities are replaced: the registry replaces the whole ``capabilities`` mapping when a
device is read again (a new Announce, a changed introspection, a reconnection), so a mapping
that is not the one the routes were built from means the routes are stale.
"""

from __future__ import annotations

from collections.abc import Mapping

from bridge.alljoyn.things import consumer_views
from bridge.alljoyn.views import InterfaceView
from bridge.core.thing import Capability, Thing

Route = tuple[Capability, InterfaceView]


class SignalRoutes:
    """(object path, interface name) -> (capability, view) of one device's Thing."""

    __slots__ = ("_built_from", "_routes", "_views")

    def __init__(self) -> None:
        self._built_from: Mapping[str, Capability] | None = None
        self._routes: dict[tuple[str, str], Route] = {}
        self._views: dict[str, list[InterfaceView]] = {}

    def find(self, thing: Thing, path: str, interface: str) -> Route | None:
        """The capability on ``path`` that has ``interface``, with its view (None: none)."""
        if thing.capabilities is not self._built_from:
            self._build(thing.capabilities)
        return self._routes.get((path, interface))

    def views(self, thing: Thing, cap: Capability) -> list[InterfaceView]:
        """The views of ``cap`` (a capability of ``thing``), as the routes hold them."""
        if thing.capabilities is not self._built_from:
            self._build(thing.capabilities)
        if thing.capabilities.get(cap.key) is not cap:
            return consumer_views(cap)  # a capability the Thing no longer holds
        return self._views[cap.key]

    def _build(self, capabilities: Mapping[str, Capability]) -> None:
        routes: dict[tuple[str, str], Route] = {}
        views: dict[str, list[InterfaceView]] = {}
        for key, cap in capabilities.items():
            path = str(cap.origin_meta.get("path", ""))
            views[key] = consumer_views(cap)
            for view in views[key]:
                # the first capability of an object that has the interface takes its signals
                routes.setdefault((path, view.decl.name), (cap, view))
        self._routes = routes
        self._views = views
        self._built_from = capabilities
