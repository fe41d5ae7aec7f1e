"""A flood of CoAP datagrams that aiocoap cannot decode (issue 9): aiocoap raises
``UnicodeDecodeError`` inside its receive path for a Uri-Path that is not UTF-8, and asyncio
would log a full traceback for each. The gateway logs one concise line per kind of error per
minute instead, and keeps answering."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from urllib.parse import urlsplit

import pytest
from aiocoap import Context

from bridge.daemon.loop_errors import LoopErrorReporter
from tests.e2e.conftest import Rig
from tests.e2e.ocf_client import dotted, request
from tests.e2e.waiting import virtual_ocf_device

DATAGRAMS = 200


def bad_uri_path(mid: int) -> bytes:
    """A confirmable GET whose one Uri-Path option (11) holds bytes that are not UTF-8."""
    header = struct.pack("!BBH", 0x40, 0x01, mid)  # version 1, CON, no token; GET
    return header + bytes([(11 << 4) | 2]) + b"\xff\xfe"


async def test_undecodable_datagrams_are_logged_once_and_the_gateway_keeps_answering(
        rig: Rig, coap: Context) -> None:
    await rig.alljoyn_sim("Thermo", "thermostat")
    gateway = await rig.start_gateway(overrides={"gateway": {"log_level": "info"}})
    device = await virtual_ocf_device(coap, "Thermo", rig)
    endpoint = urlsplit(device.base)
    assert endpoint.hostname is not None and endpoint.port is not None

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for mid in range(DATAGRAMS):
            sender.sendto(bad_uri_path(mid), (endpoint.hostname, endpoint.port))
            if mid % 20 == 0:
                await asyncio.sleep(0.01)  # let the gateway read them as they come
        response = await request(coap, "GET", device.uri("oic.r.temperature"))
        assert dotted(response) == "2.05", rig.logs()

    log = gateway.log()
    assert log.count("UnicodeDecodeError") == 1, rig.logs()
    assert "Traceback" not in log, rig.logs()


async def test_repeats_are_counted_and_reported_when_the_interval_ends(
        caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(LoopErrorReporter(interval=0.3))

    def undecodable() -> None:
        b"\xff".decode()

    def other() -> None:
        raise KeyError("x")

    try:
        with caplog.at_level(logging.DEBUG, "ocfaj.loop"):
            for _ in range(50):
                loop.call_soon(undecodable)
            loop.call_soon(other)
            await asyncio.sleep(0.05)
            errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
            assert len(errors) == 2, errors
            assert "UnicodeDecodeError" in errors[0] and "KeyError" in errors[1]
            # At debug level, the traceback of each reported error (and only of those).
            assert sum("Traceback" in r.getMessage() for r in caplog.records) == 2
            await asyncio.sleep(0.5)
            summaries = [r.getMessage() for r in caplog.records if "more times" in r.getMessage()]
            assert len(summaries) == 1 and "UnicodeDecodeError" in summaries[0], summaries
            assert ": 49 more times" in summaries[0]
    finally:
        loop.set_exception_handler(previous)
