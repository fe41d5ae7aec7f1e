"""The compiled lean GET path: plain GETs of virtual OCF devices answered off the interpreter.

Layer: ``bridge.ocf`` I/O. ``bridge/ocf/lean_serve.c``, built into a shared library next to
this module when the package is installed (``hatch_build.py``; docs/design.md, "The compiled
GET path"), runs one thread per event loop that waits on the sockets of that loop's virtual
OCF devices and answers a GET itself when the Python lean path (``bridge.ocf.lean_path``)
handed it the answer to those very request options before (:meth:`CompiledPath.keep`). Every
other datagram, error queue entry and socket error comes back, in order, through a queue the
event loop drains when the library's eventfd wakes it: the Python lean path and aiocoap then
treat it as if they had read it themselves.

Without the library (no C compiler at install, another OS, ``ocf.lean_compiled = false``)
:func:`library` is None and the Python lean path reads the sockets itself, unchanged.

The library also keeps the request window (``bridge.ocf.limits.Window``):
:class:`CompiledWindow` is that window with its records in C, so that one window counts the
requests of both paths.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import sys
import time
import weakref
from collections.abc import Hashable
from pathlib import Path
from typing import Any, ClassVar

from bridge.ocf.limits import EXCHANGE_LIFETIME, ClientLimits, Window

log = logging.getLogger("ocfaj.ocf.server")

#: The library's file, built next to this module (``hatch_build.py``).
LIBRARY = Path(__file__).with_name("_lean_serve.so")
#: Kinds of what the library queues for the event loop (``lean_serve.c``, ``ITEM_*``).
DATA, ERRQUEUE, READ_ERROR, SEND_ERROR = 1, 2, 3, 4
#: Room for one queued item: the largest UDP payload and its ancillary data.
ROOM = 65536 + 2048
_ANCILLARY_ITEM = struct.Struct("=iiI")


def _head_type(ctypes: Any) -> Any:
    """``item_head_t`` of ``lean_serve.c``, as a ctypes structure."""

    class Head(ctypes.Structure):  # type: ignore[misc]
        _fields_: ClassVar = [("kind", ctypes.c_int32), ("fd", ctypes.c_int32),
                    ("err", ctypes.c_int32), ("flags", ctypes.c_int32),
                    ("dlen", ctypes.c_uint32), ("alen", ctypes.c_uint32),
                    ("addr", ctypes.c_uint8 * 16), ("port", ctypes.c_uint32),
                    ("flowinfo", ctypes.c_uint32), ("scope", ctypes.c_uint32)]

    return Head


_loaded: Any = None
_tried = False
#: the ctypes structure of a queued item's head (made with the library's first load).
_Head: Any = None


def built() -> bool:
    """Whether the library was built for this install (without loading it, or ctypes)."""
    return sys.platform.startswith("linux") and LIBRARY.exists()


def library() -> Any:
    """The loaded library, or None when it is not built or cannot load here (logged once)."""
    global _loaded, _tried, _Head
    if _tried:
        return _loaded
    _tried = True
    if not built():
        return None
    # ctypes only now: a gateway without virtual OCF devices never needs it (idle memory).
    import ctypes
    try:
        lib = ctypes.CDLL(str(LIBRARY))
    except OSError as err:
        log.warning("compiled GET path not loaded (%s): the Python lean path answers", err)
        return None
    p, i, u32, u64, d, b = (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_uint64,
                            ctypes.c_double, ctypes.c_char_p)
    for name, result, arguments in (
            ("ow_new", p, (u32, u32, d)), ("ow_take", d, (p, b, u32, b, u32, d)),
            ("ow_total", u32, (p, d)), ("ow_count", u32, (p, b, u32, d)),
            ("ow_free", None, (p,)), ("os_new", p, ()), ("os_wake_fd", i, (p,)),
            ("os_add", i, (p, i, p, i)), ("os_allow", None, (p, i, u32)),
            ("os_remove", None, (p, i)),
            ("os_keep", i, (p, i, b, u32, b, u32, ctypes.c_int32, d)),
            ("os_forget", None, (p, i, ctypes.c_int32)),
            ("os_remember", None, (p, i, b, u32, u32, u32, b, u32)), ("os_answered", u64, (p, i)),
            ("os_lost", u64, (p,)), ("os_set_now", None, (p, d)),
            ("os_next", i, (p, ctypes.c_void_p, ctypes.c_char_p, u32)),
            ("os_free", None, (p,))):
        function = getattr(lib, name)
        function.restype = result
        function.argtypes = arguments
    _Head = _head_type(ctypes)
    _loaded = lib
    return lib


def describe(wanted: bool) -> str:
    """The compiled path's state for the start log: ``on``, ``off (...)`` or ``not built
    (...)``; ``wanted``: ``ocf.lean_get`` and ``ocf.lean_compiled`` are both on."""
    if not sys.platform.startswith("linux"):
        return f"not built (not on Linux: {sys.platform}); the Python lean path answers"
    if not LIBRARY.exists():
        return ("not built (the install found no C compiler, or OCFAJ_NO_COMPILED was set); "
                "the Python lean path answers")
    if library() is None:
        return "not loaded (see the warning above); the Python lean path answers"
    if not wanted:
        return "off (ocf.lean_get or ocf.lean_compiled is false)"
    return "on"


class CompiledWindow(Window):
    """:class:`~bridge.ocf.limits.Window` on the monotonic clock, its records in the library
    (which the compiled path's thread counts in as well). A key is the request's
    ``(address, port, message id)`` as ``bridge.ocf.admission`` makes it."""

    def __init__(self, per_client: int, total: int, lifetime: float = EXCHANGE_LIFETIME
                 ) -> None:
        super().__init__(per_client, total, lifetime)
        lib = library()
        assert lib is not None
        self._lib = lib
        self.handle = lib.ow_new(min(per_client, 0xFFFFFFFF), min(total, 0xFFFFFFFF),
                                 lifetime)
        if not self.handle:
            raise MemoryError("the compiled request window")
        weakref.finalize(self, lib.ow_free, self.handle)

    @classmethod
    def like(cls, window: Window) -> CompiledWindow:
        """A compiled window with the caps and the records of ``window``."""
        compiled = cls(window.per_client, window.limit, window.lifetime)
        for at, host, key in window._order:
            compiled.take(host, key, at)
        return compiled

    @property
    def total(self) -> int:
        return int(self._lib.ow_total(self.handle, -1.0))

    def count(self, host: str) -> int:
        name = host.encode()
        return int(self._lib.ow_count(self.handle, name, len(name), -1.0))

    def take(self, host: str, key: Hashable, now: float | None = None) -> float | None:
        name = host.encode()
        if isinstance(key, tuple) and len(key) == 3:
            text = f"{key[0]},{key[1]},{key[2]}".encode()
        else:
            text = repr(key).encode()
        wait = self._lib.ow_take(self.handle, name, len(name), text, len(text),
                                 -1.0 if now is None else now)
        return None if wait < 0 else float(wait)


#: What a socket's owner gets from the event loop's drain: a datagram (data, ancdata, flags,
#: address), an error queue entry (the same), a read's error, or a send's error (the error,
#: the address and the IPV6_PKTINFO sent from).
class Receiver:
    """What :class:`CompiledPath` hands the items of one socket to (``LeanGets``)."""

    def datagram(self, data: bytes, ancdata: list[tuple[int, int, bytes]], flags: int,
                 address: tuple[str, int, int, int]) -> None: ...

    def errqueue(self, data: bytes, ancdata: list[tuple[int, int, bytes]], flags: int,
                 address: tuple[str, int, int, int]) -> None: ...

    def read_error(self, err: OSError) -> None: ...

    def send_error(self, err: OSError, address: tuple[str, int, int, int],
                   pktinfo: bytes) -> None: ...


class CompiledPath:
    """The library's thread for one event loop: the sockets it serves and the drain of what it
    hands back. :func:`compiled_path` gives the running loop's, made at its first socket and
    ended with its last (:meth:`remove`)."""

    def __init__(self, lib: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._lib = lib
        self._loop = loop
        self.handle = lib.os_new()
        if not self.handle:
            raise OSError("the compiled GET path's thread did not start")
        self._wake = lib.os_wake_fd(self.handle)
        self._receivers: dict[int, Receiver] = {}
        import ctypes  # loaded with the library already
        self._head = _Head()
        self._head_address = ctypes.addressof(self._head)
        self._buffer = ctypes.create_string_buffer(ROOM)
        loop.add_reader(self._wake, self._drain)

    def add(self, sock: socket.socket, receiver: Receiver, window: CompiledWindow | None,
            *, restricted: bool = False) -> None:
        """Serve ``sock``: its reads are the thread's from now on. ``restricted``
        (``ocf.interfaces``): only requests that arrive on an interface :meth:`allow` named."""
        fd = sock.fileno()
        err = self._lib.os_add(self.handle, fd, window.handle if window is not None else None,
                               int(restricted))
        if err:
            raise OSError(err, f"compiled GET path: {os.strerror(err)}")
        self._receivers[fd] = receiver

    def remove(self, sock_fd: int) -> None:
        """Stop serving ``sock_fd`` (before it is closed); the last one ends the thread."""
        if self._receivers.pop(sock_fd, None) is None:
            return
        self._lib.os_remove(self.handle, sock_fd)
        if not self._receivers:
            self.close()

    def close(self) -> None:
        if self.handle is None:
            return
        _PATHS.pop(self._loop, None)
        if not self._loop.is_closed():
            self._loop.remove_reader(self._wake)
        handle, self.handle = self.handle, None
        self._drain_all(handle)
        self._lib.os_free(handle)

    def keep(self, fd: int, options: bytes, tail: bytes, tag: int, until: float) -> None:
        """A GET of ``fd`` with ``options`` (the bytes after its token) is answered with
        ``tail`` after the header and token, until ``until`` (``time.monotonic()``); ``tag``
        names its resource for :meth:`forget`."""
        self._lib.os_keep(self.handle, fd, options, len(options), tail, len(tail), tag, until)

    def allow(self, fd: int, index: int) -> None:
        """Requests to ``fd`` arriving on interface ``index`` are the thread's to take."""
        self._lib.os_allow(self.handle, fd, index)

    def forget(self, fd: int, tag: int = -1) -> None:
        self._lib.os_forget(self.handle, fd, tag)

    def remember(self, fd: int, address: Any, mid: int, reply: bytes | None) -> None:
        """A request answered by the Python lean path: its repeats are duplicates in the
        thread too (``reply``: a CON's answer, sent again; None: a NON's, not answered)."""
        source = socket.inet_pton(socket.AF_INET6, address[0])
        self._lib.os_remember(self.handle, fd, source, address[3], address[1], mid, reply,
                              len(reply) if reply is not None else 0)

    def answered(self, fd: int) -> int:
        return int(self._lib.os_answered(self.handle, fd))

    @property
    def lost(self) -> int:
        """Datagrams lost because the event loop fell a whole queue behind."""
        return int(self._lib.os_lost(self.handle)) if self.handle is not None else 0

    def set_now(self, now: float | None) -> None:
        """The clock of the duplicate records and of the kept answers' ``until`` (None: the
        monotonic clock; the request window keeps that one); for tests."""
        self._lib.os_set_now(self.handle, -1.0 if now is None else now)

    def _drain(self) -> None:
        try:
            os.read(self._wake, 8)
        except BlockingIOError:
            pass
        self._drain_all(self.handle)

    def _drain_all(self, handle: Any) -> None:
        head, address, buffer, lib = self._head, self._head_address, self._buffer, self._lib
        while True:
            taken = lib.os_next(handle, address, buffer, ROOM)
            if not taken:
                return
            receiver = self._receivers.get(head.fd)
            if receiver is None or taken < 0:
                continue
            try:
                self._hand(receiver, head, buffer)
            except Exception as error:
                # As an error of the socket's reader would reach it: the event loop's
                # handler (the daemon's logs one kind once per interval); the next items go
                # on.
                self._loop.call_exception_handler({
                    "message": "Exception in the compiled GET path's hand-over",
                    "exception": error})

    @staticmethod
    def _hand(receiver: Receiver, head: Any, buffer: Any) -> None:
        kind = head.kind
        if kind == READ_ERROR:
            receiver.read_error(OSError(head.err, os.strerror(head.err)))
            return
        address = (socket.inet_ntop(socket.AF_INET6, bytes(head.addr)), head.port,
                   head.flowinfo, head.scope)
        raw = buffer.raw[:head.dlen + head.alen] if head.dlen + head.alen else b""
        if kind == SEND_ERROR:
            receiver.send_error(OSError(head.err, os.strerror(head.err)), address,
                                raw[:head.alen])
            return
        data, packed = raw[:head.dlen], raw[head.dlen:]
        ancdata = []
        at = 0
        while at + _ANCILLARY_ITEM.size <= len(packed):
            level, kind_, length = _ANCILLARY_ITEM.unpack_from(packed, at)
            at += _ANCILLARY_ITEM.size
            ancdata.append((level, kind_, packed[at:at + length]))
            at += length
        if kind == DATA:
            receiver.datagram(data, ancdata, head.flags, address)
        else:
            receiver.errqueue(data, ancdata, head.flags, address)


_PATHS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CompiledPath] = (
    weakref.WeakKeyDictionary())


def compiled_path() -> CompiledPath | None:
    """The running loop's compiled path (made now if need be); None without the library."""
    lib = library()
    if lib is None:
        return None
    loop = asyncio.get_running_loop()
    path = _PATHS.get(loop)
    if path is None:
        path = _PATHS[loop] = CompiledPath(lib, loop)
    return path


def compiled_window(limits: ClientLimits) -> bool:
    """Whether the compiled path can serve under ``limits``, whose request window it moves
    into the library first (once; a window on a clock of its own stays, and the compiled path
    then is not used). False when the library did not load."""
    if library() is None:
        return False
    window = limits.requests
    if (window is not None and not isinstance(window, CompiledWindow)
            and window.clock is time.monotonic):
        limits.requests = CompiledWindow.like(window)
    return True


def monotonic_window(window: Window | None) -> bool:
    """Whether ``window`` can be counted in by the compiled path (None: nothing is capped)."""
    return window is None or isinstance(window, CompiledWindow)

