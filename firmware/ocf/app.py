"""Application resources built from the board's configuration file.

Layer: composition of ``hal`` objects and the resource types (OCF IoTDataModels), one module
each: ``switch`` (a relay or LED on an output pin), ``brightness`` (PWM), ``temperature``
(the internal sensor or an ADC), ``sensor`` (contact/motion on an input pin). A type's module
is imported only when the configuration has such a resource: on a board each class costs
some hundred bytes of heap even when its code is in flash.
"""

from . import hal


def _adc_celsius(adc, scale, offset):
    return lambda: adc.read_u16() * scale + offset


def build(entry):
    """One resource from a configuration entry (already validated by ``config``)."""
    kind = entry["kind"]
    href = entry["href"]
    name = entry.get("name")
    if kind == "switch":
        from .switch import BinarySwitch

        return BinarySwitch(href, hal.Output(entry["pin"], entry.get("invert", False)), name)
    if kind == "brightness":
        from .brightness import Brightness

        return Brightness(href, hal.Pwm(entry["pin"], entry.get("freq", 1000)), name)
    if kind == "temperature":
        from .temperature import Temperature

        if entry.get("source", "internal") == "internal":
            read = hal.internal_temperature
        else:
            read = _adc_celsius(hal.Analog(entry["pin"]), entry.get("scale", 0.01),
                                entry.get("offset", 0.0))
        return Temperature(href, read, entry.get("period_ms", 5000), entry.get("delta", 0.5),
                           name)
    from .sensor import BinarySensor

    inp = hal.Input(entry["pin"], entry.get("pull"), entry.get("invert", False))
    return BinarySensor(href, "oic.r.sensor." + kind, inp, name)
