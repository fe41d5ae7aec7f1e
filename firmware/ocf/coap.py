"""CoAP (RFC 7252) message codec for the firmware, plus the Observe (RFC 7641) and
Block2 (RFC 7959) option helpers.

Layer: pure codec. No sockets, no clocks. ``parse`` raises ``ValueError`` on anything that is
not a well-formed CoAP message; ``reply_to_malformed`` decides what (if anything) a server sends
back for such a datagram, so the I/O loop never has to look inside bytes it could not parse.
"""

import struct

CON = 0
NON = 1
ACK = 2
RST = 3

EMPTY = 0
GET = 1
POST = 2
PUT = 3
DELETE = 4

# Response codes as the single code byte: class << 5 | detail.
CREATED = 65
DELETED = 66
VALID = 67
CHANGED = 68
CONTENT = 69
BAD_REQUEST = 128
BAD_OPTION = 130
NOT_FOUND = 132
METHOD_NOT_ALLOWED = 133
NOT_ACCEPTABLE = 134
REQUEST_ENTITY_INCOMPLETE = 136
REQUEST_ENTITY_TOO_LARGE = 141
UNSUPPORTED_CONTENT_FORMAT = 143
INTERNAL_SERVER_ERROR = 160
SERVICE_UNAVAILABLE = 163

OBSERVE = 6
URI_PATH = 11
CONTENT_FORMAT = 12
URI_QUERY = 15
ACCEPT = 17
BLOCK2 = 23
BLOCK1 = 27
SIZE2 = 28
SIZE1 = 60
OCF_ACCEPT_VERSION = 2049
OCF_CONTENT_VERSION = 2053

FORMAT_OCF_CBOR = 10000
FORMAT_CBOR = 60
FORMAT_JSON = 50

# Option numbers whose value is an unsigned integer (RFC 7252 section 3.2 "uint").
_UINT_OPTIONS = (OBSERVE, 7, CONTENT_FORMAT, 14, ACCEPT, BLOCK2, BLOCK1, SIZE2, 60,
                 OCF_ACCEPT_VERSION, OCF_CONTENT_VERSION)


def code_str(code):
    """'2.05' style text for a code byte (for logs and test messages)."""
    return f"{code >> 5}.{code & 31:02d}"


def uint_bytes(n):
    """Shortest big-endian encoding of ``n`` (0 is the empty string, RFC 7252 3.2)."""
    length = 0
    m = n
    while m:
        length += 1
        m >>= 8
    return n.to_bytes(length, "big") if length else b""


def bytes_uint(b):
    n = 0
    for x in b:
        n = (n << 8) | x
    return n


class Message:
    """One CoAP message. ``options`` is a list of (number, bytes) kept in number order."""

    def __init__(self, mtype=CON, code=EMPTY, mid=0, token=b"", payload=b""):
        self.mtype = mtype
        self.code = code
        self.mid = mid
        self.token = token
        self.options = []
        self.payload = payload

    def add(self, number, value):
        """Append an option; ints become uints, str becomes UTF-8. Keeps number order."""
        if isinstance(value, int):
            value = uint_bytes(value)
        elif isinstance(value, str):
            value = value.encode("utf-8")
        i = len(self.options)
        while i and self.options[i - 1][0] > number:
            i -= 1
        self.options.insert(i, (number, value))
        return self

    def get(self, number, default=None):
        """First value of an option: int for uint options, bytes otherwise."""
        for num, val in self.options:
            if num == number:
                return bytes_uint(val) if number in _UINT_OPTIONS else val
        return default

    def all(self, number):
        return [val for num, val in self.options if num == number]

    def path(self):
        """The Uri-Path options as text; ValueError naming the fault if one is not UTF-8."""
        return "/" + "/".join(_text(p, "URI path") for p in self.all(URI_PATH))

    def queries(self):
        """URI-Query options as a list of (name, value) strings; a bare name has value ''."""
        out = []
        for q in self.all(URI_QUERY):
            q = _text(q, "URI query")
            i = q.find("=")
            out.append((q, "") if i < 0 else (q[:i], q[i + 1:]))
        return out

    def is_request(self):
        return 1 <= self.code <= 31

    def __repr__(self):
        return (f"<Message t={self.mtype} {code_str(self.code)} mid={self.mid}"
                f" tok={self.token} opts={self.options} len={len(self.payload)}>")


def _text(raw, what):
    # MicroPython's UnicodeError carries no message: say what was wrong ourselves.
    try:
        return raw.decode("utf-8")
    except UnicodeError:
        raise ValueError(what + " is not UTF-8") from None


def parse(data):
    """Parse one datagram into a Message; raise ValueError if it is not well formed."""
    n = len(data)
    if n < 4:
        raise ValueError("short datagram")
    b0 = data[0]
    if b0 >> 6 != 1:
        raise ValueError("unknown CoAP version")
    tkl = b0 & 0x0F
    if tkl > 8:
        raise ValueError("token length 9..15 is reserved")
    if 4 + tkl > n:
        raise ValueError("truncated token")
    msg = Message((b0 >> 4) & 3, data[1], (data[2] << 8) | data[3], bytes(data[4:4 + tkl]))
    code = msg.code
    if code >> 5 in (1, 6, 7):
        raise ValueError("reserved code class")
    pos = 4 + tkl
    number = 0
    while pos < n:
        byte = data[pos]
        pos += 1
        if byte == 0xFF:
            if pos == n:
                raise ValueError("payload marker without payload")
            msg.payload = bytes(data[pos:])
            break
        delta = byte >> 4
        length = byte & 0x0F
        delta, pos = _ext(data, pos, delta)
        length, pos = _ext(data, pos, length)
        if pos + length > n:
            raise ValueError("truncated option")
        number += delta
        msg.options.append((number, bytes(data[pos:pos + length])))
        pos += length
    if code == EMPTY and (tkl or msg.options or msg.payload):
        raise ValueError("empty message with content")
    return msg


def _ext(data, pos, nibble):
    if nibble < 13:
        return nibble, pos
    if nibble == 13:
        if pos >= len(data):
            raise ValueError("truncated option header")
        return data[pos] + 13, pos + 1
    if nibble == 14:
        if pos + 1 >= len(data):
            raise ValueError("truncated option header")
        return ((data[pos] << 8) | data[pos + 1]) + 269, pos + 2
    raise ValueError("option nibble 15 is reserved")


def _ext_nibble(n):
    if n < 13:
        return n, b""
    if n < 269:
        return 13, bytes((n - 13,))
    return 14, struct.pack(">H", n - 269)


def build(msg):
    """Serialise a Message: bytes of exactly its length, allocated once (see cbor.encode)."""
    tok = msg.token
    if len(tok) > 8:
        raise ValueError("token longer than 8 bytes")
    size = 4 + len(tok)
    last = 0
    for number, value in msg.options:
        size += 1 + _ext_len(number - last) + _ext_len(len(value)) + len(value)
        last = number
    if msg.payload:
        size += 1 + len(msg.payload)
    out = bytearray(size)
    out[0] = 0x40 | (msg.mtype << 4) | len(tok)
    out[1] = msg.code
    out[2] = (msg.mid >> 8) & 0xFF
    out[3] = msg.mid & 0xFF
    pos = 4 + len(tok)
    out[4:pos] = tok
    last = 0
    for number, value in msg.options:
        pos = _put_option(out, pos, number - last, value)
        last = number
    if msg.payload:
        out[pos] = 0xFF
        out[pos + 1:] = msg.payload
    return out


def _ext_len(n):
    """Extra header bytes an option delta or length of ``n`` takes (RFC 7252 3.1)."""
    return 0 if n < 13 else 1 if n < 269 else 2


def _put_option(out, pos, delta, value):
    d, dext = _ext_nibble(delta)
    ln, lext = _ext_nibble(len(value))
    out[pos] = (d << 4) | ln
    pos += 1
    for ext in (dext, lext):
        out[pos:pos + len(ext)] = ext
        pos += len(ext)
    out[pos:pos + len(value)] = value
    return pos + len(value)


def reply_to_malformed(data):
    """What to send for a datagram ``parse`` refused: bytes, or None to drop it silently.

    RFC 7252 section 4.2/4.3: a malformed CON is rejected with RST, a malformed NON is
    ignored. When the header and token are intact and only the options or payload are
    broken in a CON request, answer 4.00 Bad Request (piggybacked) so the client learns why.
    """
    if len(data) < 4 or data[0] >> 6 != 1 or (data[0] >> 4) & 3 != CON:
        return None
    mid = (data[2] << 8) | data[3]
    tkl = data[0] & 0x0F
    if 1 <= data[1] <= 31 and tkl <= 8 and 4 + tkl <= len(data):
        return build(Message(ACK, BAD_REQUEST, mid, bytes(data[4:4 + tkl]),
                             b"malformed CoAP message"))
    return build(Message(RST, EMPTY, mid))


def reply_to_oversized(data, limit):
    """What to send for a datagram longer than ``limit``: bytes, or None to drop it.

    A CON request whose header and token are intact gets 4.13 Request Entity Too Large with
    Size1 = ``limit`` (RFC 7252 5.9.2.9, 5.10.9); anything else is dropped.
    """
    if len(data) < 4 or data[0] >> 6 != 1 or (data[0] >> 4) & 3 != CON:
        return None
    tkl = data[0] & 0x0F
    if not 1 <= data[1] <= 31 or tkl > 8:
        return None
    msg = Message(ACK, REQUEST_ENTITY_TOO_LARGE, (data[2] << 8) | data[3],
                  bytes(data[4:4 + tkl]), b"datagram longer than " + str(limit).encode()
                  + b" bytes")
    return build(msg.add(SIZE1, limit))


def block_value(num, more, szx):
    """Block1/Block2 option value (RFC 7959 2.2)."""
    return (num << 4) | (8 if more else 0) | szx


def block_parts(value):
    """(num, more, szx) of a Block option value; szx 7 is reserved -> ValueError."""
    szx = value & 7
    if szx == 7:
        raise ValueError("block size exponent 7 is reserved")
    return value >> 4, bool(value & 8), szx
