"""Fixtures of the Home Assistant tests: HA core from its cached venv, the broker, the demo.

Home Assistant starts once per module (about half a minute on a loaded 2-core machine); the
tests of the module share it and the gateway in the order they are written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.sim.testing.mosquitto import Mosquitto
from tests.hass.core import HomeAssistantCore, home_assistant_venv


@pytest.fixture(scope="module")
def ha_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path_factory.mktemp("ha-broker"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def home_assistant(tmp_path_factory: pytest.TempPathFactory,
                   ha_broker: Mosquitto) -> Iterator[HomeAssistantCore]:
    core = HomeAssistantCore(home_assistant_venv(), tmp_path_factory.mktemp("ha") / "config",
                             ha_broker.host, ha_broker.port)
    core.prepare()
    core.start()
    yield core
    core.stop()


def scenario() -> Path:
    return Path(__file__).with_name("scenario.toml")
