"""After the sockets reopen (Wi-Fi back), observers are served on the new sockets.

The firmware's Node under CPython with real UDP sockets on ``lo`` of the test run's private
network namespace. ``Node.reopen`` is what ``ocf.main.serve`` calls once the Wi-Fi link is
re-joined; before it moved them, observers kept the closed channels and every notification
failed (``OSError(9)``) until the retransmission limit dropped them.
"""

from __future__ import annotations

import socket
from pathlib import Path

import cbor2
import pytest
from aiocoap import Message
from aiocoap.numbers.types import Type
from ocf import config, hal_host, main
from ocf.node import RX_BYTES, Node

CONFIG = """{"device": {"name": "Reopen", "type": "oic.d.switch"},
 "network": {"port": 0, "ipv4": true, "ipv6": false, "interface": "lo"},
 "resources": [{"kind": "switch", "href": "/switch/1", "pin": 9},
               {"kind": "contact", "href": "/contact/1", "pin": 10}]}"""


def serve_until(node: Node, client: socket.socket) -> Message:
    """Run the node's loop until the client has a datagram; return it decoded."""
    client.setblocking(False)
    for _ in range(500):  # each run_once waits up to 20 ms for input
        node.run_once()
        try:
            return Message.decode(client.recv(2048))
        except BlockingIOError:
            continue
    raise AssertionError("no datagram reached the client")


def test_observers_move_to_the_reopened_sockets(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    srv, node = main.build(config.parse(CONFIG), str(tmp_path))
    node.open()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    try:
        port = node.ports[socket.AF_INET]
        obs = Message(mtype=Type.CON, code=1, mid=10, token=b"ob", observe=0,
                      uri_path=("contact", "1"))
        client.sendto(obs.encode(), ("127.0.0.1", port))
        first = serve_until(node, client)
        assert first.code.dotted == "2.05" and first.opt.observe is not None
        assert len(srv.observers) == 1
        old_channel = srv.observers[0].channel
        node.reopen()
        assert srv.observers[0].channel is not old_channel
        # The reopened unicast socket has a new ephemeral port; the observer hears from it.
        hal_host.set_level("10", 1)
        note = serve_until(node, client)
        assert note.mtype == Type.CON and note.token == b"ob"
        assert cbor2.loads(note.payload) == {"value": True}
        assert "failed" not in capsys.readouterr().err
    finally:
        node.close()
        client.close()


def test_observer_whose_socket_did_not_come_back_is_dropped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    srv, node = main.build(config.parse(CONFIG), str(tmp_path))
    node.open()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    try:
        obs = Message(mtype=Type.CON, code=1, mid=11, token=b"o2", observe=0,
                      uri_path=("switch", "1"))
        client.sendto(obs.encode(), ("127.0.0.1", node.ports[socket.AF_INET]))
        serve_until(node, client)
        assert len(srv.observers) == 1
        # The family is not reopened (as when IPv4 fails to come back): dropped at once.
        node.net["ipv4"] = False
        node.net["ipv6"] = True
        node.reopen()
        assert srv.observers == []
        assert "dropped: its socket is gone" in capsys.readouterr().err
    finally:
        node.close()
        client.close()


def test_start_up_allocates_the_receive_buffer_the_node_expects(tmp_path: Path) -> None:
    # main.build allocates it before the node module is loaded, so it repeats the size.
    assert main.RX_BYTES == RX_BYTES
    _, built = main.build(config.parse(CONFIG), str(tmp_path))
    assert len(built.rxbuf) == RX_BYTES
