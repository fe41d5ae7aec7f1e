"""Issue 20 point 4: the ``[web]`` section is safe by default, and the password is kept only
as a hash."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.core.errors import ConfigError
from bridge.daemon.config import load_config, parse_config
from bridge.web.config import WebConfig, is_loopback
from bridge.web.passwords import hash_problem, make_hash, verify


def test_off_by_default_and_on_loopback() -> None:
    config = parse_config({}, env={})
    assert config.web.enabled is False
    assert config.web.bind == "127.0.0.1" and is_loopback(config.web.bind)


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.168.1.5"])
def test_off_loopback_without_password_is_refused(bind: str) -> None:
    with pytest.raises(ConfigError, match=r"web\.bind: .*without a password"):
        parse_config({"web": {"enabled": True, "bind": bind}}, env={})


@pytest.mark.parametrize(("settings", "served", "link"), [
    # The address the page is served on, with its real port (port 0 picks one).
    ({"bind": "127.0.0.1"}, "http://127.0.0.1:41234/", "http://127.0.0.1:41234/"),
    ({"bind": "192.168.1.5"}, "http://192.168.1.5:8080/", "http://192.168.1.5:8080/"),
    # Every interface names no address a person can open: only public_url gives one.
    ({"bind": "0.0.0.0"}, "http://127.0.0.1:8080/", ""),
    ({"bind": "::"}, "http://[::1]:8080/", ""),
    ({"bind": "0.0.0.0", "public_url": "https://gw.example.net/"}, "http://127.0.0.1:8080/",
     "https://gw.example.net/"),
    ({"bind": "127.0.0.1", "public_url": "https://proxy.lan/ocfaj/"},
     "http://127.0.0.1:8080/", "https://proxy.lan/ocfaj/"),
    # A page that is not served (off, or it failed to start) has no link.
    ({"bind": "127.0.0.1", "public_url": "https://gw.example.net/"}, "", ""),
    ({"enabled": False, "public_url": "https://gw.example.net/"}, "http://127.0.0.1:8080/",
     ""),
])
def test_the_link_home_assistant_gets(settings: dict[str, object], served: str,
                                      link: str) -> None:
    config = WebConfig(**{"enabled": True, **settings})  # type: ignore[arg-type]
    assert config.link(served) == link


@pytest.mark.parametrize("url", ["gw.lan:8080", "ftp://gw.lan/", "http://", "/web"])
def test_a_public_url_must_be_an_http_address(url: str) -> None:
    with pytest.raises(ConfigError, match=r"web\.public_url: expected an http:// or https://"):
        parse_config({"web": {"public_url": url}}, env={})


def test_off_loopback_with_a_hash_from_the_secrets_file(tmp_path: Path) -> None:
    line = make_hash("correct horse battery")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'web_password_hash = "{line}"\n')
    secrets.chmod(stat.S_IRUSR | stat.S_IWUSR)
    main = tmp_path / "config.toml"
    main.write_text('[mqtt]\nsecrets_file = "secrets.toml"\n[web]\nenabled = true\n'
                    'bind = "0.0.0.0"\n')
    config = load_config(main, env={})
    assert config.web.auth_required and config.web.password_hash == line
    assert line not in repr(config)


def test_a_plain_password_is_not_accepted_as_the_hash() -> None:
    with pytest.raises(ConfigError, match="not shown"):
        parse_config({}, env={"OCFAJ_WEB_PASSWORD_HASH": "hunter22"})


def test_hash_round_trip() -> None:
    line = make_hash("correct horse battery")
    assert hash_problem(line) is None and "correct" not in line
    assert verify("correct horse battery", line)
    assert not verify("correct horse batterz", line)
    assert line != make_hash("correct horse battery")  # salted


def test_ocfaj_run_refuses_to_start_off_loopback_without_password(tmp_path: Path) -> None:
    main = tmp_path / "config.toml"
    main.write_text(f'[gateway]\nstate_dir = "{tmp_path}/state"\n[web]\nenabled = true\n'
                    'bind = "0.0.0.0"\n')
    done = subprocess.run([sys.executable, "-m", "bridge", "run", "--config", str(main)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "web.bind" in done.stderr and "without a password" in done.stderr


def test_web_password_prints_only_the_hash(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bridge", "web-password"],
                          input="correct horse battery\n", capture_output=True, text=True,
                          timeout=60, check=True)
    assert "correct horse" not in done.stdout
    key, _, value = done.stdout.strip().partition(" = ")
    assert key == "web_password_hash"
    assert verify("correct horse battery", value.strip('"'))
