"""The pytest plugin as a user meets it: a user's own short test file, run by a separate
pytest process that finds the plugin through its ``pytest11`` entry point alone."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

#: The user test of docs/testing-with-simulated-devices.md ("A complete test").
USER_TEST = '''
from bridge.sim.testing import wait_for

def test_devices_cross_the_gateway(ocf_device, alljoyn_device, gateway):
    lamp = ocf_device("light", "Desk Lamp", switch={"on": True})
    alljoyn_device("thermostat", "Hall Thermostat")
    gw = gateway()
    wait_for(lambda: {"Desk Lamp", "Hall Thermostat"} <= {d["name"] for d in gw.devices()}, 30)
    row = gw.device("Desk Lamp", origin="ocf")
    assert row["available"] and row["capabilities"]["switch"]["state"] == {"on": True}
    lamp.set("switch", {"on": False})
    wait_for(lambda: gw.device("Desk Lamp")["capabilities"]["switch"]["state"]["on"] is False, 30)
'''


def test_user_suite_with_network_namespaces(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest_subprocess("--ocfaj-isolate", "-p", "no:cacheprovider",
                                           timeout=240)
    result.stdout.fnmatch_lines(["ocfaj network: private network namespace of pid *",
                                 "ocfaj OCF devices: network namespaces on bridge ocfbr0*"])
    result.assert_outcomes(passed=1)


def test_user_suite_on_loopback(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest_subprocess("--ocfaj-ocf-network=loopback",
                                           "-p", "no:cacheprovider", timeout=240)
    result.stdout.fnmatch_lines(["ocfaj OCF devices: LOOPBACK: unicast on 127.0.0.1 only*"])
    result.assert_outcomes(passed=1)
