"""Linux's ``recvmmsg`` and ``sendmmsg`` through ctypes: many datagrams per system call.

Layer: benchmark tooling (Linux with glibc only). The ``--mmsg`` floor of ``bench/udp_floor.py``
reads up to ``slots`` datagrams with one ``recvmmsg(2)`` and sends all their answers with one
``sendmmsg(2)``. The message headers, addresses and buffers are allocated once; per datagram
Python touches only a few bytes of them through memoryviews (a ctypes attribute access costs
several times an index into a memoryview). Send slot *j* sends to the address of receive slot
*j*, so an answer queued for the datagram of the same slot needs no copy of its address.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket

MSG_DONTWAIT = 0x40
_AGAIN = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    # glibc's struct msghdr (musl's differs: int msg_iovlen and msg_controllen, with padding).
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.c_void_p), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


_LIBC = ctypes.CDLL(None, use_errno=True)
_recvmmsg = _LIBC.recvmmsg
_recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                      ctypes.c_void_p]
_recvmmsg.restype = ctypes.c_int
_sendmmsg = _LIBC.sendmmsg
_sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_sendmmsg.restype = ctypes.c_int

_HEADER = ctypes.sizeof(_Mmsghdr)
_LEN_AT = _Mmsghdr.msg_len.offset
_IOV = ctypes.sizeof(_Iovec)
_IOV_LEN_AT = _Iovec.iov_len.offset
#: size_t is an unsigned long on every Linux ABI, so iov_len is written as one ("L").
_SIZE_T = ctypes.sizeof(ctypes.c_ulong)
assert _SIZE_T == ctypes.sizeof(ctypes.c_size_t)


def _address_room(family: int) -> int:
    """sizeof(struct sockaddr_in6) or sizeof(struct sockaddr_in)."""
    return 28 if family == socket.AF_INET6 else 16


class Batch:
    """Receive and send buffers of ``slots`` datagrams of at most ``room`` bytes on ``fd``.

    :meth:`receive` reads what is waiting (0 when nothing is); :meth:`datagram` is the bytes
    of one slot until the next :meth:`receive`; :meth:`queue` writes an answer to the sender
    of a slot, in order of the slots; :meth:`send` sends all queued at once.
    """

    def __init__(self, fd: int, slots: int, room: int, *, family: int) -> None:
        self._fd = fd
        self._slots = slots
        self._room = room
        self._name = _address_room(family)
        self._received = bytearray(slots * room)
        self._sending = bytearray(slots * room)
        self._names = bytearray(slots * self._name)
        self._rheaders = bytearray(slots * _HEADER)
        self._sheaders = bytearray(slots * _HEADER)
        self._siovs = bytearray(slots * _IOV)
        riovs = (_Iovec * slots)()
        received = (ctypes.c_char * len(self._received)).from_buffer(self._received)
        sending = (ctypes.c_char * len(self._sending)).from_buffer(self._sending)
        names = (ctypes.c_char * len(self._names)).from_buffer(self._names)
        rheaders = (_Mmsghdr * slots).from_buffer(self._rheaders)
        sheaders = (_Mmsghdr * slots).from_buffer(self._sheaders)
        siovs = (_Iovec * slots).from_buffer(self._siovs)
        for slot in range(slots):
            riovs[slot].iov_base = ctypes.addressof(received) + slot * room
            riovs[slot].iov_len = room
            siovs[slot].iov_base = ctypes.addressof(sending) + slot * room
            for headers, iovs in ((rheaders, ctypes.addressof(riovs)),
                                  (sheaders, ctypes.addressof(siovs))):
                header = headers[slot].msg_hdr
                header.msg_name = ctypes.addressof(names) + slot * self._name
                header.msg_namelen = self._name
                header.msg_iov = iovs + slot * _IOV
                header.msg_iovlen = 1
        # Kept so the memory the headers point into lives as long as the batch.
        self._keep = (riovs, received, sending, names, rheaders, sheaders, siovs)
        self._rvec = ctypes.addressof(rheaders)
        self._svec = ctypes.addressof(sheaders)
        self._lengths = memoryview(self._rheaders).cast("I")
        self._send_lengths = memoryview(self._siovs).cast("L")
        self._view = memoryview(self._received)
        self._queued = 0

    def receive(self) -> int:
        """Read up to ``slots`` waiting datagrams without blocking: how many were read."""
        count: int = _recvmmsg(self._fd, self._rvec, self._slots, MSG_DONTWAIT, None)
        if count < 0:
            err = ctypes.get_errno()
            if err in _AGAIN:
                return 0
            raise OSError(err, os.strerror(err))
        return count

    def datagram(self, slot: int) -> memoryview:
        """The bytes received in ``slot`` (a view, valid until the next :meth:`receive`)."""
        start = slot * self._room
        return self._view[start:start + self._lengths[(slot * _HEADER + _LEN_AT) // 4]]

    def queue(self, slot: int, data: bytes) -> None:
        """Queue ``data`` (at most ``room`` bytes) to the sender of ``slot``; slots in order."""
        at = self._queued
        if at != slot:
            name = self._name
            self._names[at * name:(at + 1) * name] = self._names[slot * name:(slot + 1) * name]
        start = at * self._room
        self._sending[start:start + len(data)] = data
        self._send_lengths[(at * _IOV + _IOV_LEN_AT) // _SIZE_T] = len(data)
        self._queued = at + 1

    def send(self) -> None:
        """Send every queued datagram (one that the kernel refuses is lost, as with sendto)."""
        sent, count = 0, self._queued
        self._queued = 0
        while sent < count:
            done: int = _sendmmsg(self._fd, self._svec + sent * _HEADER, count - sent, 0)
            if done < 0:
                done = 1  # the first one failed (a full buffer, a peer's ICMP error)
            sent += done
