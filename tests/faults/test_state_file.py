"""A state file truncated or corrupted while the gateway was down (power cut on a board):
the gateway starts, says in its log that it recovered from the backup, and keeps the virtual
identities it had given (issue 9 point 2)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bridge.sim.processes import GatewayProcess, SimProcess
from bridge.sim.testing.dbus import DBusDaemon


def _config(tmp: Path, bus: str) -> str:
    return (f'[gateway]\nname = "gw"\nstate_dir = "{tmp / "state"}"\n[ocf]\nenabled = false\n'
            f'[mqtt]\nenabled = false\n[alljoyn]\nbus = "{bus}"\nscan_timeout = 1.0\n')


async def _book_with(path: Path, count: int,
                     gateway: GatewayProcess) -> dict[str, dict[str, str]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        try:
            text = await asyncio.to_thread(path.read_text)
            entries: dict[str, dict[str, str]] = json.loads(text)["identities"]
            if len(entries) >= count:
                return entries
        except (OSError, ValueError, KeyError, TypeError):
            pass
        assert loop.time() < deadline, gateway.log()
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong shape"])
async def test_gateway_recovers_identities_from_the_backup(tmp_path: Path,
                                                           dbus_daemon: DBusDaemon,
                                                           damage: str) -> None:
    sims = [SimProcess(["alljoyn", "--bus", dbus_daemon.address, "--model", "thermostat",
                        "--name", name]) for name in ("Thermo", "Plug")]
    gateway = GatewayProcess(_config(tmp_path, dbus_daemon.address), tmp_path)
    book = tmp_path / "state" / "identities.json"
    try:
        await asyncio.to_thread(sims[0].start)
        await asyncio.to_thread(gateway.start, 30.0)
        first = await _book_with(book, 1, gateway)
        # A second device makes a second write: the first book is kept as the backup.
        await asyncio.to_thread(sims[1].start)
        await _book_with(book, 2, gateway)
        assert gateway.stop() == 0
        assert json.loads(book.with_name("identities.json.bak").read_text())["identities"] \
            == first

        text = book.read_bytes()
        book.write_bytes({"truncated": text[: len(text) // 2], "garbage": b"\x00\xff" * 40,
                          "wrong shape": b'["not", "a", "book"]'}[damage])
        await asyncio.to_thread(gateway.start, 30.0)
        again = await _book_with(book, 2, gateway)
        log = gateway.log()
        assert "is unreadable" in log and "recovered identities from the backup" in log, log
        for thing_id, entry in first.items():
            assert again[thing_id]["di"] == entry["di"], (entry, again)
            assert again[thing_id]["piid"] == entry["piid"]
    finally:
        gateway.stop()
        for sim in sims:
            sim.stop()
