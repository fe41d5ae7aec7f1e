"""Issue 14 points 7 and 10: what ``ocfaj demo`` shows fits an 80x24 terminal and keeps its
title; the demo's settings come from its own flags and ``OCFAJ_*`` variables, never a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import bridge.daemon.cli as cli
from bridge.daemon import demo_command
from bridge.daemon.demo_screen import EventFeed, cut_items, device_table, screen

HOME_ROWS: list[dict[str, Any]] = [
    {"origin": "alljoyn", "name": "Living Room Thermostat", "device_type": "oic.d.thermostat",
     "available": True, "bridged_to": ["ocf", "mqtt"],
     "capabilities": {"battery": {"state": {"charge": 87, "charging": False}},
                      "humidity": {"state": {"humidity": 45}},
                      "target_temperature": {"state": {"target_temperature": 21.0}},
                      "temperature": {"state": {"temperature": 22.123}}}},
    {"origin": "ocf", "name": "Desk Lamp", "device_type": "oic.d.light", "available": False,
     "bridged_to": ["alljoyn", "mqtt"],
     "capabilities": {"brightness": {"state": {"brightness": 70}},
                      "colour": {"state": {"hue": 30.0, "saturation": 50}},
                      "switch": {"state": {"on": True}}}},
]
FIRST = {"oic.d.thermostat": ("temperature", "target_temperature"), "oic.d.light": ("switch",)}


def test_table_fits_79_columns_and_keeps_what_matters() -> None:
    lines = device_table(HOME_ROWS, 79, first=FIRST)
    assert all(len(line) <= 79 for line in lines), lines
    assert lines[0].split()[:3] == ["ORIGIN", "NAME", "STATE"]  # the type column gave way
    thermostat, lamp = lines[1], lines[2]
    assert thermostat.startswith("alljoyn  Living Room Thermostat  up ")
    # The device type's own capabilities first, names abbreviated, cut at a whole value.
    assert "temp=22.12 target=21.0" in thermostat
    assert thermostat.endswith("…") and "=…" not in thermostat
    assert lamp.startswith("ocf      Desk Lamp ") and " gone " in lamp and "on=true" in lamp


def test_wide_or_unlimited_table_shows_every_column_in_full() -> None:
    for width in (None, 200):
        lines = device_table(HOME_ROWS, width)
        assert lines[0].split()[:3] == ["ORIGIN", "NAME", "TYPE"]
        assert "thermostat" in lines[1] and "target_temperature=21.0" in lines[1]
        assert "…" not in "\n".join(lines)


def test_narrow_terminal_narrows_names() -> None:
    lines = device_table(HOME_ROWS, 60, ellipsis="~")
    assert all(len(line) <= 60 for line in lines), lines
    assert lines[1].startswith("alljoyn  Living Room~  up ")


def test_cut_items_keeps_whole_items() -> None:
    assert cut_items(["a=1", "b=2", "c=3"], 11) == "a=1 b=2 c=3"
    assert cut_items(["a=1", "b=2", "c=3"], 10) == "a=1 b=2 …"
    assert cut_items(["abcdefgh=1"], 6) == "abcde…"


def test_screen_fits_24_rows_with_title_notes_and_newest_events() -> None:
    events = [f"12:00:{n:02d} event number {n} " + "x" * 100 for n in range(40)]
    rows = HOME_ROWS * 3
    lines = screen("ocfaj demo - Ctrl-C stops - 6 devices", ["private D-Bus at unix:path=/x",
                                                            "multicast is not used"],
                   device_table(rows, 79), events, 79, 24)
    assert len(lines) == 24 and all(len(line) <= 79 for line in lines)
    assert lines[0].startswith("ocfaj demo - Ctrl-C stops")
    assert lines[1:3] == ["private D-Bus at unix:path=/x", "multicast is not used"]
    assert lines[4].startswith("ORIGIN")
    assert lines[-1].startswith("12:00:39 event number 39")  # the newest event is the last line


def test_screen_too_low_for_the_table_says_how_many_are_hidden() -> None:
    table = device_table(HOME_ROWS * 20, 79)
    lines = screen("title", [], table, ["12:00:00 one"], 79, 24)
    assert len(lines) <= 24 and lines[0] == "title"
    assert any(line.startswith("... and ") and line.endswith(" more devices") for line in lines)
    assert lines[-1] == "12:00:00 one"


def test_feed_echoes_and_ignores_lines_after_close() -> None:
    printed: list[str] = []
    feed = EventFeed(printed.append)
    feed.add("demo client switched Lamp on through the gateway")
    feed.close()
    feed.add("Lamp left")
    assert [line.split(" ", 1)[1] for line in printed] == [
        "demo client switched Lamp on through the gateway"]
    assert list(feed.lines) == printed


def _demo_args(*argv: str) -> Any:
    return cli.build_parser().parse_args(["demo", *argv])


def test_demo_settings_ignore_configuration_files(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    service = tmp_path / "config.toml"
    service.write_text('[gateway]\nname = "livingroom"\n[mqtt]\nhost = "broker.lan"\n'
                       'client_id = "ocfaj-livingroom"\nbase_topic = "home"\n')
    # Both ways a command finds the service's file: OCFAJ_CONFIG and the default path.
    monkeypatch.setattr(cli, "DEFAULT_CONFIG_PATH", service)
    config = demo_command.settings_from_args(_demo_args(), {"OCFAJ_CONFIG": str(service)})
    assert config.source is None
    assert config.gateway.name == "demo"
    assert not config.mqtt.enabled
    assert config.mqtt.client_id == "ocfaj-demo"
    assert config.mqtt.base_topic == "ocfaj-demo"


def test_demo_settings_from_environment_and_set() -> None:
    config = demo_command.settings_from_args(
        _demo_args("--set", "mqtt.port=1884", "--log-level", "info"),
        {"OCFAJ_MQTT_HOST": "127.0.0.1", "OCFAJ_MQTT_PORT": "1999",
         "OCFAJ_GATEWAY_NAME": "livingroom"})
    assert config.mqtt.enabled and config.mqtt.host == "127.0.0.1"
    assert config.mqtt.port == 1884  # --set wins over the environment
    assert config.gateway.name == "livingroom"
    assert config.mqtt.client_id == "ocfaj-demo"  # still the demo's, not ocfaj-livingroom
    assert config.gateway.log_level == "info"


def test_demo_has_no_config_option() -> None:
    with pytest.raises(SystemExit):
        _demo_args("--config", "/etc/ocfaj/config.toml")
