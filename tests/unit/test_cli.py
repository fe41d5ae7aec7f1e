"""The ``ocfaj`` command line: check-config exit codes (as a real subprocess), the models and
config-reference commands, the config options command modules share, and the log format."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.daemon import cli
from bridge.daemon.config_reference import config_reference_markdown
from bridge.daemon.logging_setup import setup_logging

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    own = logging.getLogger("bridge")
    saved = (list(root.handlers), root.level, own.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    own.setLevel(saved[2])


def run_ocfaj(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OCFAJ_")}
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True,
                          text=True, env={**clean, **(env or {})}, cwd=ROOT, check=False)


# --- check-config as a subprocess --------------------------------------------------------------

def test_check_config_accepts_the_example() -> None:
    # The example discovers on eth0; the test's network namespace has only lo.
    done = run_ocfaj("check-config", "examples/config.toml", "--set", "ocf.interfaces=lo")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "examples/config.toml: OK"
    assert "mqtt     enabled: broker.lan:8883" in done.stdout
    assert "policy   default allow, 2 rule(s)" in done.stdout


def test_check_config_reports_the_key_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[mqtt]\nport = 70000\n")
    done = run_ocfaj("check-config", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"{path}: mqtt.port: expected an integer from 1 to 65535, got 70000\n"


def test_check_config_reports_toml_syntax_with_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[ocf]\nenabled = true\n[mqtt\n")
    done = run_ocfaj("check-config", str(path))
    assert done.returncode == 2
    assert done.stderr.startswith(f"{path}: TOML syntax error: ")
    assert "line 3" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_config_names_the_environment_variable(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("")
    done = run_ocfaj("check-config", str(path), env={"OCFAJ_OCF_IPV4": "maybe"})
    assert done.returncode == 2
    assert done.stderr == (f"{path}: ocf.ipv4: expected true or false, got the string \"maybe\""
                           " (from environment variable OCFAJ_OCF_IPV4)\n")


# --- commands in process -----------------------------------------------------------------------

def test_check_config_summary_follows_overrides(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[ocf]\nenabled = false\n")
    assert cli.main(["check-config", str(path), "--set", "mqtt.host=broker",
                     "--set", "alljoyn.bus=session"]) == 0
    out = capsys.readouterr().out
    assert "ocf      disabled" in out
    assert "alljoyn  enabled on bus session" in out
    assert "mqtt     enabled: broker:1883" in out


def test_check_config_never_prints_the_password(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.toml").write_text('username = "gw"\npassword = "s3cret"\n')
    (tmp_path / "s.toml").chmod(0o600)
    path = tmp_path / "c.toml"
    path.write_text('[mqtt]\nhost = "b"\nsecrets_file = "s.toml"\n')
    assert cli.main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert "user gw" in captured.out
    assert "s3cret" not in captured.out + captured.err


def test_models_table_json_and_markdown(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "DEFAULT_CONFIG_PATH", Path("/nonexistent/config.toml"))
    monkeypatch.delenv("OCFAJ_CONFIG", raising=False)
    assert cli.main(["models"]) == 0
    assert "oic.r.switch.binary" in capsys.readouterr().out
    assert cli.main(["models", "--json"]) == 0
    catalogue = json.loads(capsys.readouterr().out)
    assert any(cap["id"] == "battery" for cap in catalogue["capabilities"])
    assert cli.main(["models", "--markdown"]) == 0
    assert capsys.readouterr().out.startswith("#")


def test_models_error_is_one_line_and_exit_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["models", "--models-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ocfaj: model error: ")
    assert err.count("\n") == 1


def test_config_error_in_other_commands_is_clean(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[gateway]\nnme = 1\n")
    assert cli.main(["models", "--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"ocfaj: {path}: gateway.nme: unknown key (did you mean name?)\n")


def test_config_reference_prints_the_doc(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config-reference"]) == 0
    assert capsys.readouterr().out == config_reference_markdown()


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "check-config" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["frobnicate"])
    assert caught.value.code == 2


# --- what command modules use ------------------------------------------------------------------

def demo_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    cli.add_config_options(parser, bus_key="alljoyn.bus")
    return parser


def test_specific_flags_win_over_set_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[alljoyn]\nbus = "session"\n')
    args = demo_parser().parse_args(["--config", str(path), "--set", "alljoyn.bus=system",
                                     "--bus", "unix:path=/x", "--log-level", "warning"])
    config = cli.config_from_args(args, env={"OCFAJ_ALLJOYN_BUS": "session"})
    assert config.alljoyn.bus == "unix:path=/x"
    assert config.gateway.log_level == "warning"
    assert config.source == path


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[gateway]\nname = "hall"\n')
    args = demo_parser().parse_args([])
    assert cli.config_from_args(args, env={"OCFAJ_CONFIG": str(path)}).gateway.name == "hall"


@pytest.mark.parametrize("argv", [
    ["--log-level", "debug", "models", "--config", "CONFIG"],
    ["models", "--config", "CONFIG", "--log-level", "DEBUG"],
])
def test_log_level_before_or_after_the_command(tmp_path: Path, argv: list[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[gateway]\nlog_level = "error"\n')
    seen: list[str] = []
    monkeypatch.setattr(cli, "setup_logging",
                        lambda level, **kwargs: seen.append(level))
    assert cli.main([str(path) if a == "CONFIG" else a for a in argv]) == 0
    assert seen[-1] == "debug"


def test_command_modules_register_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    module = types.ModuleType("fake_hello_command")

    def add_parser(subparsers: cli.Subparsers) -> None:
        parser = subparsers.add_parser("hello", help="say hello")
        cli.add_config_options(parser)
        parser.set_defaults(handler=lambda args: print("hello", args.overrides) or 7)

    module.add_parser = add_parser  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_hello_command", module)
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("fake_hello_command",))
    assert cli.main(["hello", "--set", "a.b=c"]) == 7
    assert capsys.readouterr().out == "hello ['a.b=c']\n"


# --- log format --------------------------------------------------------------------------------

def test_log_lines_read_time_level_component_message() -> None:
    stream = io.StringIO()
    setup_logging("info", stream=stream)
    logging.getLogger("bridge.ocf.discovery").info("Hall light (di %s) found", "2f0c")
    logging.getLogger("bridge.ocf.discovery").debug("hidden")
    logging.getLogger("aiocoap.messagemanager").info("library chatter")
    logging.getLogger("aiocoap.messagemanager").warning("library warning")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO ocf\.discovery: "
                        r"Hall light \(di 2f0c\) found", lines[0])
    assert lines[1].endswith("WARNING aiocoap.messagemanager: library warning")


def test_log_setup_replaces_itself_and_can_drop_timestamps() -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging("info", stream=first)
    setup_logging("debug", timestamps=False, stream=second)
    logging.getLogger("bridge.mqtt").debug("queued 3 messages")
    assert first.getvalue() == ""
    assert second.getvalue() == "DEBUG mqtt: queued 3 messages\n"
    with pytest.raises(ValueError, match="loud"):
        setup_logging("loud")


# --- clear errors instead of tracebacks (issue 14 point 11) ------------------------------------

def no_bus_env(**extra: str) -> dict[str, str]:
    """The environment without any session bus, and with a system bus socket that is missing."""
    return {"DBUS_SESSION_BUS_ADDRESS": "", "DISPLAY": "",
            "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/ocfaj/system_bus_socket",
            **extra}


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["simulate", "--scenario"], ["demo", "--scenario"]])
def test_a_missing_scenario_is_one_line(command: list[str]) -> None:
    line = one_error_line(run_ocfaj(*command, "garden"))
    assert line == ("ocfaj: garden: no such file, and no shipped scenario has this name; give a "
                    "scenario file or one of: flaky, home, scale")


@pytest.mark.parametrize("command", [["simulate", "--scenario"], ["demo", "--scenario"]])
def test_a_broken_scenario_is_one_line(tmp_path: Path, command: list[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[device]]\nname = "Lamp"\nside = "zigbee"\nmodel = "light"\n')
    line = one_error_line(run_ocfaj(*command, str(bad)))
    assert line == f"ocfaj: {bad}: device[0].side: 'ocf' or 'alljoyn' is expected, got 'zigbee'"
    bad.write_text("[[device]\n")
    assert "not valid TOML" in one_error_line(run_ocfaj(*command, str(bad)))


def test_simulate_alljoyn_without_a_session_bus_is_one_line() -> None:
    line = one_error_line(run_ocfaj("simulate", "alljoyn", env=no_bus_env()))
    assert line.startswith("ocfaj: no session bus: DBUS_SESSION_BUS_ADDRESS is not set; ")
    assert "dbus-run-session" in line


def test_demo_on_a_missing_session_bus_is_one_line() -> None:
    done = run_ocfaj("demo", "--bus", "session", "--plain", env=no_bus_env())
    line = one_error_line(done)
    assert line.startswith("ocfaj: no session bus: DBUS_SESSION_BUS_ADDRESS is not set; ")


def test_a_missing_system_bus_names_its_socket() -> None:
    line = one_error_line(run_ocfaj("simulate", "alljoyn", "--bus", "system",
                                    env=no_bus_env()))
    assert line == ("ocfaj: cannot connect to the system bus (socket "
                    "/nonexistent/ocfaj/system_bus_socket): the socket does not exist; is dbus "
                    "running? (systemctl status dbus) Or choose another bus.")
    done = run_ocfaj("devices", "--bus", "system", env=no_bus_env())
    assert "socket /nonexistent/ocfaj/system_bus_socket" in one_error_line(done)


# --- check-config checks the machine, and run agrees (issue 14 point 12) -----------------------

MACHINE_CASES = [
    ("[gateway]\nmodels_dir = \"no-models\"\n",
     "gateway.models_dir: {dir}/no-models does not exist"),
    ("[gateway]\nmodels_dir = \"empty\"\n",
     "gateway.models_dir: {dir}/empty: {dir}/empty/capabilities: expected a directory of "
     "capabilities model files, found none"),
    ("[ocf]\ninterfaces = [\"lo\", \"eth9\"]\n",
     "ocf.interfaces: no network interface 'eth9' on this machine (present: lo)"),
    ("[mqtt]\nhost = \"broker\"\ntls = true\nca_file = \"ca.pem\"\n",
     "mqtt.ca_file: {dir}/ca.pem does not exist"),
    ("[mqtt]\nhost = \"broker\"\ntls = true\nca_file = \"garbage.pem\"\n",
     "mqtt.ca_file: cannot load CA certificates: "),
]


@pytest.mark.parametrize(("text", "expected"), MACHINE_CASES,
                         ids=["models_dir", "empty_models", "interface", "ca_file", "bad_ca"])
def test_check_config_checks_what_the_values_name(tmp_path: Path, text: str,
                                                   expected: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    path = tmp_path / "c.toml"
    path.write_text(text)
    done = run_ocfaj("check-config", str(path))
    assert done.returncode == 2, done.stdout
    assert done.stdout == ""
    assert done.stderr.startswith(f"{path}: " + expected.format(dir=tmp_path)), done.stderr


@pytest.mark.parametrize(("text", "expected"), MACHINE_CASES[:4],
                         ids=["models_dir", "empty_models", "interface", "ca_file"])
def test_run_refuses_the_same_settings_with_key_and_value(tmp_path: Path, text: str,
                                                          expected: str) -> None:
    (tmp_path / "empty").mkdir()
    path = tmp_path / "c.toml"
    path.write_text(text + f'[alljoyn]\nenabled = false\n[gateway]\nstate_dir = "{tmp_path}"\n'
                    if "[gateway]" not in text else
                    text + f'state_dir = "{tmp_path}"\n[alljoyn]\nenabled = false\n')
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OCFAJ_")}
    done = subprocess.run([sys.executable, "-m", "bridge", "run", "--config", str(path)],
                          capture_output=True, text=True, env=clean, cwd=ROOT, timeout=60,
                          check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"ocfaj: {path}: " + expected.format(dir=tmp_path) + "\n"
