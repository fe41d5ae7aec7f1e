"""OCF Security Virtual Resources: codecs, the device state machine and its access rules.

Layer: ``bridge.ocf`` pure (no sockets, no DTLS library, no asyncio). The device side
(:class:`SecureState`, used by the simulated secured device) and the owner side
(``bridge.ocf.onboarding``, which builds its request bodies with the ``*_body`` functions)
share these definitions. What they implement is described in docs/security.md, "Secured OCF
devices": ``/oic/sec/doxm`` (ownership), ``/oic/sec/pstat`` (provisioning state),
``/oic/sec/cred`` (credentials), ``/oic/sec/acl2`` (access control entries) and
``/oic/sec/sdi`` (security domain).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from bridge.ocf.sec_keys import nul_free_uuid

NIL = uuid.UUID(int=0)
DOXM, PSTAT, CRED, ACL2, SDI = ("/oic/sec/doxm", "/oic/sec/pstat", "/oic/sec/cred",
                                "/oic/sec/acl2", "/oic/sec/sdi")
SVRS = frozenset({DOXM, PSTAT, CRED, ACL2, SDI})
#: Resources every client may read in clear once the device is owned.
CORE = frozenset({"/oic/res", "/oic/d", "/oic/p", SDI})
#: ``oxmsel`` values: Just Works, Random PIN, manufacturer certificate; 4 = none chosen.
JUST_WORKS, RANDOM_PIN, MFG_CERT, NO_OXM = 0, 1, 2, 4
#: The PSK identity of a Random PIN ownership session.
RDP_IDENTITY = b"oic.sec.doxm.rdp"
#: ACE permission bits (create, read, update, delete, notify).
CREATE, READ, UPDATE, DELETE, NOTIFY = 1, 2, 4, 8, 16
CREDTYPE_PSK = 1


class DeviceState(IntEnum):
    """``pstat.dos.s``: the device onboarding state."""

    RESET = 0
    RFOTM = 1
    RFPRO = 2
    RFNOP = 3
    SRESET = 4


#: Allowed ``dos.s`` changes; everything else is 4.00 (RFPRO/RFNOP never go back to RFOTM,
#: RFOTM never to SRESET).
TRANSITIONS = {
    DeviceState.RFOTM: {DeviceState.RFPRO},
    DeviceState.RFPRO: {DeviceState.RFNOP, DeviceState.SRESET, DeviceState.RESET},
    DeviceState.RFNOP: {DeviceState.RFPRO, DeviceState.SRESET, DeviceState.RESET},
    DeviceState.SRESET: {DeviceState.RFPRO, DeviceState.RESET},
}


class SvrRefused(Exception):
    """A request a device refuses: ``code`` is the CoAP status number (400, 401, 403)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def method_permission(method: str, observe: bool = False) -> int:
    if observe:
        return READ | NOTIFY
    return {"GET": READ, "POST": UPDATE, "PUT": CREATE, "DELETE": DELETE}.get(method, 0)


def doxm_matches(owned: bool, query: tuple[str, ...] | list[str]) -> bool:
    """True when a doxm with ``owned`` passes the ``owned=TRUE|FALSE`` filters of ``query``
    (case-insensitive, as the reference stack reads them)."""
    for item in query:
        key, _, value = item.partition("=")
        if key == "owned" and value.upper() in ("TRUE", "FALSE") \
                and (value.upper() == "TRUE") != owned:
            return False
    return True


def parse_uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise SvrRefused(400, f"{what} is not a uuid") from None


#: A role (OCF ``oic.sec.roletype``): its ``role`` and its ``authority`` ("" when none).
Role = tuple[str, str]


def role_of(value: Any, what: str) -> Role:
    """The role a ``roleid`` (or an ACE subject) map names: ``role`` is a non-empty string,
    ``authority`` an optional string."""
    if not isinstance(value, Mapping):
        raise SvrRefused(400, f"{what} is a map of role and authority")
    role, authority = value.get("role"), value.get("authority", "")
    if not isinstance(role, str) or not role or not isinstance(authority, str):
        raise SvrRefused(400, f"{what}: role is a non-empty string, authority a string")
    return role, authority


def role_cbor(role: Role) -> dict[str, str]:
    return {"role": role[0], **({"authority": role[1]} if role[1] else {})}


@dataclass
class Credential:
    credid: int
    subject: uuid.UUID
    key: bytes
    credtype: int = CREDTYPE_PSK
    #: the role a client authenticated with this symmetric key holds (its ``roleid``).
    role: Role | None = None

    def to_cbor(self) -> dict[str, Any]:
        # The key itself is never read back (OCF answers without privatedata's data).
        body: dict[str, Any] = {"credid": self.credid, "subjectuuid": str(self.subject),
                                "credtype": self.credtype,
                                "privatedata": {"encoding": "oic.sec.encoding.raw",
                                                "data": b""}}
        if self.role is not None:
            body["roleid"] = role_cbor(self.role)
        return body


@dataclass
class Ace:
    aceid: int
    subject: uuid.UUID | None
    hrefs: tuple[str, ...]
    permission: int
    #: a connection-type subject instead of a uuid ("auth-crypt", "anon-clear").
    conntype: str = ""
    #: interfaces named by resource entries without href (``{"if": ["oic.if.a"]}``): the ACE
    #: covers every resource that offers one of them.
    ifs: tuple[str, ...] = ()
    #: a role subject instead of a uuid: the ACE grants every client that holds the role.
    role: Role | None = None

    def to_cbor(self) -> dict[str, Any]:
        subject: dict[str, Any] = ({"conntype": self.conntype} if self.conntype
                                   else role_cbor(self.role) if self.role is not None
                                   else {"uuid": str(self.subject)})
        resources: list[dict[str, Any]] = [{"wc": "*"} if h == "*" else {"href": h}
                                           for h in self.hrefs]
        if self.ifs:
            resources.append({"if": list(self.ifs)})
        return {"aceid": self.aceid, "subject": subject, "permission": self.permission,
                "resources": resources}

    def grants(self, subject: uuid.UUID | None, secure: bool, href: str,
               interfaces: tuple[str, ...] = (), roles: tuple[Role, ...] = ()) -> bool:
        """``roles``: the roles the client holds (those of its credential)."""
        if self.conntype:
            matched = (self.conntype == "auth-crypt") == secure
            if href in SVRS:
                return False  # connection-type ACEs never grant SVRs
        elif self.role is not None:
            matched = secure and self.role in roles
        else:
            matched = subject is not None and subject == self.subject
        if not matched:
            return False
        if href in self.hrefs:
            return True
        if href in SVRS:
            return False  # an SVR only when named: a wildcard or interface never covers one
        return "*" in self.hrefs or bool(set(self.ifs) & set(interfaces))


def ace_of(entry: Mapping[str, Any], aceid: int) -> Ace:
    subject = entry.get("subject")
    if not isinstance(subject, Mapping):
        raise SvrRefused(400, "an ACE needs a subject")
    resources = entry.get("resources")
    if not isinstance(resources, list) or not resources:
        raise SvrRefused(400, "an ACE needs resources")
    if not all(isinstance(r, Mapping) for r in resources):
        raise SvrRefused(400, "an ACE resource is a map")
    hrefs = tuple("*" if r.get("wc") in ("*", "+") else str(r["href"]) for r in resources
                  if "href" in r or "wc" in r)
    ifs = tuple(str(i) for r in resources if "href" not in r and "wc" not in r
                for i in (r.get("if") or []))
    if not hrefs and not ifs:
        raise SvrRefused(400, "an ACE resource names an href, a wildcard or interfaces")
    permission = entry.get("permission")
    if not isinstance(permission, int) or not 0 <= permission <= 31:
        raise SvrRefused(400, "an ACE permission is a number 0..31")
    if "conntype" in subject:
        conntype = str(subject["conntype"])
        if conntype not in ("auth-crypt", "anon-clear"):
            raise SvrRefused(400, "an ACE conntype is auth-crypt or anon-clear")
        return Ace(aceid, None, hrefs, permission, conntype=conntype, ifs=ifs)
    if "roleid" in subject or "role" in subject:
        role = role_of(subject.get("roleid", subject), "an ACE role subject")
        return Ace(aceid, None, hrefs, permission, ifs=ifs, role=role)
    return Ace(aceid, parse_uuid(subject.get("uuid"), "ACE subject"), hrefs, permission,
               ifs=ifs)


@dataclass
class SecureState:
    """A secured device's SVRs and rules. ``derive_owner_key(session, owner)`` is called when
    the owner posts a PSK credential for itself with empty key data (the device derives the
    owner PSK from the ownership session, ``bridge.ocf.sec_keys``)."""

    device: uuid.UUID
    oxms: tuple[int, ...] = (RANDOM_PIN,)
    oxmsel: int = NO_OXM
    owned: bool = False
    devowner: uuid.UUID = NIL
    rowner: uuid.UUID = NIL
    state: DeviceState = DeviceState.RFOTM
    creds: list[Credential] = field(default_factory=list)
    acl: list[Ace] = field(default_factory=list)
    sdi: dict[str, Any] = field(default_factory=lambda: {"uuid": str(NIL), "name": "",
                                                         "priv": False})
    #: a listener told of every change of uuid or state (the DTLS server's hint follows).
    on_change: Callable[[], None] | None = None
    #: the uuid a reset returns to; None: a new random one (a virtual device keeps the uuid
    #: derived from its origin, docs/ocf.md "Secured virtual devices").
    first_device: uuid.UUID | None = None

    # -- representations -------------------------------------------------------------

    def doxm(self) -> dict[str, Any]:
        # sct: 1 symmetric pairwise keys, | 8 with the manufacturer certificate (PKI)
        sct = 1 | (8 if MFG_CERT in self.oxms else 0)
        return {"oxms": list(self.oxms), "oxmsel": self.oxmsel, "sct": sct, "owned": self.owned,
                "deviceuuid": str(self.device), "devowneruuid": str(self.devowner),
                "rowneruuid": str(self.rowner)}

    def pstat(self) -> dict[str, Any]:
        operational = self.state == DeviceState.RFNOP
        return {"dos": {"s": int(self.state), "p": False}, "isop": operational,
                "cm": 0 if operational else 2, "tm": 0, "om": 4 if self.owned else 3,
                "sm": 4, "rowneruuid": str(self.rowner)}

    def representation(self, path: str) -> dict[str, Any]:
        if path == DOXM:
            return self.doxm()
        if path == PSTAT:
            return self.pstat()
        if path == CRED:
            return {"creds": [c.to_cbor() for c in self.creds], "rowneruuid": str(self.rowner)}
        if path == ACL2:
            return {"aclist2": [a.to_cbor() for a in self.acl], "rowneruuid": str(self.rowner)}
        return dict(self.sdi)

    # -- access control --------------------------------------------------------------

    def check(self, path: str, permission: int, *, secure: bool, subject: uuid.UUID | None,
              ownership: bool, interfaces: tuple[str, ...] = ()) -> None:
        """Raise ``SvrRefused`` (4.01 for clear requests, 4.03 otherwise) unless allowed.
        ``subject`` is the PSK identity of a secured request; ``ownership`` is true on the
        ownership transfer session; ``interfaces`` are the resource's (for ACEs by
        interface)."""
        refuse = SvrRefused(401 if not secure else 403, f"{path}: not allowed")
        roles = self.roles_of(subject) if secure else ()
        if path in ("/oic/res", "/oic/d", "/oic/p"):
            if permission & ~(READ | NOTIFY):
                raise refuse
            return
        if ownership:
            if self.state != DeviceState.RFOTM and path not in SVRS:
                raise refuse
            return  # over the ownership session core resources and SVRs are allowed
        if path in SVRS:
            if self.state == DeviceState.RFOTM and not secure:
                if path == DOXM and permission in (READ, UPDATE):
                    return
                if path == PSTAT and permission == READ:
                    return
                raise refuse
            if not secure:
                raise refuse
            if subject is not None and subject == self.rowner and path != SDI:
                return  # the resource owner's implicit access
            if path == SDI and permission == READ:
                return
            if any(a.grants(subject, secure, path, roles=roles)
                   and a.permission & permission == permission for a in self.acl):
                return
            raise refuse
        if self.state != DeviceState.RFNOP or not secure:
            raise refuse
        if not any(a.grants(subject, secure, path, interfaces, roles)
                   and a.permission & permission == permission for a in self.acl):
            raise refuse

    # -- updates ---------------------------------------------------------------------

    def post(self, path: str, body: Any, *, ownership: bool, session: Any = None,
             derive_owner_key: Callable[[Any, uuid.UUID], bytes] | None = None) -> None:
        if not isinstance(body, Mapping):
            raise SvrRefused(400, f"{path} takes a map")
        if path == DOXM:
            self._post_doxm(body, ownership)
        elif path == PSTAT:
            self._post_pstat(body)
        elif path == CRED:
            self._post_cred(body, session, derive_owner_key)
        elif path == ACL2:
            self._post_acl(body)
        elif path == SDI:
            self._post_sdi(body)
        else:
            raise SvrRefused(404, f"no SVR {path}")
        if self.on_change is not None:
            self.on_change()

    def _post_doxm(self, body: Mapping[str, Any], ownership: bool) -> None:
        if set(body) & {"oxms", "sct"}:
            raise SvrRefused(400, "oxms and sct are read-only")
        if self.state != DeviceState.RFOTM:
            raise SvrRefused(400, "doxm is read-only once the device is owned")
        if "oxmsel" in body:
            if ownership or body["oxmsel"] not in self.oxms:
                raise SvrRefused(400, f"oxmsel must be one of {list(self.oxms)}, outside the "
                                      f"ownership session")
            self.oxmsel = int(body["oxmsel"])
        owner_fields = set(body) & {"owned", "deviceuuid", "devowneruuid", "rowneruuid"}
        if owner_fields and not ownership:
            raise SvrRefused(400, f"{sorted(owner_fields)} only over the ownership session")
        if "devowneruuid" in body:
            self.devowner = parse_uuid(body["devowneruuid"], "devowneruuid")
        if "rowneruuid" in body:
            self.rowner = parse_uuid(body["rowneruuid"], "rowneruuid")
        if "deviceuuid" in body:
            self.device = parse_uuid(body["deviceuuid"], "deviceuuid")
        if "owned" in body:
            self.owned = bool(body["owned"])

    def _post_pstat(self, body: Mapping[str, Any]) -> None:
        if "rowneruuid" in body:
            if self.state in (DeviceState.RFPRO, DeviceState.RFNOP):
                raise SvrRefused(400, "pstat rowneruuid is read-only in RFPRO and RFNOP")
            self.rowner = parse_uuid(body["rowneruuid"], "rowneruuid")
        dos = body.get("dos")
        if dos is None:
            return
        if not isinstance(dos, Mapping) or not isinstance(dos.get("s"), int):
            raise SvrRefused(400, "dos.s is a number")
        try:
            target = DeviceState(dos["s"])
        except ValueError:
            raise SvrRefused(400, f"no device state {dos['s']}") from None
        if target == self.state:
            return
        if target not in TRANSITIONS.get(self.state, set()):
            raise SvrRefused(400, f"{self.state.name} cannot go to {target.name}")
        if target in (DeviceState.RFPRO, DeviceState.RFNOP):
            if not self.owned or not any(c.subject == self.rowner for c in self.creds):
                raise SvrRefused(400, f"{target.name} needs an owned device and a credential "
                                      f"for its resource owner")
        if target in (DeviceState.RESET, DeviceState.SRESET):
            self.reset()
            return
        self.state = target

    def _post_cred(self, body: Mapping[str, Any], session: Any,
                   derive: Callable[[Any, uuid.UUID], bytes] | None) -> None:
        entries = body.get("creds")
        if not isinstance(entries, list):
            raise SvrRefused(400, "cred takes creds: [...]")
        for entry in entries:
            if not isinstance(entry, Mapping) or entry.get("credtype") != CREDTYPE_PSK:
                raise SvrRefused(400, "only PSK credentials (credtype 1) are supported")
            subject = parse_uuid(entry.get("subjectuuid"), "subjectuuid")
            private = entry.get("privatedata")
            data = private.get("data", b"") if isinstance(private, Mapping) else b""
            if not isinstance(data, bytes):
                raise SvrRefused(400, "privatedata.data is a byte string")
            if not data:
                if derive is None or session is None or subject != self.devowner:
                    raise SvrRefused(400, "an empty key is derived for the owner, over the "
                                          "ownership session only")
                data = derive(session, subject)
            if len(data) not in (16, 32):
                raise SvrRefused(400, "a PSK has 16 or 32 bytes")
            role = role_of(entry["roleid"], "roleid") if "roleid" in entry else None
            self.creds = [c for c in self.creds if c.subject != subject]
            self.creds.append(Credential(self._next_id(c.credid for c in self.creds),
                                         subject, data, role=role))

    def _post_acl(self, body: Mapping[str, Any]) -> None:
        entries = body.get("aclist2")
        if not isinstance(entries, list):
            raise SvrRefused(400, "acl2 takes aclist2: [...]")
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise SvrRefused(400, "an ACE is a map")
            self.acl.append(ace_of(entry, self._next_id(a.aceid for a in self.acl)))

    def _post_sdi(self, body: Mapping[str, Any]) -> None:
        if "uuid" in body and self.state != DeviceState.RFOTM:
            raise SvrRefused(400, "sdi uuid only in RFOTM")
        for key in ("uuid", "name", "priv"):
            if key in body:
                self.sdi[key] = body[key]

    def delete_cred(self, subject: uuid.UUID | None) -> None:
        if self.state == DeviceState.RFNOP:
            raise SvrRefused(400, "credentials cannot be deleted in RFNOP")
        self.creds = [c for c in self.creds if subject is not None and c.subject != subject]

    def key_for(self, subject: uuid.UUID) -> bytes | None:
        return next((c.key for c in self.creds if c.subject == subject), None)

    def roles_of(self, subject: uuid.UUID | None) -> tuple[Role, ...]:
        """The roles a client authenticated as ``subject`` holds: the ``roleid`` of its
        symmetric credential (OCF asserts roles with symmetric keys this way; role
        certificates, ``/oic/sec/roles``, are not supported)."""
        return tuple(c.role for c in self.creds if subject is not None
                     and c.subject == subject and c.role is not None)

    def subject_of(self, identity: bytes) -> uuid.UUID | None:
        """The credential subject a client's PSK identity names: its 16 raw uuid bytes, or,
        since OpenSSL ends identities at a zero byte, the one subject they begin with and
        that has a zero byte right after them."""
        if len(identity) == 16:
            return uuid.UUID(bytes=identity)
        if not identity or len(identity) > 16:
            return None
        matches = [c.subject for c in self.creds if c.subject.bytes.startswith(identity)
                   and c.subject.bytes[len(identity)] == 0]
        return matches[0] if len(matches) == 1 else None

    def reset(self) -> None:
        """Back to RFOTM, unowned, nothing provisioned, a new uuid (or ``first_device``)."""
        self.device = self.first_device or nul_free_uuid()
        self.oxmsel, self.owned = NO_OXM, False
        self.devowner = self.rowner = NIL
        self.state = DeviceState.RFOTM
        self.creds, self.acl = [], []

    @staticmethod
    def _next_id(ids: Any) -> int:
        return max(ids, default=0) + 1


def owner_ace(subject: uuid.UUID, hrefs: tuple[str, ...], permission: int) -> dict[str, Any]:
    """The body of an ACE for ``subject`` (what the owner posts to ``/oic/sec/acl2``)."""
    body = Ace(0, subject, hrefs, permission).to_cbor()
    del body["aceid"]
    return body
