"""Application resources built from the board's configuration file.

Layer: pure OCF on top of ``hal`` objects handed in by ``build``. Each class is one OCF
resource type (OCF IoTDataModels): a binary switch on an output pin, brightness on PWM,
temperature from the internal sensor or an ADC, contact/motion on an input pin.
"""

from . import hal
from .resource import IF_A, IF_BASELINE, IF_S, OcfError, Resource


def _only(props, allowed):
    if not isinstance(props, dict):
        raise OcfError(128, "payload must be a map")
    for key in props:
        if key not in allowed:
            raise OcfError(128, "property " + str(key) + " is read-only or unknown")
    if not props:
        raise OcfError(128, "nothing to update")


class BinarySwitch(Resource):
    """oic.r.switch.binary {"value": bool} driving a relay or LED."""

    def __init__(self, href, output, name=None):
        Resource.__init__(self, href, ["oic.r.switch.binary"], [IF_A, IF_BASELINE], name)
        self.output = output

    def props(self):
        return {"value": bool(self.output.value())}

    def update(self, props):
        _only(props, ("value",))
        value = props["value"]
        if value is not True and value is not False:
            raise OcfError(128, "value must be a boolean")
        if bool(self.output.value()) != value:
            self.output.value(1 if value else 0)
            self.changed()


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
        _only(props, ("brightness",))
        value = props["brightness"]
        if not isinstance(value, int) or value is True or value is False \
                or not 0 <= value <= 100:
            raise OcfError(128, "brightness must be an integer 0..100")
        if value != self.brightness:
            self.brightness = value
            self.pwm.level(value)
            self.changed()


class Temperature(Resource):
    """oic.r.temperature {"temperature", "units": "C", "range"}, sampled every period.

    ``read`` returns degrees Celsius. Observers hear of a sample that moved at least
    ``delta`` from the last reported one, so sensor noise does not flood the network.
    """

    def __init__(self, href, read, period_ms=5000, delta=0.5, name=None):
        Resource.__init__(self, href, ["oic.r.temperature"], [IF_S, IF_BASELINE], name)
        self.read = read
        self.period_ms = period_ms
        self.delta = delta
        self.value = round(read(), 2)
        self.next_sample = None

    def props(self):
        return {"temperature": self.value, "units": "C", "range": [-40.0, 125.0]}

    def poll(self, now):
        if self.next_sample is not None and hal.ticks_diff(self.next_sample, now) > 0:
            return
        self.next_sample = hal.ticks_add(now, self.period_ms)
        sample = round(self.read(), 2)
        if abs(sample - self.value) >= self.delta:
            self.value = sample
            self.changed()


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


def _adc_celsius(adc, scale, offset):
    return lambda: adc.read_u16() * scale + offset


def build(entry):
    """One resource from a configuration entry (already validated by ``config``)."""
    kind = entry["kind"]
    href = entry["href"]
    name = entry.get("name")
    if kind == "switch":
        return BinarySwitch(href, hal.Output(entry["pin"], entry.get("invert", False)), name)
    if kind == "brightness":
        return Brightness(href, hal.Pwm(entry["pin"], entry.get("freq", 1000)), name)
    if kind == "temperature":
        if entry.get("source", "internal") == "internal":
            read = hal.internal_temperature
        else:
            read = _adc_celsius(hal.Analog(entry["pin"]), entry.get("scale", 0.01),
                                entry.get("offset", 0.0))
        return Temperature(href, read, entry.get("period_ms", 5000), entry.get("delta", 0.5),
                           name)
    inp = hal.Input(entry["pin"], entry.get("pull"), entry.get("invert", False))
    return BinarySensor(href, "oic.r.sensor." + kind, inp, name)
