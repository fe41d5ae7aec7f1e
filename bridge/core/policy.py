"""Access policy: which devices cross to which side, and who may control them.

Layer: ``bridge.core`` (pure). This is the one place the policy is enforced: the registry asks
it before exposing a Thing on a side and before routing any command. Rules are evaluated in
order; the first rule that matches decides. ``read_only`` rules let a device cross but refuse
commands to it (or to the matching capability).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from bridge.core.thing import Capability, Side, Thing

Action = Literal["allow", "deny", "read_only"]


@dataclass(frozen=True)
class PolicyRule:
    """One rule; empty match fields match anything."""

    action: Action
    #: the side the rule is about: a side a device is exposed on or a command comes from.
    side: str = "any"
    #: a Thing id, ``di``, ``piid``, AllJoyn DeviceId or AppId (hex); glob patterns allowed.
    id: str = ""
    #: glob over the device name.
    name: str = ""
    #: OCF resource type of a capability (glob).
    resource_type: str = ""
    #: AllJoyn interface of a capability (glob).
    interface: str = ""

    def matches_thing(self, thing: Thing, side: Side | None) -> bool:
        if self.side != "any" and side is not None and self.side != side.value:
            return False
        if self.id and not any(fnmatchcase(ident, self.id) for ident in _ids(thing)):
            return False
        return not self.name or fnmatchcase(thing.info.name, self.name)

    def matches_capability(self, cap: Capability) -> bool:
        rts, ifaces = _cap_names(cap)
        if self.resource_type and not any(fnmatchcase(rt, self.resource_type) for rt in rts):
            return False
        return not self.interface or any(fnmatchcase(i, self.interface) for i in ifaces)

    @property
    def is_capability_rule(self) -> bool:
        return bool(self.resource_type or self.interface)


class Policy:
    """Ordered rules with a default action."""

    def __init__(self, rules: tuple[PolicyRule, ...] = (), default: Action = "allow") -> None:
        self.rules = rules
        self.default = default

    def _decide_thing(self, thing: Thing, side: Side | None) -> Action:
        for rule in self.rules:
            if not rule.is_capability_rule and rule.matches_thing(thing, side):
                return rule.action
        return self.default

    def allows_thing(self, thing: Thing, side: Side | None = None) -> bool:
        """May ``thing`` be exposed (on ``side``, or anywhere when None)?"""
        return self._decide_thing(thing, side) != "deny"

    def allows_capability(self, thing: Thing, cap: Capability, side: Side | None = None) -> bool:
        for rule in self.rules:
            if (rule.is_capability_rule and rule.matches_thing(thing, side)
                    and rule.matches_capability(cap)):
                return rule.action != "deny"
        return self.allows_thing(thing, side)

    def allows_command(self, thing: Thing, cap: Capability, source: Side) -> bool:
        for rule in self.rules:
            if (rule.is_capability_rule and rule.matches_thing(thing, source)
                    and rule.matches_capability(cap)):
                return rule.action == "allow"
        return self._decide_thing(thing, source) == "allow"


def _ids(thing: Thing) -> list[str]:
    ident = thing.identity
    return [i for i in (thing.id, ident.di, ident.piid, ident.pi, ident.device_id,
                        ident.app_id.hex()) if i]


def _cap_names(cap: Capability) -> tuple[list[str], list[str]]:
    if cap.model is not None:
        return ([cap.model.ocf.resource_type],
                [iface.name for iface in cap.model.alljoyn.interfaces])
    assert cap.generic is not None
    return list(cap.generic.resource_types), [cap.generic.interface]
