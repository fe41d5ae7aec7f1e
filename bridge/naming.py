"""The generic (algorithmic) OCF <-> AllJoyn name mapping and the derived identities.

Layer: a pure helper shared by the protocol adapters (``ocf``, ``alljoyn``, ``sim``) and ``core``.
It implements docs/protocol-notes.md, sections "Generic mapping" and "Identity". It must
not do I/O, hold state, log, or import anything but the standard library (no other ``bridge``
module either), so that every rule here is unit-tested in isolation.

Every mapping comes as a pair of functions; each docstring says which way it goes. Both
directions are exact on their whole domain: where a name has no exact image (for instance an
object path whose URI would read back as a different path) the function raises
:class:`NamingError` rather than returning something that would route to the wrong object.
"""

import hashlib
import re
import uuid

__all__ = [
    "NamingError",
    "alljoyn_to_ocf_property",
    "alljoyn_to_ocf_rt",
    "app_id_from_di",
    "derive_pi",
    "derive_piid",
    "derive_virtual_di",
    "is_valid_interface_name",
    "is_valid_member_name",
    "is_valid_object_path",
    "object_path_to_uri",
    "ocf_rt_to_alljoyn",
    "ocf_to_alljoyn_property",
    "uri_to_object_path",
]


class NamingError(ValueError):
    """A name, path or identity that cannot be mapped to the other side.

    ``value`` is the offending input exactly as given, ``reason`` says what is wrong with it in
    words an operator can act on; the message names both.
    """

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(f"cannot map {value!r}: {reason}")
        self.value = value
        self.reason = reason


# --- D-Bus / AllJoyn name syntax (D-Bus specification, "Valid Names") ------------------------

_MAX_NAME_LENGTH = 255
_ELEMENT = r"[A-Za-z_][A-Za-z0-9_]*"
_INTERFACE_NAME = re.compile(rf"{_ELEMENT}(?:\.{_ELEMENT})+")
_MEMBER_NAME = re.compile(_ELEMENT)
_OBJECT_PATH = re.compile(r"/|(?:/[A-Za-z0-9_]+)+")


def is_valid_interface_name(name: object) -> bool:
    """True if ``name`` is a D-Bus interface name: two or more dot-separated elements, each
    ``[A-Za-z_][A-Za-z0-9_]*``, at most 255 characters in all."""
    return (
        isinstance(name, str)
        and len(name) <= _MAX_NAME_LENGTH
        and _INTERFACE_NAME.fullmatch(name) is not None
    )


def is_valid_member_name(name: object) -> bool:
    """True if ``name`` is a D-Bus member (method, signal, property) name: one element
    ``[A-Za-z_][A-Za-z0-9_]*`` of 1 to 255 characters."""
    return (
        isinstance(name, str)
        and len(name) <= _MAX_NAME_LENGTH
        and _MEMBER_NAME.fullmatch(name) is not None
    )


def is_valid_object_path(path: object) -> bool:
    """True if ``path`` is a D-Bus object path: ``/``, or ``/``-separated non-empty elements of
    ``[A-Za-z0-9_]`` with a leading ``/`` and no trailing ``/``."""
    return isinstance(path, str) and _OBJECT_PATH.fullmatch(path) is not None


# --- Interface name <-> resource type ---------------------------------------------------------
#
# Forward, character by character: lower-case letters, digits and "." are copied; an upper-case
# letter becomes "-" and its lower-case form; a run of n underscores becomes n times "--" when a
# letter follows it and n times "-" otherwise (digit, ".", end).
#
# Why the reverse is exact: in the resource type every maximal run of m hyphens is followed by
# a lower-case letter, a digit, "." or the end.  Hyphens before a letter came from n underscores
# (2n hyphens) and, if the letter was upper case, one more: m even means n = m/2 underscores and
# a lower-case letter, m odd means n = (m-1)/2 underscores and an upper-case letter.  Hyphens
# before anything else came one per underscore.  No other source of "-" exists, so every text
# over [a-z0-9.-] decodes in exactly one way, and re-encoding gives it back.  It still has to
# decode to a valid interface name to be in the image of the forward mapping.
#
# The IoTivity AllJoyn bridge (src/Name.cpp) writes "--" only for the last underscore of a run
# before a letter ("M__w" -> "-m---w", the same text as "M_W"); protocol-notes.md doubles every
# underscore of the run ("-m----w"), which is what makes the reverse exact.

_RT_PREFIX = "x."
_RT_ENCODE = re.compile(r"(_+)(?=[A-Za-z])|(_+)|([A-Z])")
_RT_DECODE = re.compile(r"(-+)([a-z]?)")
_RT_BODY = re.compile(r"[a-z0-9.-]*")


def _encode_rt_token(match: re.Match[str]) -> str:
    before_letter, before_other, upper = match.groups()
    if before_letter is not None:
        return "--" * len(before_letter)
    if before_other is not None:
        return "-" * len(before_other)
    return "-" + upper.lower()


def _decode_rt_token(match: re.Match[str]) -> str:
    hyphens, letter = len(match.group(1)), match.group(2)
    if not letter:
        return "_" * hyphens
    underscores, capital = divmod(hyphens, 2)
    return "_" * underscores + (letter.upper() if capital else letter)


def alljoyn_to_ocf_rt(interface: str) -> str:
    """AllJoyn -> OCF: the resource type ``x.<...>`` for an AllJoyn interface name.

    ``org.alljoyn.SmartSpaces.Operation.OnOffStatus`` gives
    ``x.org.alljoyn.-smart-spaces.-operation.-on-off-status``. Raises :class:`NamingError`
    for a string that is not a valid interface name.
    """
    if not is_valid_interface_name(interface):
        raise NamingError(interface, "not a valid AllJoyn interface name")
    return _RT_PREFIX + _RT_ENCODE.sub(_encode_rt_token, interface)


def ocf_rt_to_alljoyn(rt: str) -> str:
    """OCF -> AllJoyn: the AllJoyn interface name that :func:`alljoyn_to_ocf_rt` maps to ``rt``.

    Raises :class:`NamingError` when ``rt`` lacks the ``x.`` prefix or no valid interface name
    maps to it (upper-case letters or ``_`` in it, an element starting with a digit, fewer than
    two elements, too long).
    """
    if not isinstance(rt, str) or not rt.startswith(_RT_PREFIX):
        raise NamingError(rt, "a generic resource type starts with 'x.'")
    body = rt[len(_RT_PREFIX) :]
    if _RT_BODY.fullmatch(body) is None:
        raise NamingError(rt, "a generic resource type uses only a-z, 0-9, '.' and '-'")
    interface = _RT_DECODE.sub(_decode_rt_token, body)
    if not is_valid_interface_name(interface):
        raise NamingError(
            rt, f"decodes to {interface!r}, which is not a valid AllJoyn interface name"
        )
    return interface


# --- Property names ---------------------------------------------------------------------------
#
# OCF "." <-> AllJoyn "_d" and OCF "-" <-> AllJoyn "_h" (docs/protocol-notes.md).  A literal "_" is
# written "_u" in AllJoyn only where it would otherwise be misread, that is when the OCF "_" is
# followed by zero or more "u" and then "d" or "h".  Decoding AllJoyn: "_" + k times "u" + "d"
# (or "h") is "." (or "-") for k = 0 and a literal "_" + (k-1) times "u" + "d" for k >= 1; every
# other "_" is literal.  The two directions are inverse bijections between all strings over
# [A-Za-z0-9_] and all strings over [A-Za-z0-9_.-], so native AllJoyn names such as "Is_On"
# cross unchanged and back, and so do OCF names such as "x_dim" (AllJoyn "x_udim").

_PROPERTY_DECODE = re.compile(r"_(u*)([dh])")
_PROPERTY_ENCODE = re.compile(r"_(?=u*[dh])|[.-]")
_OCF_PROPERTY = re.compile(r"[A-Za-z0-9_.-]+")
_PROPERTY_SEPARATORS = {"d": ".", "h": "-"}
_PROPERTY_ESCAPES = {"_": "_u", ".": "_d", "-": "_h"}


def _decode_property_token(match: re.Match[str]) -> str:
    us, letter = match.groups()
    if not us:
        return _PROPERTY_SEPARATORS[letter]
    return "_" + us[1:] + letter


def alljoyn_to_ocf_property(name: str) -> str:
    """AllJoyn -> OCF: the OCF property name for an AllJoyn member (property or argument) name.

    ``Target_dValue`` gives ``Target.Value``; ``Is_On`` stays ``Is_On``. Raises
    :class:`NamingError` for a string that is not a valid AllJoyn member name.
    """
    if not is_valid_member_name(name):
        raise NamingError(name, "not a valid AllJoyn member name")
    return _PROPERTY_DECODE.sub(_decode_property_token, name)


def ocf_to_alljoyn_property(name: str) -> str:
    """OCF -> AllJoyn: the AllJoyn member name for an OCF property name.

    ``Target.Value`` gives ``Target_dValue``, ``x-y`` gives ``x_hy``, ``a_d`` gives ``a_ud``.
    Raises :class:`NamingError` when ``name`` uses characters other than letters, digits,
    ``_``, ``.`` and ``-``, starts with a digit, or maps to more than 255 characters.
    """
    if not isinstance(name, str) or _OCF_PROPERTY.fullmatch(name) is None:
        raise NamingError(name, "an OCF property name here uses only A-Z, a-z, 0-9, '_', '.', '-'")
    member = _PROPERTY_ENCODE.sub(lambda m: _PROPERTY_ESCAPES[m.group()], name)
    if not is_valid_member_name(member):
        raise NamingError(name, f"maps to {member!r}, which is not a valid AllJoyn member name")
    return member


# --- Object path <-> URI ----------------------------------------------------------------------
#
# OCF "." "-" "~" "_" <-> AllJoyn "_d" "_h" "_t" "_u" (docs/protocol-notes.md, vector
# "/abc.def-ghi~jkl_mno" <-> "/abc_ddef_hghi_tjkl_umno"); a bare AllJoyn "_" (one not followed
# by d, h, t or u) becomes "~u".  In a URI, "~u" therefore means a bare "_" when the next
# character is not d, h, t or u (a bare "_" is never followed by those in the path, and the
# URI text after it starts with the next path character or with ".", "-", "~", "_" or "/");
# otherwise "~" is "_t".
#
# With the four escapes fixed, every URI over [A-Za-z0-9/._~-] is already the image of a path
# that uses only escapes, so a bare "_" can only borrow a URI from one of those paths: "~u"
# also reads "_t" + "u".  The mapping gives "~u" to the bare "_" (common in AllJoyn paths) and
# refuses the rare paths whose "_tu" is not followed by d, h, t or u: they have no URI of their
# own.  uri_to_object_path is exact for every URI; object_path_to_uri for every path it accepts.

_PATH_TOKEN = re.compile(r"_([dhtu]?)")
_PATH_WITHOUT_URI = re.compile(r"_tu(?![dhtu])")
_PATH_UNESCAPES = {"d": ".", "h": "-", "t": "~", "u": "_", "": "~u"}
_URI = re.compile(r"/|(?:/[A-Za-z0-9._~-]+)+")
_URI_TOKEN = re.compile(r"~u(?![dhtu])|[.~_-]")
_URI_ESCAPES = {"~u": "_", ".": "_d", "-": "_h", "~": "_t", "_": "_u"}


def object_path_to_uri(path: str) -> str:
    """AllJoyn -> OCF: the resource URI (href) for an AllJoyn object path.

    ``/abc_ddef_hghi_tjkl_umno`` gives ``/abc.def-ghi~jkl_mno``; ``/my_light`` gives
    ``/my~ulight``. Raises :class:`NamingError` for an invalid object path and for a path
    containing ``_tu`` not followed by d, h, t or u, whose URI would read back as another path.
    """
    if not is_valid_object_path(path):
        raise NamingError(path, "not a valid AllJoyn object path")
    clash = _PATH_WITHOUT_URI.search(path)
    if clash is not None:
        raise NamingError(
            path,
            f"'_tu' at offset {clash.start()} would become '~u', which reads back as a bare '_'; "
            "this object path has no URI of its own",
        )
    return _PATH_TOKEN.sub(lambda m: _PATH_UNESCAPES[m.group(1)], path)


def uri_to_object_path(uri: str) -> str:
    """OCF -> AllJoyn: the AllJoyn object path for an OCF resource URI (href path).

    ``/abc.def-ghi~jkl_mno`` gives ``/abc_ddef_hghi_tjkl_umno``; ``/my~ulight`` gives
    ``/my_light``. Raises :class:`NamingError` unless ``uri`` is ``/`` or ``/``-separated
    non-empty segments of letters, digits, ``.``, ``-``, ``~`` and ``_`` without a trailing
    ``/`` (no query, no percent-encoding).
    """
    if not isinstance(uri, str) or _URI.fullmatch(uri) is None:
        raise NamingError(
            uri, "a bridged URI is '/' or '/'-separated segments of A-Z a-z 0-9 . - ~ _"
        )
    return _URI_TOKEN.sub(lambda m: _URI_ESCAPES[m.group()], uri)


# --- Identity (docs/protocol-notes.md "Identity") -----------------------------------------------

_IDENTITY_NAMESPACE = uuid.UUID("8f0e4e90-79e5-11e6-bdf4-0800200c9a66")
_UUID_TEXT = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}",
    re.IGNORECASE,
)
_APP_ID_LENGTH = 16


def _uuid5(name: bytes) -> uuid.UUID:
    # uuid.uuid5 takes only str names before Python 3.12; the piid name is DeviceId + raw AppId.
    digest = hashlib.sha1(_IDENTITY_NAMESPACE.bytes + name, usedforsecurity=False).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


def _parse_uuid(text: str) -> uuid.UUID | None:
    if isinstance(text, str) and _UUID_TEXT.fullmatch(text) is not None:
        return uuid.UUID(text)
    return None


def _check_device_id(device_id: str) -> bytes:
    if not isinstance(device_id, str) or not device_id:
        raise NamingError(device_id, "an About DeviceId is a non-empty string")
    return device_id.encode("utf-8")


def _check_app_id(app_id: bytes) -> bytes:
    if not isinstance(app_id, bytes | bytearray) or len(app_id) != _APP_ID_LENGTH:
        raise NamingError(app_id, "an About AppId is exactly 16 bytes")
    return bytes(app_id)


def derive_piid(device_id: str, app_id: bytes) -> str:
    """AllJoyn -> OCF: the ``piid`` of a bridged AllJoyn device without an
    ``org.openconnectivity.piid`` About field.

    UUIDv5 in namespace ``8f0e4e90-79e5-11e6-bdf4-0800200c9a66`` over the UTF-8 DeviceId
    followed by the 16 AppId bytes, as a lower-case dashed UUID string. Raises
    :class:`NamingError` for an empty DeviceId or an AppId that is not 16 bytes.
    """
    return str(_uuid5(_check_device_id(device_id) + _check_app_id(app_id)))


def derive_pi(device_id: str) -> str:
    """AllJoyn -> OCF: the ``/oic/p`` ``pi`` of a bridged AllJoyn device.

    The DeviceId itself when it is a UUID (dashed or 32 hex digits, any case), normalised to a
    lower-case dashed string; otherwise UUIDv5 in the identity namespace over the UTF-8 DeviceId.
    Raises :class:`NamingError` for an empty DeviceId.
    """
    name = _check_device_id(device_id)
    parsed = _parse_uuid(device_id)
    return str(parsed if parsed is not None else _uuid5(name))


def derive_virtual_di(app_id: bytes) -> str:
    """AllJoyn -> OCF: the virtual OCF device's ``di``, the 16 AppId bytes as a UUID string.

    Raises :class:`NamingError` unless ``app_id`` is exactly 16 bytes.
    """
    return str(uuid.UUID(bytes=_check_app_id(app_id)))


def app_id_from_di(di: str) -> bytes:
    """OCF -> AllJoyn: the virtual AllJoyn device's AppId, the 16 bytes of the OCF ``di``.

    Raises :class:`NamingError` unless ``di`` is a UUID (dashed or 32 hex digits, any case).
    """
    parsed = _parse_uuid(di)
    if parsed is None:
        raise NamingError(di, "an OCF di is a UUID string")
    return parsed.bytes
