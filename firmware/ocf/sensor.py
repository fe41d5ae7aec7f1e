"""oic.r.sensor.contact and oic.r.sensor.motion: a binary level from an input pin.

Layer: pure OCF on top of a ``hal.Input`` handed in by ``app.build``; loaded only when the
configuration has a contact or motion sensor (see ``app``).
"""

from .resource import IF_BASELINE, IF_S, Resource


class BinarySensor(Resource):
    """oic.r.sensor.contact / oic.r.sensor.motion {"value": bool} from an input pin.

    A level counts once it read the same on two consecutive polls (simple debounce).
    """

    def __init__(self, href, rt, inp, name=None):
        Resource.__init__(self, href, [rt], [IF_S, IF_BASELINE], name)
        self.inp = inp
        self.value = bool(inp.value())
        self._last = self.value

    def props(self):
        return {"value": self.value}

    def poll(self, now):
        level = bool(self.inp.value())
        if level == self._last and level != self.value:
            self.value = level
            self.changed()
        self._last = level
