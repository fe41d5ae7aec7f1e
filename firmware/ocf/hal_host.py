"""Host shims behind ``hal``: simulated pins and sensors, the host's own network stack.

Layer: edge (host side). Used under CPython on Linux (tests, software devices) and by
MicroPython ports without a ``network`` module. Pins live in the module dict ``PINS``: inputs
are set by a test (``set_level``), outputs report every write to the callbacks in
``LISTENERS`` so a controller (``firmware/host.py``) can print them. Importing this module
needs no socket, so the codec tests under the WebAssembly port can load the whole stack.
"""

import sys
import time

NAME = "host"

# Simulated pin levels, keyed by the pin's text name ("5", "LED"). Inputs default to 0.
PINS = {}
# Called as fn(kind, pin, value) on every output, PWM or sensor change.
LISTENERS = []
# Simulated internal temperature sensor, degrees Celsius.
SENSORS = {"temperature": 21.5}

if hasattr(time, "ticks_ms"):
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
    sleep_ms = time.sleep_ms
else:
    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def ticks_add(t, ms):
        return t + ms

    def sleep_ms(ms):
        time.sleep(ms / 1000)


def random_bytes(n):
    try:
        import os
        return os.urandom(n)
    except (ImportError, AttributeError, NotImplementedError):
        import random
        return bytes(random.getrandbits(8) for _ in range(n))


def _emit(kind, pin, value):
    for fn in LISTENERS:
        fn(kind, pin, value)


def set_level(pin, value):
    """Drive a simulated input pin or ADC channel (what a test or the control stream does)."""
    PINS[str(pin)] = value


class Output:
    def __init__(self, pin, invert=False):
        self.pin = str(pin)
        self.invert = invert
        self._v = 0
        PINS[self.pin] = 1 if invert else 0

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        PINS[self.pin] = self._v ^ (1 if self.invert else 0)
        _emit("pin", self.pin, PINS[self.pin])
        return self._v


class Input:
    def __init__(self, pin, pull=None, invert=False):
        self.pin = str(pin)
        self.invert = invert
        # A pull-up reads 1 while nothing drives the pin.
        PINS.setdefault(self.pin, 1 if pull == "up" else 0)

    def value(self):
        level = 1 if PINS.get(self.pin, 0) else 0
        return level ^ 1 if self.invert else level


class Pwm:
    def __init__(self, pin, freq=1000):
        self.pin = str(pin)
        self.freq = freq
        PINS[self.pin] = 0

    def level(self, percent):
        duty = percent * 65535 // 100
        PINS[self.pin] = duty
        _emit("pwm", self.pin, duty)


class Analog:
    def __init__(self, pin):
        self.pin = str(pin)
        PINS.setdefault(self.pin, 0)

    def read_u16(self):
        return int(PINS.get(self.pin, 0)) & 0xFFFF


def internal_temperature():
    return SENSORS["temperature"]


def network_up(wifi):
    # The host's network is the operating system's; nothing to join.
    return True


def network_ok():
    return True


def local_address(family, peer):
    """Ask the kernel which source address it would use towards ``peer`` (no packet is sent).

    None where that cannot be asked: MicroPython's unix port has no ``getsockname`` (set
    ``network.address4``/``address6`` there to advertise a real address).
    """
    import socket
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.connect(peer)
        host = s.getsockname()[0]
    except (OSError, AttributeError):
        return None
    finally:
        s.close()
    i = host.find("%")
    return host if i < 0 else host[:i]


def join_group(sock, family, group, ifname):
    import socket
    import struct
    index = socket.if_nametoindex(ifname) if ifname else 0
    if family == socket.AF_INET:
        # struct ip_mreqn: group, local address (any), interface index.
        mreq = socket.inet_aton(group) + bytes(4) + struct.pack("@i", index)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    else:
        mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)


def log(*parts):
    print(*parts, file=sys.stderr)
