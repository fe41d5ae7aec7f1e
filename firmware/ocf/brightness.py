"""oic.r.light.brightness: a PWM duty cycle.

Layer: pure OCF on top of a ``hal.Pwm`` handed in by ``app.build``; loaded only when the
configuration has a brightness resource (see ``app``).
"""

from .resource import IF_A, IF_BASELINE, OcfError, Resource, check_update


class Brightness(Resource):
    """oic.r.light.brightness {"brightness": 0..100} as a PWM duty cycle."""

    def __init__(self, href, pwm, name=None):
        Resource.__init__(self, href, ["oic.r.light.brightness"], [IF_A, IF_BASELINE], name)
        self.pwm = pwm
        self.brightness = 0
        pwm.level(0)

    def props(self):
        return {"brightness": self.brightness}

    def update(self, props):
        check_update(props, ("brightness",))
        value = props["brightness"]
        if not isinstance(value, int) or value is True or value is False \
                or not 0 <= value <= 100:
            raise OcfError(128, "brightness must be an integer 0..100")
        if value != self.brightness:
            self.brightness = value
            self.pwm.level(value)
            self.changed()
