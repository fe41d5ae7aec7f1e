"""Each benchmark runs once at a tiny size and produces sane numbers with nothing lost.

No timing assertion here: speed is judged by ``scripts/bench`` and docs/benchmarks.md, never by
the test suite. The tests run inside the suite's private network namespace (tests/conftest.py),
which the scale benchmark's namespaces need.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench import hass, latency, notify, profile, replay, scale
from bench.__main__ import BEGIN, END, render, write_document
from bench.stats import Report, percentile

pytestmark = pytest.mark.timeout(300)


def _finite_positive(report: Report, unit: str) -> list[float]:
    # "added" latencies are differences and may rightly be negative (cached reads).
    values = [r.value for r in report.rows if r.unit == unit and "added" not in r.metric]
    assert values, f"{report.name} produced no {unit} rows"
    assert all(math.isfinite(v) and v > 0 for v in values), report.rows
    return values


def test_latency_measures_every_operation(tmp_path: Path) -> None:
    report = latency.run(tmp_path, "tiny")
    values = _finite_positive(report, "ms")
    assert len(values) == 16  # p50 and p99 of 4 raw and 4 bridged operations
    assert all(not math.isnan(r.baseline) for r in report.rows if "added" not in r.metric
               and not r.metric.startswith("raw"))


def test_notify_loses_nothing_on_the_wire_that_must_carry_everything(tmp_path: Path) -> None:
    report = notify.run(tmp_path, "tiny")
    _finite_positive(report, "notif/s")
    for row in report.rows:
        if ": lost at" in row.metric and "AllJoyn -> OCF" not in row.metric:
            assert row.value == 0, row
        if ": last state at" in row.metric:
            assert row.value == 1, row


def test_scale_exposes_devices_and_reads_memory(tmp_path: Path) -> None:
    report = scale.run(tmp_path, "tiny")
    assert report.value("start-up to READY") > 0
    assert 5 < report.value("idle RSS, no devices") < 1000
    assert report.value("2+2 devices: all exposed") > 0


def test_replay_drains_the_outbox_without_loss(tmp_path: Path) -> None:
    report = replay.run(tmp_path, "tiny")
    assert report.lost == 0
    assert report.value("lost messages") == 0
    assert report.value("replay rate") > 0


def test_hass_times_every_entity_of_bridged_devices(tmp_path: Path) -> None:
    # Real Home Assistant (tests/hass's cached install) and 10 simulated AllJoyn lights.
    report = hass.run(tmp_path, "tiny")
    [visible] = [r for r in report.rows if r.metric.endswith("all entities in Home Assistant")]
    # Ten lights and the gateway's five entities; the last-seen sensors are disabled.
    assert visible.note == "15 entities", visible
    assert visible.value > 0
    assert report.value("10 bridged devices: gateway's last discovery sent") > 0


def test_profile_samples_the_gateway(tmp_path: Path) -> None:
    report = profile.run(tmp_path, "tiny")
    assert report.value("samples") >= 1


def test_profile_get_samples_the_gateway_answering_gets(tmp_path: Path) -> None:
    from bench import profile_get

    report = profile_get.run(tmp_path, "tiny")
    assert report.value("samples") >= 1
    assert report.value("profiled GET rate (50 in flight)") > 0
    assert any("aiocoap" in note or "bridge" in note for note in report.notes)


def test_secure_measures_handshakes_gets_memory_and_the_restart(tmp_path: Path) -> None:
    from bench import secure

    report = secure.run(tmp_path, "tiny")
    _finite_positive(report, "ms")
    _finite_positive(report, "req/s")
    assert report.value("4 secured devices: all bridged after restart") > 0
    assert report.value("4 secured, restart: devices not bridged within 120 s") == 0
    assert all(not math.isnan(r.baseline) for r in report.rows if ": coaps GET" in r.metric)


def test_document_keeps_the_hand_written_parts(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nanalysis before\n\n{BEGIN}\nold\n{END}\n\nafter\n")
    report = Report("x")
    report.add("thing", 1.5, "ms", target="<= 2 ms", met=True)
    write_document(render([report], "tiny", 1.0, {}), doc)
    text = doc.read_text()
    assert "analysis before" in text and "after" in text and "old" not in text
    assert "| x | thing | 1.50 | - | ms |" in text


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert percentile(list(map(float, range(1, 101))), 0.99) == 99.0
    assert math.isnan(percentile([], 0.5))


def test_web_benchmark_measures_memory_and_the_device_list() -> None:
    from bench import web

    result = web.measure(20)
    assert result["devices"] == 20
    assert result["rss_with_mib"] > result["rss_without_mib"] > 0
    assert 0 < result["list_ms_median"] <= result["list_ms_max"]
    assert result["list_kib"] > 0


def test_only_keeps_the_rows_and_notes_of_the_benchmarks_not_run(tmp_path: Path) -> None:
    from bench.__main__ import kept_parts

    old = Report("latency")
    old.add("raw CoAP GET p50", 0.5, "ms")
    old.notes.append("latency note")
    replaced = Report("c_anchor")
    replaced.add("old figure", 9.0, "req/s")
    replaced.notes.append("old anchor note")
    doc = tmp_path / "benchmarks.md"
    write_document(render([old, replaced], "tiny", 1.0, {}), doc)
    new = Report("c_anchor")
    new.add("new figure", 7.0, "req/s")
    write_document(render([new], "tiny", 1.0, {}, kept_parts(doc.read_text(), {"c_anchor"})),
                   doc)
    text = doc.read_text()
    assert "| latency | raw CoAP GET p50 | 0.50 | - | ms |" in text and "latency note" in text
    assert "| c_anchor | new figure | 7.00 |" in text
    assert "old figure" not in text and "old anchor note" not in text
    assert text.count("| benchmark | metric |") == 1


def test_raw_udp_load_generator_measures_a_plain_aiocoap_server() -> None:
    import asyncio
    import subprocess
    import sys

    from bench.coap_load import CoapLoad
    from bridge.sim.testing.procs import free_udp_port

    async def scenario() -> None:
        port = free_udp_port()
        payload = bytes(range(40))
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.aiocoap_server", str(port), "/a/longer-segment-name",
            payload.hex(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert server.stdout is not None and server.stdin is not None
        try:
            async with asyncio.timeout(60):
                assert (await server.stdout.readline()).strip() == b"ready"
                load = CoapLoad("127.0.0.1", port, "/a/longer-segment-name")
                sequential = await load.run(30)
                parallel = await load.run(200, in_flight=50)
                missing = await CoapLoad("127.0.0.1", port, "/nothing").run(1)
        finally:
            server.stdin.close()
            await server.wait()
        for result in (sequential, parallel):
            assert result.errors == 0 and result.payload == payload
            assert len(result.latencies_ms) == (30 if result is sequential else 200)
            assert all(ms > 0 for ms in result.latencies_ms) and result.seconds > 0
        assert missing.errors == 1 and missing.payload == b""

    asyncio.run(scenario())


@pytest.mark.parametrize("variant", [(), ("--drain",), ("--mmsg",)],
                         ids=["plain", "drain", "mmsg"])
def test_the_python_floor_answers_as_the_gateway_frames_a_representation(
        variant: tuple[str, ...]) -> None:
    import asyncio
    import socket
    import subprocess
    import sys

    from aiocoap import Message
    from aiocoap.numbers.codes import Code

    from bench.coap_load import CoapLoad
    from bridge.ocf.coap_messages import CON, Header, datagram, representation_options
    from bridge.ocf.lean_get import answer, parse_get
    from bridge.sim.testing.procs import free_udp_port

    async def scenario() -> tuple[bytes, bytes, int]:
        port = free_udp_port()
        payload = b"\xa1evalue\xf4"
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.udp_floor", str(port), payload.hex(), *variant,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert server.stdout is not None and server.stdin is not None
        request = datagram(Message(code=Code.GET, uri_path=["switch"]),
                           Header(CON, 0x0BAD, b"\x01\x02\x03"))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(60):
                assert (await server.stdout.readline()).strip() == b"ready"
                await loop.sock_sendto(sock, request, ("127.0.0.1", port))
                reply = await loop.sock_recv(sock, 2048)
                parallel = await CoapLoad("127.0.0.1", port, "/switch").run(200, in_flight=50)
        finally:
            sock.close()
            server.stdin.close()
            await server.wait()
        parsed = parse_get(request)
        assert parsed is not None and parallel.payload == payload
        expected = answer(parsed, 0, representation_options(), payload)
        return reply, expected, parallel.errors

    reply, expected, errors = asyncio.run(scenario())
    assert reply == expected and errors == 0


def test_the_lean_server_serves_a_virtual_device() -> None:
    import asyncio
    import subprocess
    import sys

    import cbor2

    from bench.coap_load import CoapLoad

    async def scenario() -> tuple[bytes, int, int]:
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.lean_server", stdin=subprocess.PIPE,
            stdout=subprocess.PIPE)
        assert server.stdout is not None and server.stdin is not None
        try:
            async with asyncio.timeout(60):
                port = int((await server.stdout.readline()).strip())
                result = await CoapLoad("127.0.0.1", port, "/switch").run(100, in_flight=10)
        finally:
            server.stdin.close()
            await server.wait()
        return result.payload, result.errors, len(result.latencies_ms)

    payload, errors, answered = asyncio.run(scenario())
    assert cbor2.loads(payload) == {"value": False}
    assert errors == 0 and answered == 100
