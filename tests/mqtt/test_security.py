"""TLS, client certificates and passwords against a real mosquitto; no plaintext fallback."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from bridge.core.errors import ConfigError
from bridge.sim.testing.mosquitto import Mosquitto, MosquittoFactory
from bridge.sim.testing.procs import await_until
from tests.mqtt.conftest import RecorderFactory, SideFactory, connected
from tests.mqtt.pki import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    # One set for the module: the tests only read the files, and four RSA keys per test cost
    # seconds each on a loaded machine.
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_lines(pki: Pki, *, require_certificate: bool = False) -> str:
    lines = [f"cafile {pki.ca}", f"certfile {pki.server_cert}", f"keyfile {pki.server_key}"]
    if require_certificate:
        lines += ["require_certificate true"]
    return "\n".join(lines)


def password_file(tmp_path: Path, user: str, password: str) -> Path:
    path = tmp_path / "passwords"
    path.touch(mode=0o600)
    subprocess.run(["mosquitto_passwd", "-b", str(path), user, password], check=True,
                   capture_output=True)
    return path


async def online(recorder_factory: RecorderFactory, broker: Mosquitto, **kwargs: object) -> None:
    rec = await recorder_factory(broker, **kwargs)
    await rec.wait_last("ocfaj/bridge/state", {"state": "online"})



@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_tls_with_password(protocol: str, tmp_path: Path, pki: Pki,
                                 mosquitto_factory: MosquittoFactory,
                                 recorder_factory: RecorderFactory,
                                 side_factory: SideFactory) -> None:
    passwords = password_file(tmp_path, "gateway", "s3cret")
    # TLS listener for the gateway, plain listener for the test's own recorder.
    broker = mosquitto_factory(tls_lines(pki) + f"\npassword_file {passwords}", listeners=[""],
                               allow_anonymous=False)
    side = await side_factory(broker, protocol=protocol, tls=True, ca_file=pki.ca,
                              username="gateway", password="s3cret")
    await connected(side)
    await online(recorder_factory, broker, port=broker.ports[1], username="gateway",
                 password="s3cret")


async def test_wrong_password_is_refused(tmp_path: Path, pki: Pki,
                                         mosquitto_factory: MosquittoFactory,
                                         recorder_factory: RecorderFactory,
                                         side_factory: SideFactory) -> None:
    passwords = password_file(tmp_path, "gateway", "s3cret")
    broker = mosquitto_factory(f"password_file {passwords}", allow_anonymous=False)
    rec = await recorder_factory(broker, username="gateway", password="s3cret")
    side = await side_factory(broker, username="gateway", password="wrong")
    await await_until(lambda: "refused" in side.status()["last_error"], 10)
    assert not side.status()["connected"]
    anonymous = await side_factory(broker, client_id="anon")
    await await_until(lambda: "refused" in anonymous.status()["last_error"], 10)
    await asyncio.sleep(1)
    assert rec.under("ocfaj/") == []


async def test_client_certificate(pki: Pki, mosquitto_factory: MosquittoFactory,
                                  recorder_factory: RecorderFactory,
                                  side_factory: SideFactory) -> None:
    broker = mosquitto_factory(tls_lines(pki, require_certificate=True), listeners=[""])
    side = await side_factory(broker, tls=True, ca_file=pki.ca, cert_file=pki.client_cert,
                              key_file=pki.client_key)
    await connected(side)
    await online(recorder_factory, broker, port=broker.ports[1])
    without = await side_factory(broker, tls=True, ca_file=pki.ca, client_id="no-cert")
    await await_until(lambda: without.status()["last_error"] != "", 10)
    assert not without.status()["connected"]


async def test_tls_never_falls_back_to_plaintext(pki: Pki, mosquitto_factory: MosquittoFactory,
                                                 recorder_factory: RecorderFactory,
                                                 side_factory: SideFactory) -> None:
    broker = mosquitto_factory()  # plaintext only
    rec = await recorder_factory(broker)
    side = await side_factory(broker, tls=True, ca_file=pki.ca)
    await await_until(lambda: side.status()["last_error"] != "", 10)
    tls_broker = mosquitto_factory(tls_lines(pki))
    untrusted = await side_factory(tls_broker, tls=True, ca_file=pki.other_ca,
                                   client_id="wrong-ca")
    await await_until(lambda: "CERTIFICATE_VERIFY_FAILED" in untrusted.status()["last_error"]
                      or "certificate verify failed" in untrusted.status()["last_error"], 10)
    await asyncio.sleep(1.5)  # several reconnect attempts
    assert not side.status()["connected"] and not untrusted.status()["connected"]
    assert rec.under("ocfaj/") == []


async def test_unreadable_tls_files_are_a_start_error(tmp_path: Path,
                                                      side_factory: SideFactory) -> None:
    with pytest.raises(ConfigError, match=r"mqtt\.ca_file"):
        await side_factory(None, tls=True, ca_file=tmp_path / "missing.pem")
