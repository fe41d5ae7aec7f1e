"""OCF resources as the server sees them: the base class and the core /oic/d and /oic/p.

Layer: pure. A resource knows its href, resource types, interfaces and properties; it never
sees CoAP. The server calls ``props()`` for a GET, ``update(props)`` for a POST and ``poll(now)``
from its loop; a resource whose state changed on its own (a pin edge, a new sensor sample)
calls ``changed()`` and the server notifies its observers.
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


class Resource:
    """Base class. Subclasses set ``rt``/``ifs`` and override ``props`` (and ``update``)."""

    observable = True

    def __init__(self, href, rt, ifs, name=None):
        self.href = href
        self.rt = rt
        self.ifs = ifs
        self.name = name
        # Set by the server: called with the resource after its state changed.
        self.on_change = None

    def bm(self):
        """Link policy bitmap: 1 discoverable, 2 observable."""
        return 3 if self.observable else 1

    def props(self):
        return {}

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


class Device(Resource):
    """/oic/d. ``oic11`` in representation() drops piid for OIC 1.1 clients."""

    observable = False

    def __init__(self, identity, name, device_type):
        Resource.__init__(self, "/oic/d", ["oic.wk.d", device_type], [IF_R, IF_BASELINE])
        self.identity = identity
        self.device_name = name

    def props(self):
        return {"di": self.identity["di"], "piid": self.identity["piid"],
                "n": self.device_name, "icv": "ocf.2.0.5",
                "dmv": "ocf.res.1.3.0,ocf.sh.1.3.0"}


class Platform(Resource):
    """/oic/p: platform id plus manufacturer details from the configuration."""

    observable = False

    def __init__(self, identity, info):
        Resource.__init__(self, "/oic/p", ["oic.wk.p"], [IF_R, IF_BASELINE])
        self.identity = identity
        self.info = info

    def props(self):
        rep = {"pi": self.identity["pi"], "mnmn": self.info.get("manufacturer", "ocfaj")[:16]}
        for key, prop in (("model", "mnmo"), ("hardware", "mnhw"), ("firmware", "mnfv"),
                          ("support_url", "mnsl"), ("date", "mndt")):
            if self.info.get(key):
                rep[prop] = self.info[key]
        return rep
