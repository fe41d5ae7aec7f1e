"""oic.r.switch.binary: a relay or LED on an output pin.

Layer: pure OCF on top of a ``hal.Output`` handed in by ``app.build``; loaded only when the
configuration has a switch (see ``app``).
"""

from .resource import IF_A, IF_BASELINE, OcfError, Resource, check_update


class BinarySwitch(Resource):
    """oic.r.switch.binary {"value": bool} driving a relay or LED."""

    def __init__(self, href, output, name=None):
        Resource.__init__(self, href, ["oic.r.switch.binary"], [IF_A, IF_BASELINE], name)
        self.output = output

    def props(self):
        return {"value": bool(self.output.value())}

    def update(self, props):
        check_update(props, ("value",))
        value = props["value"]
        if value is not True and value is not False:
            raise OcfError(128, "value must be a boolean")
        if bool(self.output.value()) != value:
            self.output.value(1 if value else 0)
            self.changed()
