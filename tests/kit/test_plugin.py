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


#: gateway_factory as docs/testing-with-simulated-devices.md describes it: named gateways in
#: hosts of their own, one configured first and started later, a stop by SIGINT with its exit
#: status, a restart on the same state directory, and the log tails of all of them.
FACTORY_TEST = '''
import signal
from bridge.sim.testing import wait_for

def test_named_gateways(ocf_device, gateway_factory):
    ocf_device("light", "Desk Lamp")
    hub = gateway_factory("hub", own_host=True)
    spare = gateway_factory("spare", own_host=True, start=False)
    assert spare.process is None and spare.config_path.name == "spare.toml"
    spare.start()
    assert [g.name for g in gateway_factory] == ["hub", "spare"]
    assert hub.host is not spare.host
    wait_for(lambda: hub.device("Desk Lamp", origin="ocf") is not None, 30)
    wait_for(lambda: spare.device("Desk Lamp", origin="ocf") is not None, 30)
    wait_for(lambda: (hub.state_dir / "identities.json").exists(), 30)

    assert hub.stop(sig=signal.SIGINT) == 0
    assert "gateway hub stopped" in hub.log()
    hub.start()
    wait_for(lambda: hub.device("Desk Lamp", origin="ocf") is not None, 30)
    assert hub.log().count("gateway hub stopped") == 1
    logs = gateway_factory.logs()
    assert "--- hub log (tail) ---" in logs and "--- spare log (tail) ---" in logs
'''


def test_gateway_factory_on_loopback(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=FACTORY_TEST)
    result = pytester.runpytest_subprocess("--ocfaj-ocf-network=loopback",
                                           "-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=1)
