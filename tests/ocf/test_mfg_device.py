"""The simulated secured device with a manufacturer certificate, on loopback with real UDP:
it offers oxms [1, 2], serves the certificate suite once oxmsel 2 is selected, owned by
certificate it is provisioned as after Random PIN, and a certificate session someone else
opened during RFOTM gets nothing once the device is owned (issue 16.5)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge.core.errors import DeviceError
from bridge.model.types import Catalogue
from bridge.ocf import dtls, dtls_lib, onboarding, svr
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import Endpoint, parse_endpoint
from bridge.ocf.mfg_trust import DeviceCertificate, TrustAnchors
from bridge.sim.device import SimDevice
from bridge.sim.ocf import SimListing
from bridge.sim.ocf_secure import SecureOcfSimServer
from bridge.sim.testing.pki import TestPki

GATEWAY = uuid.UUID(bytes=bytes(range(0xE1, 0xF1)))


def ep(scheme: str, port: int) -> Endpoint:
    endpoint = parse_endpoint(f"{scheme}://[::1]:{port}")
    assert endpoint is not None
    return endpoint


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return TestPki(tmp_path / "pki")


@pytest.fixture
async def device(catalogue: Catalogue, pki: TestPki
                 ) -> AsyncIterator[tuple[SecureOcfSimServer, dict[str, Any]]]:
    files = pki.device("lamp")
    server = SecureOcfSimServer(SimDevice.of_type("Lamp", catalogue, "light"),
                                SimListing(multicast=False), bind_host="::1",
                                certificate=DeviceCertificate.load(files.cert, files.key,
                                                                   files.chain))
    facts = dict(await server.start())
    yield server, facts
    await server.stop()


def certificate_client(anchors: TrustAnchors) -> OcfClient:
    def check(session: dtls.DtlsSession) -> None:
        anchors.verify("lamp", session.peer_certificates())

    return OcfClient(5.0, 65536, dtls_context=dtls.client_context(
        lambda _s, _h: None, ciphers=dtls_lib.CERT_CIPHERS, check_peer=check))


async def test_owned_by_certificate_and_a_stray_session_gets_nothing(
        device: tuple[SecureOcfSimServer, dict[str, Any]], pki: TestPki) -> None:
    server, facts = device
    assert facts["oxms"] == [svr.RANDOM_PIN, svr.MFG_CERT]
    plain, secure = ep("coap", facts["port"]), ep("coaps", facts["coaps_port"])
    anchors = TrustAnchors.load(pki.anchors)
    stranger = certificate_client(anchors)
    await stranger.start()
    try:
        await onboarding.select_method(plain, svr.MFG_CERT)
        # Now anyone may open the ownership session (the method has no PIN) ...
        assert (await stranger.get(secure, svr.DOXM))["oxmsel"] == svr.MFG_CERT
        # ... and the owner that verifies the chain owns the device.
        owned = await onboarding.take_ownership_by_certificate(
            plain, secure, anchors, GATEWAY,
            {facts["hrefs"]["switch"]: svr.READ | svr.UPDATE | svr.NOTIFY})
        assert owned.method == svr.MFG_CERT
        assert server.security.state == svr.DeviceState.RFNOP
        assert server.security.devowner == GATEWAY and server.security.device == owned.uuid
        # The stranger's session, opened in RFOTM, is no ownership session any more.
        with pytest.raises(DeviceError) as refused:
            await stranger.get(secure, svr.CRED)
        assert refused.value.code == 403
        with pytest.raises(DeviceError) as refused:
            await stranger.get(secure, facts["hrefs"]["switch"])
        assert refused.value.code == 403
    finally:
        await stranger.shutdown()
    # The owner's PSK, derived from the certificate session, opens the device's resources.
    owner = OcfClient(5.0, 65536, keyring=Keyring(GATEWAY, {owned.uuid: owned.key}))
    await owner.start()
    try:
        assert "value" in await owner.get(secure, facts["hrefs"]["switch"])
    finally:
        await owner.shutdown()
