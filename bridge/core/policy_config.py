"""Settings of the access policy: the ``[policy]`` section of the configuration file.

Layer: ``bridge.core``, pure data: standard library only, no I/O. This only describes the rules
as written by the user; ``bridge.core.policy`` enforces them.

Each attribute's docstring is its user documentation (docs/configuration.md is generated from
it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PolicyAction = Literal["allow", "deny", "read_only"]
PolicySide = Literal["any", "ocf", "alljoyn", "mqtt"]


@dataclass(frozen=True)
class PolicyRuleConfig:
    """One ``[[policy.rules]]`` table. Empty match keys match anything; all given keys must
    match for the rule to apply."""

    action: PolicyAction
    """What happens to a matching device or capability: ``allow``, ``deny`` (not bridged, no
    commands) or ``read_only`` (bridged, commands refused)."""

    side: PolicySide = "any"
    """The side the rule is about (where a device is exposed or a command comes from):
    ``any``, ``ocf``, ``alljoyn`` or ``mqtt``."""

    id: str = ""
    """Device identity (Thing id, OCF ``di``/``piid``, AllJoyn DeviceId or AppId in hex); glob
    patterns allowed."""

    name: str = ""
    """Glob over the device name, e.g. ``"Garage*"``."""

    resource_type: str = ""
    """Glob over a capability's OCF resource type, e.g. ``"oic.r.lock.*"``; makes the rule
    about that capability rather than the whole device."""

    interface: str = ""
    """Glob over a capability's AllJoyn interface; makes the rule about that capability."""


@dataclass(frozen=True)
class PolicyConfig:
    """Which devices cross to which side and who may control them. Rules are tried in order;
    the first that matches decides, otherwise ``default`` applies. A policy saved from the web
    page is stored as ``policy.json`` in ``gateway.state_dir`` and replaces this section at
    every start until that file is deleted (docs/web.md)."""

    default: PolicyAction = "allow"
    """Action when no rule matches: ``allow``, ``deny`` or ``read_only``."""

    rules: tuple[PolicyRuleConfig, ...] = ()
    """Ordered rules, each a ``[[policy.rules]]`` table with the keys below."""
