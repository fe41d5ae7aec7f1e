"""The one place that reaches below pyOpenSSL's public API: PSK callbacks and the identity hint.

Layer: ``bridge.ocf`` I/O edge (the DTLS library binding; no sockets). pyOpenSSL offers DTLS,
cookies, MTU, timers and the handshake secrets publicly, but (since its 25.x series) no PSK
callbacks. The OpenSSL bindings that pyOpenSSL is built on (``cryptography``'s cffi binding)
still carry ``SSL_CTX_set_psk_client_callback``, ``SSL_CTX_set_psk_server_callback`` and
``SSL_CTX_use_psk_identity_hint``; this module installs them on a pyOpenSSL ``Context``
through that context's C pointer. Nothing else in the project touches the binding, and
:func:`load` refuses versions outside the bound the tests ran with (``SUPPORTED``).

OpenSSL's PSK interface passes identities and hints as C strings: a byte 0 ends them. OCF's
binary uuids that contain a zero byte therefore arrive shortened; callers match what arrives
as a prefix (``bridge.ocf.dtls``), and the gateway gives the uuids it chooses no zero byte
(docs/security.md, "DTLS library").

The library is optional (the ``secure`` extra) and imported lazily: a missing or unsupported
one raises ``SecurityUnavailable`` with what to install.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.core.errors import SecurityUnavailable

#: pyOpenSSL major versions this module was tested with (lowest, first unsupported).
SUPPORTED = (25, 27)
#: OpenSSL cipher string names of the two OCF suites (0xC037, 0xC0AE).
PSK_SUITE = "ECDHE-PSK-AES128-CBC-SHA256"
CERT_SUITE = "ECDHE-ECDSA-AES128-CCM8"
#: The cipher list of the certificate suite's contexts. OpenSSL (3.x and later) counts the
#: CCM_8 suites (8-byte tags) only at security level 0 and otherwise offers none ("no
#: ciphers available"); the list names that one suite only, and the owner checks the
#: device's key and chain itself (``bridge.ocf.mfg_trust``).
CERT_CIPHERS = CERT_SUITE + ":@SECLEVEL=0"
#: Longest PSK OCF uses (32 bytes); OpenSSL offers room for 256.
MAX_PSK = 32

#: Client side: (the connection's app data, the server's identity hint) -> (our identity,
#: the key); None refuses the handshake.
ChooseKey = Callable[[Any, bytes], "tuple[bytes, bytes] | None"]
#: Server side: (the connection's app data, the client's identity) -> the key; None refuses.
FindKey = Callable[[Any, bytes], "bytes | None"]

INSTALL_HINT = "install the gateway with its 'secure' extra: pip install 'ocfaj[secure]'"


@dataclass(frozen=True)
class Binding:
    """The loaded library: pyOpenSSL's ``SSL`` module and the cffi ``lib``/``ffi`` under it."""

    SSL: Any
    lib: Any
    ffi: Any
    version: str


_loaded: Binding | None = None


def load() -> Binding:
    """The DTLS library, imported on first use; ``SecurityUnavailable`` when missing."""
    global _loaded
    if _loaded is not None:
        return _loaded
    try:
        import OpenSSL
        from cryptography.hazmat.bindings.openssl.binding import Binding as OsslBinding
        from OpenSSL import SSL
    except ImportError as err:
        raise SecurityUnavailable(f"secured OCF (coaps) needs pyOpenSSL ({err}): "
                                  f"{INSTALL_HINT}") from None
    version = str(OpenSSL.__version__)
    major = int(version.split(".")[0])
    if not SUPPORTED[0] <= major < SUPPORTED[1]:
        raise SecurityUnavailable(
            f"pyOpenSSL {version} is not supported (need >= {SUPPORTED[0]}, < {SUPPORTED[1]}): "
            f"{INSTALL_HINT}")
    binding = OsslBinding()
    lib = binding.lib
    for name in ("SSL_CTX_set_psk_client_callback", "SSL_CTX_set_psk_server_callback",
                 "SSL_CTX_use_psk_identity_hint"):
        if not hasattr(lib, name):
            raise SecurityUnavailable(f"the OpenSSL binding under pyOpenSSL {version} lacks "
                                      f"{name}: {INSTALL_HINT}")
    _loaded = Binding(SSL, lib, binding.ffi, version)
    return _loaded


def _c_pointer(context: Any) -> Any:
    # pyOpenSSL keeps the SSL_CTX pointer in ``Context._context`` (all supported versions).
    return context._context


def _app_data(b: Binding, ssl: Any) -> Any:
    # pyOpenSSL maps each SSL pointer back to its Connection for its own callbacks
    # (``Connection._reverse_mapping``); the app data is what ``bridge.ocf.dtls`` set on it.
    connection = b.SSL.Connection._reverse_mapping.get(ssl)
    return None if connection is None else connection.get_app_data()


def set_psk_client(context: Any, choose: ChooseKey) -> None:
    """Make ``context`` (a client ``SSL.Context``) answer a PSK server with ``choose``."""
    b = load()

    def callback(ssl: Any, hint: Any, identity: Any, max_identity: int, psk: Any,
                 max_psk: int) -> int:
        try:
            received = b.ffi.string(hint) if hint != b.ffi.NULL else b""
            chosen = choose(_app_data(b, ssl), received)
            if chosen is None:
                return 0
            ident, key = chosen
            if len(ident) + 1 > max_identity or len(key) > min(max_psk, MAX_PSK):
                return 0
            b.ffi.memmove(identity, ident + b"\0", len(ident) + 1)
            b.ffi.memmove(psk, key, len(key))
            return len(key)
        except Exception:  # never let an exception cross into OpenSSL: refuse instead
            return 0

    handle = b.ffi.callback("unsigned int(SSL *, const char *, char *, unsigned int, "
                            "unsigned char *, unsigned int)", callback)
    _keep(context, handle)
    b.lib.SSL_CTX_set_psk_client_callback(_c_pointer(context), handle)


def set_psk_server(context: Any, hint: bytes, find: FindKey) -> None:
    """Make ``context`` (a server ``SSL.Context``) send ``hint`` and look keys up with
    ``find``. ``hint`` must hold no zero byte (OpenSSL takes it as a C string)."""
    if b"\0" in hint:
        raise ValueError("a PSK identity hint cannot hold a zero byte with OpenSSL")
    b = load()

    def callback(ssl: Any, identity: Any, psk: Any, max_psk: int) -> int:
        try:
            key = find(_app_data(b, ssl),
                       b.ffi.string(identity) if identity != b.ffi.NULL else b"")
            if key is None or len(key) > min(max_psk, MAX_PSK):
                return 0
            b.ffi.memmove(psk, key, len(key))
            return len(key)
        except Exception:  # never let an exception cross into OpenSSL: refuse instead
            return 0

    handle = b.ffi.callback("unsigned int(SSL *, const char *, unsigned char *, unsigned int)",
                            callback)
    _keep(context, handle)
    ptr = _c_pointer(context)
    b.lib.SSL_CTX_set_psk_server_callback(ptr, handle)
    if hint and b.lib.SSL_CTX_use_psk_identity_hint(ptr, hint) != 1:
        raise SecurityUnavailable("OpenSSL refused the PSK identity hint")


def _keep(context: Any, handle: Any) -> None:
    # cffi callbacks must outlive the C context that calls them: keep them with the context.
    handles = context.__dict__.setdefault("_ocfaj_psk_callbacks", [])
    handles.append(handle)
