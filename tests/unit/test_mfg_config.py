"""``[ocf]`` manufacturer certificate keys: consistency at load, the files at the machine
check (a malformed or wrong file names the key, nothing starts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.core.errors import ConfigError
from bridge.daemon.config import parse_config
from bridge.daemon.config_checks import check_machine
from bridge.sim.testing.pki import TestPki


def test_certificate_and_key_go_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        parse_config({"ocf": {"manufacturer_certificate": "device.pem"}},
                     path=tmp_path / "config.toml")
    assert missing.value.key == "ocf.manufacturer_key"
    with pytest.raises(ConfigError) as alone:
        parse_config({"ocf": {"manufacturer_chain": "chain.pem"}},
                     path=tmp_path / "config.toml")
    assert alone.value.key == "ocf.manufacturer_chain"
    config = parse_config({"ocf": {"manufacturer_certificate": "device.pem",
                                   "manufacturer_key": "key.pem"}},
                          path=tmp_path / "config.toml")
    # relative paths are read from the configuration file's directory
    assert config.ocf.manufacturer_certificate == tmp_path / "device.pem"


@pytest.mark.parametrize(("case", "key", "problem"), [
    ("truncated", "ocf.manufacturer_certificate", "holds no readable PEM certificate"),
    ("other_key", "ocf.manufacturer_certificate", "does not belong to the certificate"),
    ("ca_as_device", "ocf.manufacturer_certificate", "it is a CA certificate"),
    ("missing", "ocf.manufacturer_certificate", "cannot read"),
    ("device_as_anchor", "ocf.manufacturer_trust_anchors", "is not a CA certificate"),
    ("key_as_anchor", "ocf.manufacturer_trust_anchors", "holds no readable PEM certificate"),
])
def test_bad_files_name_the_key(tmp_path: Path, case: str, key: str, problem: str) -> None:
    pki = TestPki(tmp_path / "pki")
    device, other = pki.device("gw"), pki.device("other")
    broken = tmp_path / "broken.pem"
    broken.write_bytes(device.cert.read_bytes()[:300])
    ocf: dict[str, str] = {"manufacturer_certificate": str(device.cert),
                           "manufacturer_key": str(device.key)}
    if case == "truncated":
        ocf["manufacturer_certificate"] = str(broken)
    elif case == "other_key":
        ocf["manufacturer_key"] = str(other.key)
    elif case == "ca_as_device":
        ocf["manufacturer_certificate"] = str(pki.anchors)
    elif case == "missing":
        ocf["manufacturer_certificate"] = str(tmp_path / "nowhere.pem")
    elif case == "device_as_anchor":
        ocf = {"manufacturer_trust_anchors": str(device.cert)}
    else:
        ocf = {"manufacturer_trust_anchors": str(device.key)}
    config = parse_config({"ocf": ocf}, path=tmp_path / "config.toml")
    with pytest.raises(ConfigError) as refused:
        check_machine(config)
    assert refused.value.key == key
    assert problem in refused.value.problem, refused.value.problem


def test_good_files_pass(tmp_path: Path) -> None:
    pki = TestPki(tmp_path / "pki")
    device = pki.device("gw")
    assert device.chain is not None
    config = parse_config({"ocf": {"manufacturer_trust_anchors": str(pki.anchors),
                                   "manufacturer_certificate": str(device.cert),
                                   "manufacturer_key": str(device.key),
                                   "manufacturer_chain": str(device.chain)}},
                          path=tmp_path / "config.toml")
    check_machine(config)
