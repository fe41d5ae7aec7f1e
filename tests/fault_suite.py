"""The project's fault suite, counted per surface (issue 15 point 11).

Every module that attacks one surface of the gateway (broken OCF devices, hostile CoAP, MQTT
and D-Bus clients, broker limits and outages, read-only and corrupt state) is listed in
:data:`SURFACES`; ``tests/conftest.py`` counts its test cases as they run, adds the generated
cases that fuzz tests record with the ``fuzz_cases`` fixture, and prints both per surface in
pytest's terminal summary. ``tests/unit/test_fault_suite.py`` fails when a module under
``tests/faults`` or ``tests/fuzz`` is not listed here, so no new attack goes uncounted.
"""

from __future__ import annotations

from collections.abc import Callable

#: Records ``n`` generated cases under a name: ``fuzz_cases("CoAP options", n)``.
Record = Callable[[str, int], None]

#: test module (path from the repository root) -> the surface it attacks.
SURFACES: dict[str, str] = {
    "tests/faults/test_malformed_datagrams.py": "CoAP",
    "tests/faults/test_coap_limits.py": "CoAP",
    "tests/faults/test_coap_memory.py": "CoAP",
    "tests/ocf/test_coap_rules.py": "CoAP",
    "tests/ocf/test_netns_admission.py": "CoAP",
    "tests/fuzz/test_coap_options.py": "CoAP",
    "tests/ocf/test_fuzz.py": "CoAP",
    "tests/fuzz/test_dtls.py": "DTLS",
    "tests/faults/test_unusable_text.py": "CoAP and D-Bus",
    "tests/faults/test_ocf_device.py": "OCF devices",
    "tests/ocf/test_device_errors.py": "OCF devices",
    "tests/ocf/test_client_network_errors.py": "OCF devices",
    "tests/e2e/test_reference_stack.py": "OCF devices",
    "tests/faults/test_flapping.py": "AllJoyn devices",
    "tests/fuzz/test_about.py": "D-Bus",
    "tests/fuzz/test_dbus_args.py": "D-Bus",
    "tests/faults/test_dbus_restart.py": "D-Bus",
    "tests/fuzz/test_mqtt_commands.py": "MQTT",
    "tests/mqtt/test_text.py": "MQTT",
    "tests/faults/test_broker_outage.py": "MQTT broker",
    "tests/mqtt/test_oversized.py": "MQTT broker",
    "tests/faults/test_outbox_full_disk.py": "state",
    "tests/faults/test_outbox_open.py": "state",
    "tests/faults/test_state_file.py": "state",
}


def surface_of(module_path: str) -> str | None:
    """The surface a test module attacks, or None when it is not part of the fault suite."""
    return SURFACES.get(module_path)
