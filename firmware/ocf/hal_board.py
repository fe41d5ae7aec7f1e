"""Board implementation behind ``hal``: machine.Pin/PWM/ADC and network.WLAN (rp2, esp32).

Layer: edge (board side). Imported only when the port has a ``network`` module. Kept free of
OCF knowledge; see ``hal`` for the contract of each name.
"""

import sys
import time

import machine
import network

NAME = sys.platform  # "rp2" or "esp32"

ticks_ms = time.ticks_ms
ticks_diff = time.ticks_diff
ticks_add = time.ticks_add
sleep_ms = time.sleep_ms

_wlan = None


def random_bytes(n):
    import os
    return os.urandom(n)


class Output:
    def __init__(self, pin, invert=False):
        self._pin = machine.Pin(pin, machine.Pin.OUT)
        self._invert = 1 if invert else 0
        self._v = 0
        self._pin.value(self._invert)

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        self._pin.value(self._v ^ self._invert)
        return self._v


class Input:
    def __init__(self, pin, pull=None, invert=False):
        mode = {"up": machine.Pin.PULL_UP, "down": machine.Pin.PULL_DOWN}.get(pull)
        self._pin = machine.Pin(pin, machine.Pin.IN, mode)
        self._invert = 1 if invert else 0

    def value(self):
        return self._pin.value() ^ self._invert


class Pwm:
    def __init__(self, pin, freq=1000):
        self._pwm = machine.PWM(machine.Pin(pin))
        self._pwm.freq(freq)
        self._pwm.duty_u16(0)

    def level(self, percent):
        self._pwm.duty_u16(percent * 65535 // 100)


class Analog:
    def __init__(self, pin):
        self._adc = machine.ADC(machine.Pin(pin))
        if hasattr(machine.ADC, "ATTN_11DB"):
            # ESP32: full 0..3.3 V range instead of the default 0..1.1 V.
            self._adc.atten(machine.ADC.ATTN_11DB)

    def read_u16(self):
        return self._adc.read_u16()


def internal_temperature():
    if NAME == "rp2":
        # RP2040 datasheet 4.9.5: T = 27 - (V_sense - 0.706) / 0.001721, ADC channel 4.
        volts = machine.ADC(4).read_u16() * 3.3 / 65535
        return 27 - (volts - 0.706) / 0.001721
    import esp32
    if hasattr(esp32, "mcu_temperature"):
        return esp32.mcu_temperature()
    return (esp32.raw_temperature() - 32) / 1.8


def network_up(wifi):
    """Connect the station interface; wait up to ``wifi["timeout_ms"]`` (default 20 s)."""
    global _wlan
    if not wifi:
        return False
    if _wlan is None:
        _wlan = network.WLAN(network.STA_IF)
    _wlan.active(True)
    if _wlan.isconnected():
        return True
    if wifi.get("hostname"):
        try:
            network.hostname(wifi["hostname"])
        except (AttributeError, ValueError, OSError):
            pass
    _wlan.connect(wifi["ssid"], wifi.get("password", ""))
    deadline = ticks_add(ticks_ms(), wifi.get("timeout_ms", 20000))
    while not _wlan.isconnected() and ticks_diff(deadline, ticks_ms()) > 0:
        sleep_ms(200)
    return _wlan.isconnected()


def network_ok():
    return _wlan is not None and _wlan.isconnected()


def local_address(family, peer):
    if _wlan is None:
        return None
    import socket
    if family == socket.AF_INET:
        return _wlan.ifconfig()[0]
    try:
        # Ports with IPv6 (ipconfig API, MicroPython 1.23+): first global or link-local one.
        addrs = _wlan.ipconfig("addr6")
    except (AttributeError, ValueError, OSError):
        return None
    return addrs[0][0] if addrs else None


def join_group(sock, family, group, ifname):
    import socket
    if family != socket.AF_INET:
        raise OSError("IPv6 multicast join is not available on this port")
    # lwIP's ip_mreq: group address then the interface's own address.
    mreq = _aton(group) + _aton(_wlan.ifconfig()[0])
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)


def _aton(text):
    return bytes(int(x) for x in text.split("."))


def log(*parts):
    print(*parts)
