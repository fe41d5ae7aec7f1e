"""Scenario files: shipped examples load; every mistake names file, key and expectation."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bridge.sim
from bridge.model import load_catalogue
from bridge.sim.behaviour import start_behaviours
from bridge.sim.device import FaultAction, Faults, SimDevice
from bridge.sim.ocf import OcfSimServer, SimListing
from bridge.sim.ocf_identity import OcfSimIdentity, derive_ocf_identity
from bridge.sim.scenario import ScenarioError, load_scenario, parse_scenario

SCENARIOS = Path(bridge.sim.__file__).parent / "scenarios"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_scenarios_load(path: Path) -> None:
    scenario = load_scenario(path, load_catalogue())
    assert scenario.devices
    assert {d.side for d in scenario.devices} == {"ocf", "alljoyn"}


def test_count_expands_names() -> None:
    scenario = load_scenario(SCENARIOS / "scale.toml", load_catalogue())
    assert len(scenario.on_side("ocf")) == 100
    assert scenario.on_side("ocf")[0].name == "OCF Light 1"


BASE: dict[str, Any] = {"device": [{"name": "Lamp", "side": "ocf", "model": "light"}]}


@pytest.mark.parametrize(("patch", "key", "words"), [
    ({"device": []}, "device", "at least one"),
    ({"device": [{"name": "L", "side": "zigbee", "model": "light"}]}, "device[0].side",
     "'ocf' or 'alljoyn'"),
    ({"device": [{"name": "L", "side": "ocf", "model": "toaster"}]}, "device[0].model",
     "unknown device model"),
    ({"device": [{"name": "L", "side": "ocf", "capabilities": ["warp"]}]},
     "device[0].capabilities", "unknown capability"),
    ({"device": [{"name": "L", "side": "ocf", "model": "light",
                  "state": {"brightness": {"brightness": 300}}}]},
     "device[0].state.brightness.brightness", "out of range"),
    ({"device": [{"name": "L", "side": "ocf", "model": "light", "faults": {"drop": 2.0}}]},
     "device[0].faults", "between 0 and 1"),
    ({"device": [{"name": "L", "side": "ocf", "model": "light",
                  "faults": {"error": 1.0, "paths": ["oic/d"]}}]},
     "device[0].faults", "starting with '/'"),
    ({"device": [{"name": "L", "side": "ocf", "model": "light", "colour": "red"}]},
     "device[0].colour", "unknown key"),
    ({"behaviour": [{"kind": "dance", "device": "Lamp", "every": 1}]}, "behaviour[0].kind",
     "one of"),
    ({"behaviour": [{"kind": "drift", "device": "Nobody", "every": 1}]},
     "behaviour[0].device", "no device named"),
    ({"behaviour": [{"kind": "drift", "device": "Lamp", "every": 1, "capability": "switch",
                     "property": "on", "step": 1}]}, "behaviour[0].property",
     "needs a integer or number property"),
    ({"behaviour": [{"kind": "toggle", "device": "Lamp", "every": -1}]}, "behaviour[0].every",
     "positive"),
    ({"name": 5}, "name", "a string is expected"),
    ({"device": [{"name": "L", "side": "ocf", "model": "light", "piid": "not-a-uuid"}]},
     "device[0].piid", "a UUID is expected"),
    ({"device": [{"name": "L", "side": "alljoyn", "model": "light",
                  "pi": "5c8f9a52-9a4e-4a4e-8f5e-0b5d1f1b2c3d"}]},
     "device[0].pi", "only an OCF device"),
    ({"device": [{"name": "L", "side": "ocf", "model": "light", "count": 2,
                  "piid": "5c8f9a52-9a4e-4a4e-8f5e-0b5d1f1b2c3d"}]},
     "device[0].piid", "count = 1"),
    ({"device": [{"name": n, "side": "ocf", "model": "light",
                  "piid": "5c8f9a52-9a4e-4a4e-8f5e-0b5d1f1b2c3d"} for n in ("A", "B")]},
     "device", "used twice"),
])
def test_errors_name_the_key(patch: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario({**BASE, **patch}, load_catalogue(), "home.toml")
    assert err.value.key == key
    assert words in str(err.value)
    assert str(err.value).startswith("home.toml: ")


def test_fault_paths_from_a_scenario_and_a_control_command() -> None:
    from bridge.sim.fault_args import describe, faults_from_mapping
    doc = {"device": [{"name": "L", "side": "ocf", "model": "light",
                       "faults": {"error": 1.0, "error_code": 401, "paths": ["/oic/d"]}}]}
    spec = parse_scenario(doc, load_catalogue(), "home.toml").devices[0]
    assert spec.faults.paths == ("/oic/d",) and spec.faults.applies_to("/oic/d")
    assert not spec.faults.applies_to("/switch")
    faults = faults_from_mapping({"error": 1.0, "paths": ["/oic/res", "/oic/p"]})
    assert describe(faults)["paths"] == ["/oic/res", "/oic/p"]
    with pytest.raises(ValueError, match="list of hrefs"):
        faults_from_mapping({"error": 1.0, "paths": "/oic/d"})


def test_ocf_ids_derive_from_scenario_and_device_name() -> None:
    cat = load_catalogue()
    data = {"name": "home", "device": [{"name": "Lamp", "side": "ocf", "model": "light"},
                                       {"name": "Plug", "side": "ocf", "model": "switch"},
                                       {"name": "Bulb", "side": "alljoyn", "model": "light"}]}
    once, again = (parse_scenario(data, cat, "home.toml") for _ in range(2))
    lamp, plug, bulb = once.devices
    assert lamp.ocf_identity is not None and plug.ocf_identity is not None
    assert lamp.ocf_identity == again.devices[0].ocf_identity  # the same in every run
    assert lamp.ocf_identity == derive_ocf_identity("home", "Lamp")
    ids = [lamp.ocf_identity.piid, lamp.ocf_identity.pi, lamp.ocf_identity.di,
           plug.ocf_identity.piid]
    assert len(set(ids)) == 4 and all(str(uuid.UUID(i)) == i for i in ids)
    other = parse_scenario({**data, "name": "flat"}, cat, "home.toml").devices[0]
    assert other.ocf_identity is not None and other.ocf_identity.piid != lamp.ocf_identity.piid
    assert bulb.ocf_identity is None  # AllJoyn devices derive their ids in bridge.sim.alljoyn


def test_ocf_ids_given_in_the_file_win() -> None:
    piid = "5c8f9a52-9a4e-4a4e-8f5e-0b5d1f1b2c3d"
    spec = parse_scenario({"name": "home", "device": [
        {"name": "Lamp", "side": "ocf", "model": "light", "piid": piid.upper()}]},
        load_catalogue(), "home.toml").devices[0]
    derived = derive_ocf_identity("home", "Lamp")
    assert spec.ocf_identity == OcfSimIdentity(piid=piid, pi=derived.pi, di=derived.di)


async def test_simulated_ocf_device_keeps_piid_and_gets_a_fresh_di_on_return() -> None:
    identity = derive_ocf_identity("home", "Lamp")
    server = OcfSimServer(SimDevice.of_type("Lamp", load_catalogue(), "light"),
                          SimListing(multicast=False), identity=identity)
    assert (server.piid, server.pi, server.di) == (identity.piid, identity.pi, identity.di)
    assert server.served.device["piid"] == identity.piid
    await server.vanish()
    assert (server.piid, server.pi) == (identity.piid, identity.pi)
    assert server.di != identity.di and server.served.device["di"] == server.di


def test_bad_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[device]\nname=")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(path, load_catalogue())


@settings(max_examples=300)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["name", "side", "model", "device", "kind",
                                                       "every", "state", "faults", "count"]),
                                      inner, max_size=4), max_leaves=12))
def test_random_documents_never_crash(doc: Any) -> None:
    data = doc if isinstance(doc, dict) else {"device": doc}
    try:
        parse_scenario(data, load_catalogue(), "fuzz.toml")
    except ScenarioError:
        pass


def test_faults_decide_by_share() -> None:
    faults = Faults(drop=0.5, error=0.25, seed=1)
    fates = [faults.decide() for _ in range(4000)]
    assert 1800 < fates.count(FaultAction.DROP) < 2200
    assert 800 < fates.count(FaultAction.ERROR) < 1200
    assert FaultAction.MALFORMED not in fates
    with pytest.raises(ValueError, match=r"faults\.drop"):
        Faults(drop=1.5)


class _Server:
    """A protocol-free stand-in for a SimServer: behaviours only touch the device here."""

    def __init__(self, device: SimDevice) -> None:
        self.device = device
        self.starts = 0
        self.vanished = 0

    async def start(self) -> dict[str, Any]:
        self.starts += 1
        return {}

    async def stop(self) -> None:
        return None

    async def vanish(self) -> None:
        self.vanished += 1


async def test_behaviours_change_state() -> None:
    cat = load_catalogue()
    scenario = parse_scenario({
        "device": [{"name": "T", "side": "alljoyn", "model": "thermostat"},
                   {"name": "M", "side": "ocf", "capabilities": ["motion"]}],
        "behaviour": [
            {"kind": "drift", "device": "T", "capability": "temperature",
             "property": "temperature", "every": 0.01, "step": 0.5, "min": 20, "max": 21},
            {"kind": "pulse", "device": "M", "capability": "motion", "property": "motion",
             "every": 0.01, "duration": 0.01},
            {"kind": "leave", "device": "M", "every": 0.01, "duration": 0.01},
        ]}, cat, "t.toml")
    thermo = SimDevice("T", cat, list(scenario.devices[0].capabilities))
    motion = SimDevice("M", cat, ["motion"])
    seen: list[tuple[str, dict[str, Any]]] = []
    thermo.on_change(lambda cap, values: seen.append((cap, dict(values))))
    motion.on_change(lambda cap, values: seen.append((cap, dict(values))))
    servers = {"T": _Server(thermo), "M": _Server(motion)}
    tasks = start_behaviours(scenario.behaviours, servers)
    await asyncio.sleep(0.3)
    for task in tasks:
        task.cancel()
    temps = [v["temperature"] for c, v in seen if c == "temperature"]
    assert temps and all(19.5 <= t <= 21.5 for t in temps)
    assert ("motion", {"motion": True}) in seen and ("motion", {"motion": False}) in seen
    assert servers["M"].vanished >= 1 and servers["M"].starts >= 1


def test_shipped_scenarios_are_found_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.chdir(tmp_path)
    catalogue = load_catalogue()
    assert load_scenario(Path("home"), catalogue).source == str(SCENARIOS / "home.toml")
    assert load_scenario(Path("flaky.toml"), catalogue).source == str(SCENARIOS / "flaky.toml")
    # A file of that name in the working directory wins over the shipped one.
    (tmp_path / "home.toml").write_text('[[device]]\nname = "Mine"\nside = "ocf"\n'
                                        'model = "light"\n')
    assert [d.name for d in load_scenario(Path("home.toml"), catalogue).devices] == ["Mine"]


def test_an_unknown_scenario_names_the_shipped_ones(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError) as err:
        load_scenario(Path("garden"), load_catalogue())
    assert str(err.value) == ("garden: no such file, and no shipped scenario has this name; "
                              "give a scenario file or one of: flaky, home, scale")
