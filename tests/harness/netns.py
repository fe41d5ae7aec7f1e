"""Moved to :mod:`bridge.sim.testing.netns`; re-exported so existing tests keep working."""

from bridge.sim.testing.netns import (
    BRIDGE,
    CLONE_NEWNET,
    IPV4_PREFIX_LEN,
    IPV6_PREFIX_LEN,
    NAMESPACE_PREFIX,
    NETNS_DIR,
    ROOT_NEEDED,
    Host,
    OcfNetwork,
    enter_private_network_namespace,
    is_isolated,
    own_namespaces,
    remove_stale_namespaces,
    require_root,
)

__all__ = [
    "BRIDGE",
    "CLONE_NEWNET",
    "IPV4_PREFIX_LEN",
    "IPV6_PREFIX_LEN",
    "NAMESPACE_PREFIX",
    "NETNS_DIR",
    "ROOT_NEEDED",
    "Host",
    "OcfNetwork",
    "enter_private_network_namespace",
    "is_isolated",
    "own_namespaces",
    "remove_stale_namespaces",
    "require_root",
]
