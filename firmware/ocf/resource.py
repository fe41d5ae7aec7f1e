"""OCF resources as the server sees them: the base class and the core /oic/d and /oic/p.

Layer: pure. A resource knows its href, resource types, interfaces and properties; it never
sees CoAP. The server calls ``props()`` for a GET, ``update(props)`` for a POST and ``poll(now)``
from its loop; a resource whose state changed on its own (a pin edge, a new sensor sample)
calls ``changed()`` and the server notifies its observers. ``check_update`` is the refusal
every writable type shares: a POST body that is not a map of properties it takes.

/oic/d and /oic/p never change while the device runs: they are plain ``Resource`` objects
with fixed properties (``device``, ``platform``), not classes of their own, since every
class costs some hundred bytes of heap on a board even when its code is in flash.
"""

IF_BASELINE = "oic.if.baseline"
IF_A = "oic.if.a"
IF_S = "oic.if.s"
IF_R = "oic.if.r"
IF_RW = "oic.if.rw"
# Interfaces through which a POST may change properties.
WRITABLE_IFS = (IF_A, IF_RW, IF_BASELINE)


class OcfError(Exception):
    """A request the resource refuses; ``code`` is the CoAP response code byte.

    ``super().__init__``, not ``Exception.__init__(self, ...)``: MicroPython's built-in
    exception types have no ``__init__`` attribute to call that way.
    """

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def check_update(props, allowed):
    """Refuse a POST body that is not a map of some of the ``allowed`` properties (4.00)."""
    if not isinstance(props, dict):
        raise OcfError(128, "payload must be a map")
    for key in props:
        if key not in allowed:
            raise OcfError(128, "property " + str(key) + " is read-only or unknown")
    if not props:
        raise OcfError(128, "nothing to update")


class Resource:
    """Base class. Subclasses override ``props`` (and ``update``); a resource whose
    properties never change passes them as ``fixed`` instead and is not observable."""

    def __init__(self, href, rt, ifs, name=None, fixed=None):
        self.href = href
        self.rt = rt
        self.ifs = ifs
        self.name = name
        self.fixed = fixed
        self.observable = fixed is None
        # Set by the server: called with the resource after its state changed.
        self.on_change = None

    def bm(self):
        """Link policy bitmap: 1 discoverable, 2 observable."""
        return 3 if self.observable else 1

    def props(self):
        # A copy: the caller adds to it (baseline, OIC 1.1 shapes).
        return {} if self.fixed is None else dict(self.fixed)

    def representation(self, iface):
        rep = self.props()
        if iface == IF_BASELINE:
            rep["rt"] = self.rt
            rep["if"] = self.ifs
            if self.name:
                rep["n"] = self.name
        return rep

    def update(self, props):
        """Apply a POST body (a dict). Raise OcfError(4.xx) to refuse it; return nothing."""
        raise OcfError(133, "resource is read-only")

    def poll(self, now):
        """Sample hardware; called often from the loop. Call ``changed()`` when state moved."""

    def changed(self):
        if self.on_change is not None:
            self.on_change(self)


def device(identity, name, device_type):
    """/oic/d (the server drops ``piid`` for OIC 1.1 clients)."""
    return Resource("/oic/d", ["oic.wk.d", device_type], [IF_R, IF_BASELINE], fixed={
        "di": identity["di"], "piid": identity["piid"], "n": name, "icv": "ocf.2.0.5",
        "dmv": "ocf.res.1.3.0,ocf.sh.1.3.0"})


def platform(identity, info):
    """/oic/p: platform id plus manufacturer details from the configuration."""
    rep = {"pi": identity["pi"], "mnmn": info.get("manufacturer", "ocfaj")[:16]}
    for key, prop in (("model", "mnmo"), ("hardware", "mnhw"), ("firmware", "mnfv"),
                      ("support_url", "mnsl"), ("date", "mndt")):
        if info.get(key):
            rep[prop] = info[key]
    return Resource("/oic/p", ["oic.wk.p"], [IF_R, IF_BASELINE], fixed=rep)
