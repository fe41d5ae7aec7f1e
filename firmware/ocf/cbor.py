"""CBOR (RFC 8949) encoder and decoder for the firmware, MicroPython dialect.

Layer: pure codec. No sockets, no hardware, no asyncio; runs unchanged under MicroPython
(boards, the WebAssembly port) and CPython. It covers the types OCF payloads use: unsigned and
negative integers up to 64 bits, byte and text strings, arrays, maps, false/true/null,
half/single/double floats. Tags are accepted and dropped (the tagged value is returned);
indefinite-length items are decoded but never produced.

Every malformed input raises ``ValueError``: the server turns that into 4.00, never a crash.
Nesting is capped (``MAX_DEPTH``) because MicroPython's C stack is small and recursion past
it would reset the board.
"""

import struct

MAX_DEPTH = 16

_INF = float("inf")


def encode(value):
    """Return the CBOR encoding of ``value``: a bytearray of exactly its length.

    Two passes, the first only counting (``_enc`` with no buffer), so the heap sees one
    allocation of the final size. A buffer grown append by append needs an ever larger free
    block at each step and leaves the smaller ones behind: on a board's fragmented heap a
    /oic/res answer failed that way with kilobytes free in small holes.
    """
    out = bytearray(_enc(None, 0, value, 0))
    _enc(out, 0, value, 0)
    return out


# The writers below put bytes into ``buf`` at ``pos`` and return the position after them;
# with ``buf`` None they only count.

def _put(buf, pos, data):
    end = pos + len(data)
    if buf is not None:
        buf[pos:end] = data
    return end


def _byte(buf, pos, byte):
    if buf is not None:
        buf[pos] = byte
    return pos + 1


def _head(buf, pos, major, n):
    mt = major << 5
    if n < 24:
        return _byte(buf, pos, mt | n)
    if n < 0x100:
        return _byte(buf, _byte(buf, pos, mt | 24), n)
    if n < 0x10000:
        return _put(buf, _byte(buf, pos, mt | 25), struct.pack(">H", n))
    if n < 0x100000000:
        return _put(buf, _byte(buf, pos, mt | 26), struct.pack(">I", n))
    if n < 0x10000000000000000:
        return _put(buf, _byte(buf, pos, mt | 27), struct.pack(">II", n >> 32, n & 0xFFFFFFFF))
    raise ValueError("integer too large for CBOR")


def _enc(buf, pos, v, depth):
    if depth > MAX_DEPTH:
        raise ValueError("nesting too deep")
    # bool before int: True is an int in Python.
    if v is None:
        return _byte(buf, pos, 0xF6)
    if v is True:
        return _byte(buf, pos, 0xF5)
    if v is False:
        return _byte(buf, pos, 0xF4)
    if isinstance(v, int):
        return _head(buf, pos, 0, v) if v >= 0 else _head(buf, pos, 1, -1 - v)
    if isinstance(v, float):
        return _enc_float(buf, pos, v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        return _put(buf, _head(buf, pos, 3, len(b)), b)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return _put(buf, _head(buf, pos, 2, len(v)), v)
    if isinstance(v, (list, tuple)):
        pos = _head(buf, pos, 4, len(v))
        for item in v:
            pos = _enc(buf, pos, item, depth + 1)
        return pos
    if isinstance(v, dict):
        pos = _head(buf, pos, 5, len(v))
        for k in v:
            pos = _enc(buf, _enc(buf, pos, k, depth + 1), v[k], depth + 1)
        return pos
    raise ValueError("cannot encode " + type(v).__name__)


def _enc_float(buf, pos, v):
    # Single precision when it is exact (always true on boards whose floats are 32-bit),
    # otherwise double. NaN and infinities survive both.
    try:
        single = struct.pack(">f", v)
    except OverflowError:
        single = None
    if single is not None and (v != v or struct.unpack(">f", single)[0] == v):
        return _put(buf, _byte(buf, pos, 0xFA), single)
    return _put(buf, _byte(buf, pos, 0xFB), struct.pack(">d", v))


def decode(data):
    """Decode exactly one CBOR item that fills ``data``; raise ValueError otherwise."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError("CBOR input must be bytes")
    data = bytes(data)
    value, pos = _dec(data, 0, 0)
    if pos != len(data):
        raise ValueError("trailing bytes after CBOR item")
    return value


def _need(data, pos, n):
    if pos + n > len(data):
        raise ValueError("truncated CBOR")


def _arg(data, pos, info):
    """Read the argument of a head whose additional info is ``info``; return (n, pos)."""
    if info < 24:
        return info, pos
    if info == 24:
        _need(data, pos, 1)
        return data[pos], pos + 1
    if info == 25:
        _need(data, pos, 2)
        return (data[pos] << 8) | data[pos + 1], pos + 2
    if info == 26:
        _need(data, pos, 4)
        return struct.unpack(">I", data[pos:pos + 4])[0], pos + 4
    if info == 27:
        _need(data, pos, 8)
        hi, lo = struct.unpack(">II", data[pos:pos + 8])
        return (hi << 32) | lo, pos + 8
    raise ValueError("reserved additional info")


def _half(h):
    exp = (h >> 10) & 0x1F
    mant = h & 0x3FF
    if exp == 0:
        val = mant * 5.960464477539063e-08  # 2**-24
    elif exp != 31:
        val = (mant + 1024) * (2.0 ** (exp - 25))
    elif mant == 0:
        val = _INF
    else:
        val = _INF - _INF
    return -val if h & 0x8000 else val


def _dec(data, pos, depth):
    if depth > MAX_DEPTH:
        raise ValueError("nesting too deep")
    _need(data, pos, 1)
    ib = data[pos]
    pos += 1
    major = ib >> 5
    info = ib & 0x1F
    if major == 7:
        return _simple(data, pos, info)
    if info == 31:
        return _indefinite(data, pos, major, depth)
    n, pos = _arg(data, pos, info)
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major == 2 or major == 3:
        _need(data, pos, n)
        chunk = data[pos:pos + n]
        if major == 3:
            try:
                chunk = chunk.decode("utf-8")
            except UnicodeError:
                raise ValueError("invalid UTF-8 in text string") from None
        return chunk, pos + n
    if major == 4:
        # Each element takes at least one byte: refuse lengths the input cannot hold
        # before allocating anything.
        _need(data, pos, n)
        items = []
        for _ in range(n):
            item, pos = _dec(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        _need(data, pos, 2 * n)
        result = {}
        for _ in range(n):
            key, pos = _dec(data, pos, depth + 1)
            if isinstance(key, (list, dict)):
                raise ValueError("unhashable map key")
            val, pos = _dec(data, pos, depth + 1)
            result[key] = val
        return result, pos
    # major 6: a tag; keep the tagged value, drop the tag.
    return _dec(data, pos, depth + 1)


def _simple(data, pos, info):
    if info == 20:
        return False, pos
    if info == 21:
        return True, pos
    if info == 22 or info == 23:
        return None, pos
    if info == 25:
        _need(data, pos, 2)
        return _half((data[pos] << 8) | data[pos + 1]), pos + 2
    if info == 26:
        _need(data, pos, 4)
        return struct.unpack(">f", data[pos:pos + 4])[0], pos + 4
    if info == 27:
        _need(data, pos, 8)
        return struct.unpack(">d", data[pos:pos + 8])[0], pos + 8
    raise ValueError("unsupported simple value")


def _indefinite(data, pos, major, depth):
    if major == 2 or major == 3:
        parts = bytearray()
        while True:
            _need(data, pos, 1)
            if data[pos] == 0xFF:
                pos += 1
                break
            if data[pos] >> 5 != major or data[pos] & 0x1F == 31:
                raise ValueError("bad chunk in indefinite string")
            chunk, pos = _dec(data, pos, depth + 1)
            parts.extend(chunk.encode("utf-8") if major == 3 else chunk)
        if major == 3:
            try:
                return bytes(parts).decode("utf-8"), pos
            except UnicodeError:
                raise ValueError("invalid UTF-8 in text string") from None
        return bytes(parts), pos
    if major == 4 or major == 5:
        items = [] if major == 4 else {}
        while True:
            _need(data, pos, 1)
            if data[pos] == 0xFF:
                return items, pos + 1
            item, pos = _dec(data, pos, depth + 1)
            if major == 4:
                items.append(item)
            else:
                if isinstance(item, (list, dict)):
                    raise ValueError("unhashable map key")
                val, pos = _dec(data, pos, depth + 1)
                items[item] = val
    raise ValueError("indefinite length not allowed here")
