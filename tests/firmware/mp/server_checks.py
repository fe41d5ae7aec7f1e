"""The server's error answers, run unchanged under MicroPython (both ports) and CPython.

No pytest here: MicroPython has none. ``run(state_dir)`` builds the server the way
``ocf.main.build`` does (configuration text, identity in ``state_dir``, four resources), sends
it requests built with the firmware's own CoAP and CBOR code (checked against the RFC vectors
by codec_checks.py) through an in-memory channel, and checks every refusal: its code, and that
its text is the reason (never the "internal error" an unexpected exception gives). Prints
``ok <name>`` / ``FAIL <name>: <error>`` per check and returns (passed, failed).
"""

from ocf import cbor, coap, config, main

CONFIG = """{"device": {"name": "Checks", "type": "oic.d.switch"},
 "network": {"port": 5700, "block_szx": 2},
 "resources": [{"kind": "switch", "href": "/switch/1", "pin": 5},
               {"kind": "brightness", "href": "/light/1", "pin": 6},
               {"kind": "contact", "href": "/contact/1", "pin": 7, "pull": "up"},
               {"kind": "temperature", "href": "/temperature/1"}]}"""

PEER = ("169.254.0.1", 40000)
STATE = {"mid": 100}


class Channel:
    oic_port = 5700

    def __init__(self):
        self.sent = []

    def send(self, data, peer):
        self.sent.append(data)

    def ep(self, peer):
        return "coap://169.254.0.2:5700"


def request(path, code=coap.GET, query=(), payload=None, fmt=coap.FORMAT_OCF_CBOR,
            accept=coap.FORMAT_OCF_CBOR, version=2048, block2=None, raw_payload=None):
    STATE["mid"] += 1
    msg = coap.Message(coap.CON, code, STATE["mid"], b"tk")
    for part in path.split("/"):
        if part:
            msg.add(coap.URI_PATH, part)
    if payload is not None or raw_payload is not None:
        msg.add(coap.CONTENT_FORMAT, fmt)
        msg.payload = raw_payload if raw_payload is not None else cbor.encode(payload)
    for q in query:
        msg.add(coap.URI_QUERY, q)
    if accept is not None:
        msg.add(coap.ACCEPT, accept)
    if block2 is not None:
        msg.add(coap.BLOCK2, block2)
    if version is not None:
        msg.add(coap.OCF_ACCEPT_VERSION, version)
    return coap.build(msg)


def ask(data):
    ch = Channel()
    STATE["server"].datagram(data, PEER, ch, False, 0)
    assert len(ch.sent) == 1, ch.sent
    return coap.parse(ch.sent[0])


def refused(data, code, words):
    """The answer is ``code`` (an ACK with our token) and its text contains ``words``."""
    resp = ask(data)
    text = bytes(resp.payload).decode()
    assert resp.code == code, (coap.code_str(resp.code), text)
    assert resp.mtype == coap.ACK and resp.token == b"tk", resp.mtype
    assert words in text, text
    assert "internal" not in text, text
    return text


def check_unknown_path_is_4_04():
    refused(request("/nowhere"), coap.NOT_FOUND, "no resource at /nowhere")


def check_interface_not_offered_is_4_00():
    refused(request("/switch/1", query=("if=oic.if.s",)), coap.BAD_REQUEST,
            "interface oic.if.s not offered")


def check_post_through_read_only_interface_is_4_05():
    refused(request("/contact/1", coap.POST, ("if=oic.if.s",), {"value": True}),
            coap.METHOD_NOT_ALLOWED, "interface oic.if.s is read-only")


def check_read_only_resource_is_4_05():
    refused(request("/temperature/1", coap.POST, ("if=oic.if.baseline",),
                    {"temperature": 3.0}), coap.METHOD_NOT_ALLOWED, "resource is read-only")


def check_wrong_types_and_unknown_keys_are_4_00():
    for path, payload, words in (
            ("/switch/1", {"value": 1}, "value must be a boolean"),
            ("/switch/1", {"valeu": True}, "property valeu is read-only or unknown"),
            ("/switch/1", {}, "nothing to update"),
            ("/switch/1", [True], "payload must be a map"),
            ("/light/1", {"brightness": 101}, "brightness must be an integer 0..100"),
            ("/light/1", {"brightness": True}, "brightness must be an integer 0..100")):
        refused(request(path, coap.POST, payload=payload), coap.BAD_REQUEST, words)


def check_unsupported_format_and_version_are_4_15():
    refused(request("/switch/1", coap.POST, payload={"value": True}, fmt=coap.FORMAT_CBOR),
            coap.UNSUPPORTED_CONTENT_FORMAT, "payload must be OCF CBOR")
    refused(request("/oic/d", version=1024), coap.UNSUPPORTED_CONTENT_FORMAT,
            "content version below OCF 1.0")


def check_unacceptable_accept_is_4_06():
    refused(request("/oic/d", accept=coap.FORMAT_JSON), coap.NOT_ACCEPTABLE,
            "only application/vnd.ocf+cbor is served")


def check_put_delete_and_writes_to_core_are_4_05():
    for method in (coap.PUT, coap.DELETE):
        refused(request("/switch/1", method, payload={"value": True}),
                coap.METHOD_NOT_ALLOWED, "method not allowed")
    refused(request("/oic/res", coap.POST, payload={}), coap.METHOD_NOT_ALLOWED,
            "/oic/res is read-only")
    refused(request("/oic/d", coap.POST, payload={"n": "x"}), coap.METHOD_NOT_ALLOWED,
            "interface oic.if.r is read-only")


def check_block2_past_the_end_is_4_02():
    # block_szx 2: 64-byte blocks; block 200 starts far beyond the /oic/res body.
    refused(request("/oic/res", block2=coap.block_value(200, False, 2)), coap.BAD_OPTION,
            "block beyond the end of the resource")


def check_broken_cbor_and_utf8_say_why():
    text = refused(request("/switch/1", coap.POST, raw_payload=b"\xa1\x65val"),
                   coap.BAD_REQUEST, "bad request: ")
    assert len(text) > len("bad request: "), text
    STATE["mid"] += 1
    for number, value in ((coap.URI_PATH, b"sw\xffitch"), (coap.URI_QUERY, b"if=\xc3")):
        msg = coap.Message(coap.CON, coap.GET, STATE["mid"], b"tk").add(number, value)
        if number == coap.URI_QUERY:
            msg.add(coap.URI_PATH, "oic").add(coap.URI_PATH, "d")
        refused(coap.build(msg), coap.BAD_REQUEST, "is not UTF-8")
        STATE["mid"] += 1


def check_success_still_served_after_errors():
    resp = ask(request("/switch/1", coap.POST, payload={"value": True}))
    assert resp.code == coap.CHANGED, coap.code_str(resp.code)
    assert cbor.decode(bytes(resp.payload)) == {"value": True}


def run(state_dir, out=print):
    STATE["server"] = main.build(config.parse(CONFIG), state_dir)[0]
    passed = 0
    failed = 0
    names = sorted(name for name in globals() if name.startswith("check_"))
    for name in names:
        try:
            globals()[name]()
            out("ok " + name)
            passed += 1
        except Exception as e:  # report every failing check, not just the first
            out("FAIL " + name + ": " + repr(e))
            failed += 1
    return passed, failed
