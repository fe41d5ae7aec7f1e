"""The hardware layer: the only door from the OCF code to pins, sensors, clocks and the network.

Layer: edge. Everything else in ``ocf`` is written against the names below and never imports
``machine`` or ``network`` itself. On a board (a MicroPython port with a ``network`` module)
they come from ``hal_board``; anywhere else (CPython on Linux, the MicroPython unix and
WebAssembly ports) from ``hal_host``, whose pins are simulated and can be driven by a test.

Contract of the names re-exported here:
- ``ticks_ms()``, ``ticks_diff(a, b)``, ``ticks_add(t, ms)``, ``sleep_ms(ms)``: a wrapping
  millisecond clock; compare times only through ``ticks_diff``.
- ``random_bytes(n)``: n unpredictable bytes (identities, CoAP message ids).
- ``Output(pin, invert)``: ``.value(v)`` drives a relay/LED, ``.value()`` reads it back.
- ``Input(pin, pull, invert)``: ``.value()`` is the logical level (0/1) after inversion.
- ``Pwm(pin, freq)``: ``.level(percent)`` sets the duty cycle 0..100.
- ``Analog(pin)``: ``.read_u16()`` 0..65535.
- ``internal_temperature()``: the board's own sensor in degrees Celsius.
- ``network_up(wifi)``: bring the network up (Wi-Fi dict from the configuration, or None);
  returns True when connected. ``network_ok()``: still connected.
- ``local_address(family, peer)``: this device's address as ``peer`` sees it (text), or None.
- ``join_group(sock, family, group, ifname)``: join a multicast group on the interface.
- ``log(*parts)``: one line for the operator.
"""

try:
    import network  # noqa: F401 -- only probing whether this is a board port

    from . import hal_board as _impl
except ImportError:
    from . import hal_host as _impl

NAME = _impl.NAME
ticks_ms = _impl.ticks_ms
ticks_diff = _impl.ticks_diff
ticks_add = _impl.ticks_add
sleep_ms = _impl.sleep_ms
random_bytes = _impl.random_bytes
Output = _impl.Output
Input = _impl.Input
Pwm = _impl.Pwm
Analog = _impl.Analog
internal_temperature = _impl.internal_temperature
network_up = _impl.network_up
network_ok = _impl.network_ok
local_address = _impl.local_address
join_group = _impl.join_group
log = _impl.log
