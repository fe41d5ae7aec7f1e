"""oic.r.temperature: the board's internal sensor or an ADC, sampled every period.

Layer: pure OCF on top of a reading function handed in by ``app.build``; loaded only when
the configuration has a temperature resource (see ``app``).
"""

from . import hal
from .resource import IF_BASELINE, IF_S, Resource


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
