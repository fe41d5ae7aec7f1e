"""The firmware's OCF server in-process: requests encoded by aiocoap, answers decoded by it.

A ``Channel`` stands in for the socket (it records what the server sends); the clock is
passed in explicitly, so retransmission timing is checked without waiting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
from aiocoap import Message
from aiocoap.numbers.types import Type
from aiocoap.optiontypes import BlockOption, UintOption
from ocf import app, config, hal_host, identity, server

pytestmark = pytest.mark.filterwarnings("ignore:Initializing messages with:DeprecationWarning")

PEER = ("169.254.0.1", 40000)
BOARD = Path(__file__).resolve().parents[2] / "firmware" / "boards" / "host" / "config.json"


class Channel:
    oic_port = 49999

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any]] = []

    def send(self, data: bytes, peer: Any) -> None:
        self.sent.append((data, peer))

    def ep(self, peer: Any) -> str:
        return "coap://169.254.0.2:49999"

    def take(self) -> list[Message]:
        out = [Message.decode(data) for data, _ in self.sent]
        self.sent.clear()
        return out


@pytest.fixture
def srv(tmp_path: Path) -> server.Server:
    cfg = config.parse(BOARD.read_text())
    cfg["network"]["block_szx"] = 6
    ident = identity.load_or_create(str(tmp_path))
    resources = [app.build(entry) for entry in cfg["resources"]]
    return server.Server(ident, cfg["device"], resources, cfg["network"])


_mid = iter(range(1, 60000))


def request(
    path: str, code: int = 1, *, mtype: Type = Type.CON, query: tuple[str, ...] = (),
    accept: int | None = 10000, version: int | None = 2048, payload: Any = None,
    content_format: int = 10000, observe: int | None = None, token: bytes = b"tk",
    block2: Any = None,
) -> bytes:
    msg = Message(mtype=mtype, code=code, mid=next(_mid), token=token,
                  uri_path=tuple(p for p in path.split("/") if p), uri_query=query)
    if accept is not None:
        msg.opt.accept = accept
    if version is not None:
        msg.opt.add_option(UintOption(2049, version))
    if payload is not None:
        msg.payload = cbor2.dumps(payload)
        msg.opt.content_format = content_format
    if observe is not None:
        msg.opt.observe = observe
    if block2 is not None:
        msg.opt.block2 = block2
    return msg.encode()


def ask(srv: server.Server, data: bytes, *, multicast: bool = False, now: int = 0
        ) -> list[Message]:
    ch = Channel()
    srv.datagram(data, PEER, ch, multicast, now)
    return ch.take()


def body(msg: Message) -> Any:
    return cbor2.loads(msg.payload)


def fetch(srv: server.Server, path: str, query: tuple[str, ...] = ()) -> Any:
    """GET following Block2 the way a client does; return the decoded whole body."""
    chunks = []
    num = 0
    while True:
        block = BlockOption.BlockwiseTuple(num, 0, 6) if num else None
        [part] = ask(srv, request(path, query=query, block2=block))
        assert part.code.dotted == "2.05"
        chunks.append(part.payload)
        if part.opt.block2 is None or not part.opt.block2.more:
            return cbor2.loads(b"".join(chunks))
        num += 1


def test_discovery_links_and_interfaces(srv: server.Server) -> None:
    [resp] = ask(srv, request("/oic/res"))
    assert resp.mtype == Type.ACK and resp.code.dotted == "2.05"
    assert resp.opt.content_format == 10000
    # Seven links with endpoints exceed 1024 bytes: block 0 says so.
    assert resp.opt.block2.more and resp.opt.size2 > 1024
    links = fetch(srv, "/oic/res")
    assert [link["href"] for link in links] == [
        "/oic/res", "/oic/d", "/oic/p", "/switch/1", "/light/1", "/temperature/1",
        "/contact/1"]
    for link in links:
        assert link["anchor"] == "ocf://" + srv.di
        assert link["eps"] == [{"ep": "coap://169.254.0.2:49999"}]
    [base] = fetch(srv, "/oic/res", ("if=oic.if.baseline",))
    assert base["rt"] == ["oic.wk.res"] and len(base["links"]) == 7
    [batch] = ask(srv, request("/oic/res", query=("if=oic.if.b",)))
    reps = {item["href"]: item["rep"] for item in body(batch)}
    assert reps["ocf://" + srv.di + "/switch/1"] == {"value": False}
    assert reps["ocf://" + srv.di + "/contact/1"] == {"value": True}  # pulled up: open
    [by_if] = ask(srv, request("/oic/res", query=("if=oic.if.s",)))
    assert {link["href"] for link in body(by_if)} == {"/temperature/1", "/contact/1"}


def test_multicast_silence_and_unicast_empty(srv: server.Server) -> None:
    none = request("/oic/res", mtype=Type.NON, query=("rt=oic.r.none",))
    assert ask(srv, none, multicast=True) == []
    [resp] = ask(srv, request("/oic/res", query=("rt=oic.r.none",)))
    assert body(resp) == []
    # Errors are never sent to a multicast request either.
    assert ask(srv, request("/nowhere", mtype=Type.NON), multicast=True) == []
    # A NON gets a NON answer with a fresh message id.
    [non] = ask(srv, request("/oic/d", mtype=Type.NON))
    assert non.mtype == Type.NON


def test_content_negotiation(srv: server.Server) -> None:
    for accept in (60, 50):
        [resp] = ask(srv, request("/oic/d", accept=accept))
        assert resp.code.dotted == "4.06"
    [old] = ask(srv, request("/oic/d", version=1024))
    assert old.code.dotted == "4.15"
    # Lenient: no Accept and no version option at all is an OCF request.
    [plain] = ask(srv, request("/oic/d", accept=None, version=None))
    assert plain.code.dotted == "2.05" and body(plain)["di"] == srv.di
    [cbor60] = ask(srv, request("/switch/1", 2, payload={"value": True}, content_format=60))
    assert cbor60.code.dotted == "4.15"


def test_oic11_client_gets_oic_shapes(srv: server.Server) -> None:
    [res] = ask(srv, request("/oic/res", accept=60, version=2112))
    assert res.opt.content_format == 60
    assert all(opt.number != 2053 for opt in res.opt.option_list())
    [dev] = body(res)
    assert dev["di"] == srv.di
    switch = next(link for link in dev["links"] if link["href"] == "/switch/1")
    assert switch["p"] == {"bm": 3, "sec": False, "port": 49999}
    [d] = ask(srv, request("/oic/d", accept=60, version=2112))
    assert "piid" not in body(d) and body(d)["di"] == srv.di


def test_post_validation_and_actuation(srv: server.Server) -> None:
    events: list[tuple[str, str, int]] = []
    hal_host.LISTENERS.append(lambda *e: events.append(e))
    try:
        [ok] = ask(srv, request("/switch/1", 2, payload={"value": True}))
        assert ok.code.dotted == "2.04" and body(ok) == {"value": True}
        assert events[-1] == ("pin", "5", 1)
        [dim] = ask(srv, request("/light/1", 2, payload={"brightness": 50}))
        assert body(dim) == {"brightness": 50} and events[-1] == ("pwm", "6", 32767)
    finally:
        hal_host.LISTENERS.clear()
    bad = [
        ("/switch/1", {"value": 1}), ("/switch/1", {"valeu": True}), ("/switch/1", {}),
        ("/light/1", {"brightness": 101}), ("/light/1", {"brightness": True}),
        ("/switch/1", [True]),
    ]
    for path, payload in bad:
        [resp] = ask(srv, request(path, 2, payload=payload))
        assert resp.code.dotted == "4.00", (path, payload)
    [ro] = ask(srv, request("/contact/1", 2, payload={"value": True}))
    assert ro.code.dotted == "4.05"
    [ro_if] = ask(srv, request("/switch/1", 2, query=("if=oic.if.s",), payload={"value": 1}))
    assert ro_if.code.dotted == "4.00"
    [missing] = ask(srv, request("/nowhere"))
    assert missing.code.dotted == "4.04"
    [broken] = ask(srv, request("/switch/1", 2) + b"\xff\xa1")
    assert broken.code.dotted == "4.00"


def test_malformed_ping_and_duplicates(srv: server.Server) -> None:
    [bad] = ask(srv, bytes.fromhex("41010007aaf0"))
    assert bad.mtype == Type.ACK and bad.code.dotted == "4.00" and bad.mid == 7
    assert ask(srv, bytes.fromhex("51010007aaf0")) == []
    assert ask(srv, b"\x00") == []
    [rst] = ask(srv, bytes.fromhex("40000009"))
    assert rst.mtype == Type.RST and rst.mid == 9
    post = request("/switch/1", 2, payload={"value": True})
    ch = Channel()
    srv.datagram(post, PEER, ch, False, 0)
    srv.datagram(post, PEER, ch, False, 1)  # a retransmitted CON gets the very same answer
    assert len(ch.sent) == 2 and ch.sent[0] == ch.sent[1]


def switch_value(srv: server.Server) -> Any:
    [state] = ask(srv, request("/switch/1"))
    return body(state)["value"]


def test_a_duplicate_is_replayed_until_newer_answers_overwrite_its_own(
        srv: server.Server) -> None:
    on = request("/switch/1", 2, payload={"value": True})
    [first] = ask(srv, on)
    [_] = ask(srv, request("/switch/1", 2, payload={"value": False}))
    # A retransmission of the first POST gets its answer again and is not executed again.
    [again] = ask(srv, on)
    assert again.mid == first.mid and body(again) == {"value": True}
    assert switch_value(srv) is False
    # Newer answers fill the answers' buffer (fewer of them than the cache has entries), so
    # the first one's bytes are overwritten: its retransmission is now served anew.
    ch = Channel()
    for _ in range(4):
        srv.datagram(request("/oic/d", query=("if=oic.if.baseline",)), PEER, ch, False, 0)
    assert sum(len(data) for data, _ in ch.sent) > server.RECENT_BYTES
    assert len(ch.sent) + 3 < server.RECENT_MAX
    [anew] = ask(srv, on)
    assert anew.code.dotted == "2.04" and body(anew) == {"value": True}
    assert switch_value(srv) is True


def test_a_renewed_observation_keeps_its_entry(srv: server.Server) -> None:
    ch = Channel()
    srv.datagram(request("/switch/1", observe=0, token=b"rn"), PEER, ch, False, 0)
    [entry] = srv.observers
    srv.datagram(request("/switch/1", observe=0, token=b"rn"), PEER, ch, False, 1)
    assert srv.observers == [entry]
    srv.datagram(request("/switch/1", 2, payload={"value": True}), PEER, ch, False, 2)
    replies = ch.take()
    assert [r.opt.observe is not None for r in replies[:2]] == [True, True]
    assert [body(r) for r in replies[2:]] == [{"value": True}, {"value": True}]
    assert replies[3].token == b"rn" and replies[3].mtype == Type.CON


def test_block2_transfer_of_res(srv: server.Server) -> None:
    full = fetch(srv, "/oic/res")
    chunks = []
    num = 0
    while True:
        [part] = ask(srv, request("/oic/res", block2=BlockOption.BlockwiseTuple(num, 0, 2)))
        blk = part.opt.block2
        assert blk.block_number == num and blk.size_exponent == 2
        chunks.append(part.payload)
        if not blk.more:
            break
        assert len(part.payload) == 64
        num += 1
    assert cbor2.loads(b"".join(chunks)) == full
    [beyond] = ask(srv, request("/oic/res", block2=BlockOption.BlockwiseTuple(999, 0, 2)))
    assert beyond.code.dotted == "4.02"


def test_observe_notify_retransmit_and_give_up(srv: server.Server, tmp_path: Path) -> None:
    ch = Channel()
    srv.datagram(request("/contact/1", observe=0, token=b"ob"), PEER, ch, False, 0)
    [reg] = ch.take()
    assert reg.opt.observe is not None and len(srv.observers) == 1
    hal_host.set_level("7", 0)  # the reed switch closes the pulled-up contact: value false
    srv.tick(10)
    srv.tick(20)  # debounce: two equal reads
    [note] = ch.take()
    assert note.mtype == Type.CON and note.token == b"ob" and body(note) == {"value": False}
    assert note.opt.observe > reg.opt.observe
    # Unacknowledged: resent with doubling timeouts, then the observer is dropped.
    timeout = srv.observers[0].timeout
    assert 2000 <= timeout < 3000
    now = 20
    gaps = []
    for _ in range(4):
        due = srv.next_deadline(now, 10**9)
        gaps.append(due)
        now += due
        srv.tick(now)
        [again] = ch.take()
        assert again.mid == note.mid and again.payload == note.payload
    assert gaps == [timeout, 2 * timeout, 4 * timeout, 8 * timeout]
    now += srv.next_deadline(now, 10**9)
    srv.tick(now)
    assert ch.take() == [] and srv.observers == []
    hal_host.set_level("7", 1)


def test_observe_ack_then_next_change_and_cancel(srv: server.Server) -> None:
    ch = Channel()
    srv.datagram(request("/switch/1", observe=0, token=b"s1"), PEER, ch, False, 0)
    ch.take()
    srv.datagram(request("/switch/1", 2, payload={"value": True}), PEER, ch, False, 0)
    changed, note = ch.take()
    assert changed.code.dotted == "2.04" and body(note) == {"value": True}
    # A change while the first CON is unacknowledged waits for the ACK, then goes out.
    srv.datagram(request("/switch/1", 2, payload={"value": False}), PEER, ch, False, 0)
    assert len(ch.take()) == 1
    srv.datagram(Message(mtype=Type.ACK, code=0, mid=note.mid).encode(), PEER, ch, False, 5)
    [note2] = ch.take()
    assert body(note2) == {"value": False}
    # GET with Observe=1 and the same token cancels.
    srv.datagram(request("/switch/1", observe=1, token=b"s1"), PEER, ch, False, 6)
    [reply] = ch.take()
    assert reply.opt.observe is None and srv.observers == []


def test_observe_rst_cancels_and_table_is_bounded(srv: server.Server) -> None:
    ch = Channel()
    for i in range(10):
        srv.datagram(request("/temperature/1", observe=0, token=bytes([i])), PEER, ch,
                     False, 0)
    replies = ch.take()
    assert [r.opt.observe is not None for r in replies] == [True] * 8 + [False] * 2
    hal_host.SENSORS["temperature"] = 30.0
    srv.tick(100000)
    notes = ch.take()
    assert len(notes) == 8 and all(body(n)["temperature"] == 30.0 for n in notes)
    srv.datagram(Message(mtype=Type.RST, code=0, mid=notes[0].mid).encode(), PEER, ch, False, 1)
    assert len(srv.observers) == 7
    hal_host.SENSORS["temperature"] = 21.5


def test_identity_persists_and_recovers(tmp_path: Path) -> None:
    first = identity.load_or_create(str(tmp_path))
    assert identity.load_or_create(str(tmp_path)) == first
    assert len({first["di"], first["piid"], first["pi"]}) == 3
    assert first["di"][14] == "4"  # UUID version 4
    (tmp_path / identity.FILE).write_text("{broken")
    fresh = identity.load_or_create(str(tmp_path))
    assert fresh != first and json.loads((tmp_path / identity.FILE).read_text()) == fresh


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[", "not valid JSON"),
        ('{"resources": [{"kind": "lamp", "href": "/a"}]}', "kind"),
        ('{"resources": [{"kind": "switch", "href": "/oic/x", "pin": 1}]}', "href"),
        ('{"resources": [{"kind": "switch", "href": "/a"}]}', "needs a pin"),
        ('{"resources": [{"kind": "switch", "href": "/a", "pin": 1},'
         ' {"kind": "switch", "href": "/a", "pin": 2}]}', "used twice"),
        ('{"network": {"block_szx": 7}}', "block_szx"),
        ('{"wifi": {"password": "x"}}', "ssid"),
    ],
)
def test_config_errors_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config.parse(text)
