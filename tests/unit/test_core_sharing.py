"""One copy of repeated names: the bounded table, and the OCF links that use it."""

from __future__ import annotations

from bridge.core.sharing import SharedValues
from bridge.ocf.links import parse_res


def _listing(di: str, port: int) -> list[dict[str, object]]:
    # Built from fresh strings, as a decoder makes them for every answer.
    ep = "".join(["coap://", "10.0.0.7", f":{port}"])
    return [{"anchor": "ocf://" + di, "href": "".join(["/light/", name]),
             "rt": ["".join(["oic.r.", name])],
             "if": ["".join(["oic.if.", "a"]), "oic.if.baseline"],
             "p": {"bm": 3}, "eps": [{"ep": ep}]} for name in ("switch", "brightness")]


def test_share_returns_the_copy_seen_first() -> None:
    table = SharedValues()
    first = "".join(["oic.r.", "switch.binary"])
    again = "".join(["oic.r.", "switch", ".binary"])
    assert first == again and first is not again
    assert table.share(first) is first
    assert table.share(again) is first
    assert table.names((again, "x")) is table.names(("".join(["oic.r.switch", ".binary"]), "x"))


def test_share_keeps_types_apart() -> None:
    table = SharedValues()
    assert table.share(1) == 1
    assert type(table.share(1.0)) is float
    assert type(table.share(True)) is bool


def test_the_table_is_bounded_and_starts_afresh() -> None:
    table = SharedValues(limit=3)
    for n in range(10):
        table.share(f"name {n}")
        assert len(table) <= 3
    later = "".join(["name ", "9"])
    assert table.share(later) == "name 9"


def test_links_of_many_devices_share_names_and_endpoints() -> None:
    di_a = "0685b960-736f-46f7-bead-0000000000a1"
    di_b = "0685b960-736f-46f7-bead-0000000000b2"
    a = parse_res(_listing(di_a, 40001))
    b = parse_res(_listing(di_b, 40002))
    assert [link.href for link in a] == ["/light/switch", "/light/brightness"]
    for one, other in zip(a, b, strict=True):
        assert one.href is other.href
        assert one.rts is other.rts and one.ifs is other.ifs
        assert one.rts == (f"oic.r.{one.href.rsplit('/', 1)[1]}",)
        assert one.ifs == ("oic.if.a", "oic.if.baseline")
    # One device's links: one di string and one endpoint, whatever each link repeated.
    assert a[0].di is a[1].di and a[0].di == di_a
    assert a[0].eps is a[1].eps and a[0].eps[0] is a[1].eps[0]
    assert a[0].eps[0].port == 40001 and b[0].eps[0].port == 40002
