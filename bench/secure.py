"""Benchmark: secured OCF devices (issues 16 and 17): DTLS handshakes, GETs, memory, restart.

1. The gateway as a client (``bridge.ocf.coap_client.OcfClient`` with the gateway's DTLS
   transport) of a secured simulated light in its own process, owned with the gateway's own
   onboarding action: new DTLS PSK sessions (p50/p99 of handshake plus the first GET), and
   GET ``/oic/d`` of the same device over an established coaps session against plain CoAP
   (p50, p99, rate at ``IN_FLIGHT`` requests at once).
2. The gateway as a server: the real ``ocfaj run`` bridging simulated AllJoyn lamps, first
   with open virtual OCF devices, then with ``[ocf] secure_virtual_devices`` and every
   virtual device owned by the simulator's onboarding tool: handshakes with a provisioned
   client, GET ``/switch`` over coaps against the same device unsecured, the gateway's RSS
   per owned virtual device, and its RSS per open DTLS session (``SESSIONS`` clients with a
   session each at once).
3. N already-owned secured lights and a gateway restart (``bench.secure_restart``): seconds
   until all are bridged again, against the same lights unsecured; RSS per secured device.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from bench import ocf_requests, secure_restart
from bench.secure_devices import own_all, secured_simulators
from bench.secure_virtual import lamp_names, virtual_lamps
from bench.stats import Report, percentile, ratio
from bridge.daemon.ocf_credentials import OcfCredentials
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.links import Endpoint, parse_endpoint

NAME = "secure"
SAMPLES = {"full": 1000, "quick": 200, "tiny": 10}
HANDSHAKES = {"full": 200, "quick": 40, "tiny": 4}
VIRTUAL = {"full": 40, "quick": 10, "tiny": 2}
SESSIONS = {"full": 50, "quick": 20, "tiny": 3}
RESTART = {"full": 100, "quick": 100, "tiny": 4}
IN_FLIGHT = 16
TARGET_LATENCY = 1.3
TARGET_RATE = 0.7
TARGET_RESTART_S = 10.0
TIMEOUT = 10.0


def _latency_rows(report: Report, label: str, secured: ocf_requests.Load,
                  plain: ocf_requests.Load) -> None:
    p50, base50 = percentile(secured.latencies, 0.5), percentile(plain.latencies, 0.5)
    report.add(f"{label}: plain GET p50", base50, "ms")
    report.add(f"{label}: plain GET p99", percentile(plain.latencies, 0.99), "ms")
    report.add(f"{label}: coaps GET p50", p50, "ms", baseline=base50,
               target=f"<= {TARGET_LATENCY}x plain", met=p50 <= TARGET_LATENCY * base50)
    report.add(f"{label}: coaps GET p99", percentile(secured.latencies, 0.99), "ms",
               baseline=percentile(plain.latencies, 0.99))
    report.add(f"{label}: plain GET rate ({plain.in_flight} in flight)", plain.rate, "req/s")
    report.add(f"{label}: coaps GET rate ({secured.in_flight} in flight)", secured.rate,
               "req/s", baseline=plain.rate, target=f">= {TARGET_RATE}x plain",
               met=secured.rate >= TARGET_RATE * plain.rate)


def _handshake_rows(report: Report, label: str, times: list[float],
                    established: list[float]) -> None:
    report.add(f"{label}: new session (handshake + GET) p50", percentile(times, 0.5), "ms",
               baseline=percentile(established, 0.5))
    report.add(f"{label}: new session (handshake + GET) p99", percentile(times, 0.99), "ms",
               baseline=percentile(established, 0.99))


async def client_side(directory: Path, size: str, report: Report) -> None:
    """The gateway's client against a secured simulated light."""
    with secured_simulators(directory, "Bench secured light", [1]) as devices:
        owner = directory / "owner"
        (record,) = (await own_all(owner, devices)).records
        secure = parse_endpoint(record.coaps)
        assert secure is not None
        plain_client = OcfClient(TIMEOUT, 65536)
        secure_client = OcfClient(TIMEOUT, 65536,
                                  keyring=OcfCredentials(owner).load().keyring())
        await plain_client.start()
        await secure_client.start()
        try:
            plain, secured = await ocf_requests.compare(
                [ocf_requests.Target(plain_client, devices[0].plain, "/oic/d"),
                 ocf_requests.Target(secure_client, secure, "/oic/d")], SAMPLES[size],
                IN_FLIGHT)
            times = await ocf_requests.handshakes(secure_client, secure, "/oic/d",
                                                  HANDSHAKES[size])
        finally:
            await secure_client.shutdown()
            await plain_client.shutdown()
    _handshake_rows(report, "secured OCF device", times, secured.latencies)
    _latency_rows(report, "secured OCF device /oic/d", secured, plain)


async def _open_sessions(endpoint: Endpoint, keyring: object, count: int) -> list[OcfClient]:
    """``count`` clients, each with its own socket and one established session."""
    clients = [OcfClient(TIMEOUT, 65536, keyring=keyring) for _ in range(count)]
    for client in clients:
        await client.start()
    for client in clients:  # one handshake at a time: the gateway's bound is 16 unfinished
        await client.get(endpoint, "/switch")
    return clients


async def server_side(directory: Path, size: str, report: Report) -> None:
    """The gateway's virtual devices, open and then secured and owned."""
    count, samples = VIRTUAL[size], SAMPLES[size]
    measured = lamp_names(count)[0]
    async with virtual_lamps(directory / "open", count, secure=False) as open_rig, \
            virtual_lamps(directory / "secured", count, secure=True) as owned_rig:
        open_rss, owned_rss = open_rig.gateway.rss_mib(), owned_rig.gateway.rss_mib()
        unowned_rss = owned_rig.rss_before_owning
        secure = owned_rig.devices[measured].secure
        assert secure is not None
        plain_client = OcfClient(TIMEOUT, 65536)
        client = OcfClient(TIMEOUT, 65536, keyring=owned_rig.keyring())
        await plain_client.start()
        await client.start()
        try:
            plain, secured = await ocf_requests.compare(
                [ocf_requests.Target(plain_client, open_rig.devices[measured].plain,
                                     "/switch"),
                 ocf_requests.Target(client, secure, "/switch")], samples, IN_FLIGHT)
            times = await ocf_requests.handshakes(client, secure, "/switch", HANDSHAKES[size])
        finally:
            await client.shutdown()
            await plain_client.shutdown()
        before = owned_rig.gateway.rss_mib()
        clients = await _open_sessions(secure, owned_rig.keyring(), SESSIONS[size])
        after = owned_rig.gateway.rss_mib()
        for each in clients:
            await each.shutdown()
    _handshake_rows(report, "secured virtual device", times, secured.latencies)
    _latency_rows(report, "secured virtual device /switch", secured, plain)
    report.add(f"gateway RSS, {count} open virtual devices", open_rss, "MiB")
    report.add(f"gateway RSS, {count} secured virtual devices, none owned", unowned_rss,
               "MiB", baseline=open_rss)
    report.add(f"gateway RSS, {count} secured virtual devices, all owned", owned_rss, "MiB",
               baseline=open_rss)
    report.add("RSS per owned virtual device (owning them)",
               (owned_rss - unowned_rss) * 1024 / count, "KiB")
    report.add("RSS per secured virtual device (against open ones)",
               (owned_rss - open_rss) * 1024 / count, "KiB")
    report.add(f"RSS per secured session (server, {len(clients)} at once)",
               (after - before) * 1024 / len(clients), "KiB")


async def restart(directory: Path, size: str, report: Report) -> None:
    count = RESTART[size]
    owning, failed, first, again = await secure_restart.secured(directory / "secured", count)
    plain = await secure_restart.plain(directory / "plain", count)
    report.add(f"{count} secured devices: owned beforehand, in", owning, "s")
    report.add(f"{count} secured devices: ownership transfers repeated", len(failed),
               "transfers")
    if failed:
        report.notes.append("Ownership transfers that failed and were repeated: "
                            + "; ".join(failed))
    report.add(f"{count} plain devices: all bridged after start", plain.announced, "s")
    report.add(f"{count} secured devices: all bridged after first start", first.announced,
               "s", baseline=plain.announced)
    met = again.announced <= TARGET_RESTART_S if count >= 100 else None
    report.add(f"{count} secured devices: all bridged after restart", again.announced, "s",
               baseline=plain.announced, target=f"<= {TARGET_RESTART_S:g} s at 100", met=met)
    for label, start in (("plain", plain), ("secured, first start", first),
                         ("secured, restart", again)):
        report.add(f"{count} {label}: gateway CPU until all bridged", start.gateway_cpu, "s")
        report.add(f"{count} {label}: simulators' CPU meanwhile", start.simulators_cpu, "s")
    for label, start in (("plain", plain), ("secured, first start", first),
                         ("secured, restart", again)):
        report.add(f"{count} {label}: devices not bridged within "
                   f"{secure_restart.EXPOSE_TIMEOUT:g} s", len(start.missing), "devices",
                   target="0", met=not start.missing)
        if start.missing:
            report.notes.append(f"Not bridged within {secure_restart.EXPOSE_TIMEOUT:g} s "
                                f"({label}): {', '.join(start.missing)}; the gateway's "
                                f"warnings: {' | '.join(start.warnings[:20]) or 'none'}.")
    for label, start in (("plain", plain), ("secured, first start", first),
                         ("secured, restart", again)):
        report.add(f"{count} {label}: set-ups retried a round later", start.retried,
                   "devices")
        report.add(f"{count} {label}: sessions renewed as lost", start.renewed, "sessions")
    report.add(f"gateway RSS, {count} plain devices bridged", plain.rss_mib, "MiB")
    report.add(f"gateway RSS, {count} secured devices bridged", again.rss_mib, "MiB",
               baseline=plain.rss_mib)
    report.add("RSS per secured device (client session, key, observations)",
               secure_restart.per_device_kib(again.rss_mib, plain.rss_mib, count), "KiB")


async def measure(directory: Path, size: str) -> Report:
    report = Report(NAME)
    await client_side(directory / "client", size, report)
    await server_side(directory / "server", size, report)
    await restart(directory / "restart", size, report)
    p50 = report.value("secured OCF device /oic/d: coaps GET p50")
    plain = report.value("secured OCF device /oic/d: plain GET p50")
    report.notes.append(
        f"{SAMPLES[size]} sequential GETs per row after 20 warm-up GETs, then as many with "
        f"{IN_FLIGHT} in flight; {HANDSHAKES[size]} new DTLS sessions per handshake row "
        "(handshake plus the first GET; its baseline is a GET over an established session). "
        "Both clients are the gateway's own OcfClient, plain or with its coaps transport. "
        f"GET /oic/d of the secured light over coaps: {ratio(p50, plain):.2f}x plain. "
        "Measured on a 2-core machine shared with other developers' work: under load.")
    if math.isnan(p50):
        raise RuntimeError("no coaps GET was measured")
    return report


def run(directory: Path, size: str) -> Report:
    return asyncio.run(measure(directory, size))
