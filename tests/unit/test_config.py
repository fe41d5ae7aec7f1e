"""The configuration loader: defaults, the example file, every error kind, environment and
command-line overrides, paths, the secrets file, and the generated reference."""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.errors import ConfigError
from bridge.core.policy_config import PolicyRuleConfig
from bridge.daemon.config import (
    SECTIONS,
    Config,
    is_secret,
    load_config,
    parse_config,
)
from bridge.daemon.config_reference import attribute_docs, config_reference_markdown

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path | None, env: dict[str, str] | None = None,
             overrides: tuple[str, ...] = ()) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env or {}, overrides)
    return caught.value


# --- defaults and the shipped files ------------------------------------------------------------

def test_no_file_gives_documented_defaults() -> None:
    config = load_config(None, {})
    assert config.source is None
    assert config.gateway.name == "ocfaj"
    assert config.gateway.state_dir == Path("/var/lib/ocfaj")
    assert config.gateway.log_level == "info"
    assert config.gateway.models_dir is None
    assert config.bridge == dataclasses.replace(config.bridge, ocf_to_alljoyn=True,
                                                alljoyn_to_ocf=True, virtual_grace_period=10.0,
                                                mqtt_mirror=True)
    assert config.ocf.enabled and config.ocf.ipv4 and config.ocf.ipv6
    assert config.ocf.interfaces == ()
    assert config.ocf.ipv6_scopes == ("link",)
    assert (config.ocf.discovery_interval, config.ocf.missed_rounds) == (30.0, 3)
    assert (config.ocf.server_port, config.ocf.max_payload) == (5683, 16384)
    assert config.alljoyn.bus == "system"
    assert (config.alljoyn.call_timeout, config.alljoyn.signal_batch) == (5.0, 100)
    assert not config.mqtt.enabled
    assert (config.mqtt.port, config.mqtt.qos, config.mqtt.protocol) == (1883, 1, "5")
    assert config.mqtt.outbox_max_bytes == 64 * 1024 * 1024
    assert config.mqtt.names == {}
    assert config.policy.default == "allow"
    assert config.policy.rules == ()


def test_derived_defaults_are_filled_in() -> None:
    config = load_config(None, {}, ["gateway.name=hall", "alljoyn.bus=session"])
    assert config.mqtt.client_id == "ocfaj-hall"
    assert config.gateway.control_bus == "session"
    explicit = load_config(None, {}, ["mqtt.client_id=mine", "gateway.control_bus=system",
                                      "alljoyn.bus=session"])
    assert explicit.mqtt.client_id == "mine"
    assert explicit.gateway.control_bus == "system"


def test_empty_file_equals_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert load_config(path, {}) == dataclasses.replace(load_config(None, {}), source=path)


def test_config_is_frozen() -> None:
    config = load_config(None, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.mqtt.port = 1  # type: ignore[misc]


def test_example_file_loads_with_its_values() -> None:
    config = load_config(ROOT / "examples" / "config.toml", {})
    assert config.ocf.interfaces == ("eth0",)
    assert config.ocf.unicast_peers == ("coap://192.168.10.7:5683",)
    assert config.mqtt.enabled and config.mqtt.tls
    assert (config.mqtt.host, config.mqtt.port) == ("broker.lan", 8883)
    assert config.mqtt.names == {"0685b960-736f-46f7-bead-0a3a2a5d5e3c": "Hall light"}
    assert config.policy.rules == (
        PolicyRuleConfig(action="read_only", side="mqtt", resource_type="oic.r.lock.*"),
        PolicyRuleConfig(action="deny", name="Test *"),
    )


def test_example_file_shows_every_key() -> None:
    with (ROOT / "examples" / "config.toml").open("rb") as stream:
        example = tomllib.load(stream)
    for section, cls in SECTIONS.items():
        for fld in dataclasses.fields(cls):
            if not fld.metadata.get("secret"):
                assert fld.name in example[section], f"{section}.{fld.name}"
    for fld in dataclasses.fields(PolicyRuleConfig):
        assert fld.name in example["policy"]["rules"][0], f"policy.rules.{fld.name}"


def test_every_key_is_documented() -> None:
    for cls in [*SECTIONS.values(), PolicyRuleConfig]:
        docs = attribute_docs(cls)
        for fld in dataclasses.fields(cls):
            assert len(docs.get(fld.name, "")) > 10, f"{cls.__name__}.{fld.name}"


def test_configuration_doc_is_up_to_date() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == config_reference_markdown(), (
        "docs/configuration.md is stale: run `ocfaj config-reference > docs/configuration.md`")


def test_reference_lists_each_key_with_type_default_and_variable() -> None:
    doc = config_reference_markdown()
    assert "### `mqtt.port`\n\ninteger from 1 to 65535 · default `1883` · `OCFAJ_MQTT_PORT`" in doc
    assert "### `ocf.ipv6_scopes`" in doc and 'default `["link"]`' in doc
    assert "- `action` (one of `\"allow\"`, `\"deny\"`, `\"read_only\"`, required)" in doc


# --- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "key", "problem"), [
    ('[ocf]\nipv4 = "yes"', "ocf.ipv4", 'expected true or false, got the string "yes"'),
    ("[ocf]\nmissed_rounds = 2.5", "ocf.missed_rounds", "expected an integer"),
    ("[mqtt]\nport = true", "mqtt.port", "expected an integer, got the boolean true"),
    ("[gateway]\nstate_dir = 1979-05-27", "gateway.state_dir", "expected a path"),
    ('[gateway]\nstate_dir = ""', "gateway.state_dir", "expected a path"),
    ('[gateway]\nname = " "', "gateway.name", "non-empty"),
    ("[ocf]\ndiscovery_intervall = 3.0", "ocf.discovery_intervall",
     "unknown key (did you mean discovery_interval?)"),
    ("[ocf]\nzzz = 1", "ocf.zzz", "unknown key; known: enabled, interfaces"),
    ("[mqt]\nport = 1", "mqt", "unknown section (did you mean mqtt?)"),
    ('name = "x"', "name", "unknown section"),
    ("ocf = 1", "ocf", "expected a table [ocf], got the integer 1"),
    ('[mqtt]\nprotocol = "4"', "mqtt.protocol", 'expected one of "5", "3.1.1"'),
    ("[mqtt]\nqos = 3", "mqtt.qos", "expected one of 0, 1, 2, got the integer 3"),
    ('[gateway]\nlog_level = "loud"', "gateway.log_level", "expected one of"),
    ("[mqtt]\nport = 0", "mqtt.port", "expected an integer from 1 to 65535, got 0"),
    ("[ocf]\nserver_port = 70000", "ocf.server_port", "from 1 to 65535, got 70000"),
    ("[ocf]\ndiscovery_interval = 0", "ocf.discovery_interval",
     "expected a number greater than 0, got 0.0"),
    ("[alljoyn]\ncall_timeout = -1", "alljoyn.call_timeout", "greater than 0"),
    ("[bridge]\nvirtual_grace_period = -0.5", "bridge.virtual_grace_period", "at least 0"),
    ('[ocf]\ninterfaces = "eth0"', "ocf.interfaces", "expected a list, got the string"),
    ('[ocf]\ninterfaces = ["eth0", 3]', "ocf.interfaces[1]", "expected a string"),
    ('[ocf]\nipv6_scopes = ["global"]', "ocf.ipv6_scopes[0]", 'one of "link", "realm"'),
    ('[ocf]\nunicast_peers = ["http://x:80"]', "ocf.unicast_peers", "coap://host:port"),
    ('[ocf]\nunicast_peers = ["coap://[::1"]', "ocf.unicast_peers", "coap://host:port"),
    ('[ocf]\nvirtual_bind = "eth0"', "ocf.virtual_bind", "IP address"),
    ('[alljoyn]\nbus = "sytem"', "alljoyn.bus", '"system", "session" or a D-Bus address'),
    ('[gateway]\ncontrol_bus = "nope"', "gateway.control_bus", "D-Bus address"),
    ('[mqtt]\nbase_topic = "a/#"', "mqtt.base_topic", "without '+', '#'"),
    ('[mqtt]\nha_prefix = "a//b"', "mqtt.ha_prefix", "empty levels"),
    ("[mqtt.names]\nabc = 1", "mqtt.names.abc", "expected a string, got the integer 1"),
    ('[mqtt]\npassword = "pw"', "mqtt.password", "secrets_file"),
    ("[mqtt]\nenabled = true", "mqtt.host", "required when enabled is true"),
    ('[mqtt]\ncert_file = "c.pem"', "mqtt.key_file", "set both or neither"),
    ("[ocf]\nipv4 = false\nipv6 = false", "ocf.ipv6", "both false"),
    ("[ocf]\nipv6_scopes = []", "ocf.ipv6_scopes", "at least one scope"),
    ("[policy]\nrules = [1]", "policy.rules[0]", "expected a table"),
    ('[[policy.rules]]\nname = "x"', "policy.rules[0].action", "required key missing"),
    ('[[policy.rules]]\naction = "deny"\n[[policy.rules]]\nacton = "deny"',
     "policy.rules[1].acton", "unknown key (did you mean action?)"),
    ('[[policy.rules]]\naction = "deny"\nside = "zigbee"', "policy.rules[0].side",
     'one of "any", "ocf", "alljoyn", "mqtt"'),
    ('[policy]\ndefault = "maybe"', "policy.default", "expected one of"),
])
def test_each_error_names_the_key_and_the_expectation(tmp_path: Path, text: str, key: str,
                                                      problem: str) -> None:
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.key == key
    assert problem in err.problem
    assert err.source == str(path)


def test_toml_syntax_error_has_line_information(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, '[ocf]\nenabled = true\nipv4 = \n'))
    assert err.problem.startswith("TOML syntax error")
    assert "line 3" in err.problem


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    assert "cannot read" in error_of(tmp_path / "absent.toml").problem
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[gateway]\nname = "caf\xe9"\n')
    assert "not UTF-8" in error_of(bad).problem


def test_choices_ignore_case_and_accept_the_number_5(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[gateway]\nlog_level = "DEBUG"\n[mqtt]\nprotocol = 5'),
                         {})
    assert config.gateway.log_level == "debug"
    assert config.mqtt.protocol == "5"


# --- environment and command line --------------------------------------------------------------

def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqtt]\nport = 1884\nenabled = true\nhost = \"a\"\n[ocf]\nipv4 = true")
    config = load_config(path, {"OCFAJ_MQTT_PORT": "8883", "OCFAJ_OCF_IPV4": "no",
                                "OCFAJ_MQTT_HOST": "b"})
    assert (config.mqtt.port, config.mqtt.host, config.ocf.ipv4) == (8883, "b", False)


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("1", True), ("yes", True), ("YES", True), ("on", True),
    ("false", False), ("0", False), ("no", False), (" No ", False), ("off", False),
])
def test_environment_booleans(text: str, value: bool) -> None:
    assert load_config(None, {"OCFAJ_OCF_OBSERVE": text}).ocf.observe is value


def test_environment_values_of_every_kind() -> None:
    config = load_config(None, {
        "OCFAJ_OCF_INTERFACES": "eth0, wlan0,",
        "OCFAJ_OCF_IPV6_SCOPES": "link,SITE",
        "OCFAJ_OCF_REQUEST_TIMEOUT": "2.5",
        "OCFAJ_ALLJOYN_BUS": "unix:path=/run/ajbus",
        "OCFAJ_MQTT_QOS": "2",
        "OCFAJ_MQTT_NAMES": "abc=Hall light, def=Porch",
        "OCFAJ_GATEWAY_MODELS_DIR": "",
        "OCFAJ_POLICY_DEFAULT": "read_only",
    })
    assert config.ocf.interfaces == ("eth0", "wlan0")
    assert config.ocf.ipv6_scopes == ("link", "site")
    assert config.ocf.request_timeout == 2.5
    assert config.alljoyn.bus == "unix:path=/run/ajbus"
    assert config.gateway.control_bus == "unix:path=/run/ajbus"
    assert config.mqtt.qos == 2
    assert config.mqtt.names == {"abc": "Hall light", "def": "Porch"}
    assert config.gateway.models_dir is None
    assert config.policy.default == "read_only"
    assert load_config(None, {"OCFAJ_OCF_INTERFACES": ""}).ocf.interfaces == ()


@pytest.mark.parametrize(("env", "key", "problem"), [
    ({"OCFAJ_MQTT_PORT": "abc"}, "mqtt.port", 'expected an integer, got the string "abc"'),
    ({"OCFAJ_MQTT_PORT": "99999"}, "mqtt.port", "from 1 to 65535"),
    ({"OCFAJ_OCF_OBSERVE": "maybe"}, "ocf.observe", "true or false"),
    ({"OCFAJ_OCF_REQUEST_TIMEOUT": "nan"}, "ocf.request_timeout", "expected a number"),
    ({"OCFAJ_MQTT_PROT": "5"}, "mqtt.prot", "unknown key (did you mean port?)"),
    ({"OCFAJ_MQTT_NAMES": "no-equals"}, "mqtt.names", "name=value pairs"),
    ({"OCFAJ_POLICY_RULES": "deny"}, "policy.rules", "only be set in the file"),
])
def test_environment_errors_name_key_and_variable(env: dict[str, str], key: str,
                                                  problem: str) -> None:
    err = error_of(None, env)
    assert err.key == key
    assert problem in err.problem
    assert err.source == f"environment variable {next(iter(env))}"


def test_unrelated_environment_is_ignored() -> None:
    env = {"OCFAJ_CONFIG": "/x.toml", "OCFAJ_NOSECTION_X": "1", "HOME": "/root",
           "ocfaj_mqtt_port": "x"}
    assert load_config(None, env) == load_config(None, {})


def test_precedence_file_then_environment_then_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[alljoyn]\nbus = \"session\"\ncall_timeout = 1.0\nsignal_batch = 7")
    env = {"OCFAJ_ALLJOYN_BUS": "unix:path=/env", "OCFAJ_ALLJOYN_CALL_TIMEOUT": "2.0"}
    config = load_config(path, env, ["alljoyn.bus=unix:path=/cli1", "alljoyn.bus=unix:path=/cli2"])
    assert config.alljoyn.bus == "unix:path=/cli2"
    assert config.alljoyn.call_timeout == 2.0
    assert config.alljoyn.signal_batch == 7


@pytest.mark.parametrize(("override", "key", "problem", "source"), [
    ("mqtt.port", "--set", "expected section.key=value", "command line (--set)"),
    ("port=1", "port", "expected section.key=value", "command line (--set port)"),
    ("=1", "--set", "expected section.key=value", "command line (--set)"),
    ("mqt.port=1", "mqt", "unknown section", "command line (--set mqt.port)"),
    ("mqtt.prot=1", "mqtt.prot", "unknown key", "command line (--set mqtt.prot)"),
    ("mqtt.port=x", "mqtt.port", "expected an integer", "command line (--set mqtt.port)"),
    ("mqtt.password=pw", "mqtt.password", "command line", "command line (--set mqtt.password)"),
])
def test_command_line_errors(override: str, key: str, problem: str, source: str) -> None:
    err = error_of(None, {}, (override,))
    assert err.key == key
    assert problem in err.problem
    assert err.source == source


SECRET = "hunter2-Zq9"


@pytest.mark.parametrize("override", [
    f"mqtt.password={SECRET}", f" mqtt.password = {SECRET}", f"mqtt.pasword={SECRET}",
    f"mqt.password={SECRET}", f"password={SECRET}", f"mqtt.password:{SECRET}", f"={SECRET}",
])
def test_command_line_errors_never_repeat_the_value(override: str) -> None:
    err = error_of(None, {}, (override,))
    assert SECRET not in f"{err} {err.key} {err.problem} {err.source}"



def test_mqtt_host_turns_mqtt_on_unless_enabled_is_explicit(tmp_path: Path) -> None:
    assert load_config(None, {"OCFAJ_MQTT_HOST": "broker"}).mqtt.enabled
    assert load_config(None, {}, ["mqtt.host=auto"]).mqtt.enabled
    assert not load_config(None, {"OCFAJ_MQTT_HOST": ""}).mqtt.enabled
    off = write(tmp_path, "[mqtt]\nenabled = false")
    assert not load_config(off, {"OCFAJ_MQTT_HOST": "broker"}).mqtt.enabled
    assert not load_config(None, {"OCFAJ_MQTT_HOST": "b", "OCFAJ_MQTT_ENABLED": "0"}).mqtt.enabled
    err = error_of(None, {"OCFAJ_MQTT_ENABLED": "true"})
    assert err.key == "mqtt.host"


# --- paths -------------------------------------------------------------------------------------

def test_relative_paths_resolve_against_the_file_directory(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc").mkdir()
    write(tmp_path / "etc", '[gateway]\nstate_dir = "state"\nmodels_dir = "../models"\n'
                 '[mqtt]\nca_file = "/abs/ca.pem"\ncert_file = ""')
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/config.toml"), {})
    assert config.gateway.state_dir == tmp_path / "etc" / "state"
    assert config.gateway.models_dir == tmp_path / "etc" / ".." / "models"
    assert config.mqtt.ca_file == Path("/abs/ca.pem")
    assert config.mqtt.cert_file is None


def test_paths_from_environment_resolve_against_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(None, {"OCFAJ_GATEWAY_STATE_DIR": "var"},
                         ["gateway.models_dir=~/models"])
    assert config.gateway.state_dir == tmp_path / "var"
    assert config.gateway.models_dir == tmp_path / "home" / "models"


# --- secrets -----------------------------------------------------------------------------------

def secrets(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = write(tmp_path, text, "secrets.toml")
    path.chmod(mode)
    return path


def test_secrets_file_supplies_credentials(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    secrets(tmp_path, 'username = "gw"\npassword = "s3cret"')
    path = write(tmp_path, '[mqtt]\nhost = "b"\nusername = "main"\nsecrets_file = "secrets.toml"')
    with caplog.at_level(logging.WARNING):
        config = load_config(path, {})
    assert (config.mqtt.username, config.mqtt.password) == ("gw", "s3cret")
    assert config.mqtt.secrets_file == tmp_path / "secrets.toml"
    assert "s3cret" not in repr(config)
    assert not caplog.records


def test_environment_wins_over_secrets_file(tmp_path: Path) -> None:
    secrets(tmp_path, 'username = "gw"\npassword = "s3cret"')
    path = write(tmp_path, '[mqtt]\nsecrets_file = "secrets.toml"')
    config = load_config(path, {"OCFAJ_MQTT_PASSWORD": "env", "OCFAJ_MQTT_USERNAME": "u"})
    assert (config.mqtt.username, config.mqtt.password) == ("u", "env")


def test_readable_secrets_file_is_warned_about(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    secrets(tmp_path, 'password = "s3cret"', mode=0o644)
    with caplog.at_level(logging.WARNING):
        config = load_config(None, {"OCFAJ_MQTT_SECRETS_FILE": str(tmp_path / "secrets.toml")})
    assert config.mqtt.password == "s3cret"
    assert any("readable by other users" in r.getMessage() and "chmod 600" in r.getMessage()
               for r in caplog.records)
    assert all("s3cret" not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("text", "key", "problem"), [
    ('token = "x"', "token", "only username, password, web_password_hash"),
    ("password = 5", "mqtt.password", "expected a string"),
    ("password = ", "mqtt.secrets_file", "TOML syntax error"),
])
def test_bad_secrets_file(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = secrets(tmp_path, text)
    err = error_of(None, {"OCFAJ_MQTT_SECRETS_FILE": str(path)})
    assert (err.key, problem in err.problem) == (key, True)
    assert "secrets.toml" in err.source or "OCFAJ_MQTT_SECRETS_FILE" in err.source


@pytest.mark.parametrize(("text", "env"), [
    (f"password = {len(SECRET)}", {}),
    (f"password = [\"{SECRET}\"]", {}),
    (f"password = {{ value = \"{SECRET}\" }}", {}),
    ('password = "ok"', {"OCFAJ_MQTT_PASWORD": SECRET}),
])
def test_secret_errors_never_repeat_the_value(tmp_path: Path, text: str,
                                              env: dict[str, str]) -> None:
    path = secrets(tmp_path, text)
    err = error_of(None, {"OCFAJ_MQTT_SECRETS_FILE": str(path), **env})
    assert SECRET not in str(err) and str(len(SECRET)) not in err.problem
    if not env:
        assert err.key == "mqtt.password" and "is not shown" in err.problem


SECRET_LIKE = ("password", "passwd", "passphrase", "secret", "token", "psk", "api_key",
               "private_key", "credential")


def test_every_secret_like_key_is_marked_secret() -> None:
    """A secret-like key that is not marked would be echoed in error messages (a ``*_file``
    key names the file that holds a secret: its path is not one)."""
    for section, cls in SECTIONS.items():
        for fld in dataclasses.fields(cls):
            if (any(word in fld.name.lower() for word in SECRET_LIKE)
                    and not fld.name.endswith("_file")):
                assert is_secret(fld), f"{section}.{fld.name} must be field(metadata=secret)"
    marked = [f"{s}.{f.name}" for s, c in SECTIONS.items() for f in dataclasses.fields(c)
              if is_secret(f)]
    assert marked == ["mqtt.password", "web.password_hash"]


def test_missing_secrets_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nsecrets_file = "nope.toml"')
    err = error_of(path)
    assert err.key == "mqtt.secrets_file"
    assert str(tmp_path / "nope.toml") in err.problem


# --- robustness --------------------------------------------------------------------------------

KNOWN = sorted({*SECTIONS, "bogus"})
KEYS = sorted({f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)} | {"zz"})
WORDS = st.sampled_from(["", "system", "auto", "link", "5", "info", "coap://h:1", "a/b",
                         "~", "allow", "x=y", "1,2", "0.0.0.0", "deny", "~nosuchuser/x"])
SCALARS = st.one_of(st.booleans(), st.integers(-2**70, 2**70), st.floats(), WORDS,
                    st.text(max_size=8), st.dates())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["action", "side", "id", "name", "x"]), inner, max_size=3)),
    max_leaves=6)
DATA = st.dictionaries(
    st.sampled_from(KNOWN),
    st.one_of(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6), SCALARS),
    max_size=4)


@settings(max_examples=300, deadline=None)
@given(data=DATA, env=st.dictionaries(
    st.sampled_from([f"OCFAJ_{s.upper()}_{k.upper()}" for s in KNOWN for k in KEYS[:12]]),
    st.one_of(WORDS, st.text(max_size=6)), max_size=3))
def test_any_toml_like_input_gives_config_or_config_error(data: dict[str, Any],
                                                          env: dict[str, str]) -> None:
    try:
        result = parse_config(data, env=env)
    except ConfigError as err:
        assert err.key or err.problem
    else:
        assert isinstance(result, Config)


def test_os_environ_is_the_default_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "OCFAJ_GATEWAY_NAME", "from-env")
    assert load_config(None).gateway.name == "from-env"
