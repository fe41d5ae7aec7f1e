"""Help texts and plain outputs of the ``ocfaj`` commands (issue 14 point 18): usage that
matches what is required, every device model named on both simulators, no ``VALUE``
placeholders, device models in ``ocfaj models``, readable device values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.daemon import cli
from bridge.daemon.devices_command import render_table
from bridge.model import load_catalogue
from bridge.sim.alljoyn import sim_device
from bridge.sim.device import SimDevice
from bridge.sim.model_names import ALIASES, model_id

DEVICE_MODELS = sorted(d.id for d in load_catalogue().device_types)


def help_of(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit) as done:
        cli.main([*command, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_simulate_usage_offers_a_scenario_or_a_side(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys, "simulate")
    usage = text.split("\n\n")[0]
    assert usage.splitlines() == [
        "usage: ocfaj simulate [-h] --scenario NAME|FILE [--bus BUS] [--interface IFACE]",
        "       ocfaj simulate {ocf,alljoyn,obt} [options]"]
    assert "SIDE ..." not in usage


@pytest.mark.parametrize("side", ["ocf", "alljoyn"])
def test_both_simulators_name_every_device_model(capsys: pytest.CaptureFixture[str],
                                                 side: str) -> None:
    text = " ".join(help_of(capsys, "simulate", side).split())
    assert len(DEVICE_MODELS) == 7
    named = f"device type model: {', '.join(DEVICE_MODELS)}"
    for alias, target in ALIASES.items():
        named = named.replace(target, f"{target} (or {alias})")
    assert named in text
    assert re.search(r"\block\.\.\.", text) is None


@pytest.mark.parametrize("model", DEVICE_MODELS + sorted(ALIASES))
def test_every_device_model_and_alias_builds_on_both_sides(model: str) -> None:
    catalogue = load_catalogue()
    wanted = catalogue.device_type(model_id(model))
    assert wanted is not None
    ocf = SimDevice.of_type("Dev", catalogue, model_id(model))
    alljoyn = sim_device("Dev", catalogue, model_id(model))
    assert set(wanted.required) <= set(ocf.capabilities)
    assert set(wanted.required) <= set(alljoyn.capabilities)


def test_check_config_explains_file(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys, "check-config")
    assert re.search(r"^  FILE\s+the configuration file to check", text, re.MULTILINE), text


@pytest.mark.parametrize("command", ["run", "demo", "devices", "models", "simulate",
                                     "check-config", "onboard", "web-password"])
def test_no_option_shows_a_bare_value_placeholder(capsys: pytest.CaptureFixture[str],
                                                  command: str) -> None:
    text = help_of(capsys, command)
    assert re.search(r"(?<![.=A-Z_])VALUE\b", text) is None, text
    if command == "run":
        assert "--state-dir DIR" in text


def test_plain_models_lists_device_models(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "DEFAULT_CONFIG_PATH", Path("/nonexistent/config.toml"))
    monkeypatch.delenv("OCFAJ_CONFIG", raising=False)
    assert cli.main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("capability")
    header = lines.index(next(line for line in lines if line.startswith("device model")))
    rows = {line.split()[0]: line.split()[1] for line in lines[header + 1:] if line}
    assert rows == {d.id: d.ocf_device_type for d in load_catalogue().device_types}


def test_device_values_name_a_property_once() -> None:
    table = render_table([{
        "origin": "ocf", "name": "Lamp", "device_type": "oic.d.light", "available": True,
        "id": "ocf:1", "capabilities": {
            "brightness": {"state": {"brightness": 60}},
            "switch": {"state": {"on": True}},
            "colour": {"state": {"hue": 120.0, "saturation": 50}}}}])
    row = table.splitlines()[1]
    assert row.endswith("brightness=60; colour.hue=120.0,colour.saturation=50; switch.on=true")
    assert "brightness=brightness" not in row
