"""Network isolation for a test run, and a simulated OCF link made of network namespaces.

Layer: ``bridge.sim.testing`` (test kit; needs root and ``ip`` from iproute2). It never touches
the machine's real interfaces: everything it creates lives in namespaces it made itself.

``enter_private_network_namespace()`` moves the calling process (pytest, from the plugin's
``--ocfaj-isolate`` or the project's ``tests/conftest.py``) into a fresh network namespace that
has only ``lo``: from then on nothing a test starts can reach the machine's real interfaces,
and multicast never leaves it.

``OcfNetwork`` builds one link shaped like a home network:
a Linux bridge ``ocfbr0`` (the gateway's side, 169.254.0.1/16, fd00:cfa::1/64, fe80::1/64)
and any number of device hosts, each its own named network namespace joined to the bridge by
a veth pair (``eth0`` inside, 169.254.0.k/16, fd00:cfa::k/64, fe80::k/64). Addresses are
static and DAD is off, so every address is usable the moment ``add_host`` returns. Bridge
multicast snooping is off, so every multicast frame floods to every host and to the bridge's
own stack, like a plain switch with no IGMP querier. In an isolated process the bridge is
created in the process's own (private) namespace, so in-process code under test can use it;
with ``private_local=True`` (root, but not isolated) the bridge side gets a namespace of its own
too, so the machine's namespace gains no interface or route, and ``local`` runs processes there.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.sim.testing.netns_runs import (
    NAMESPACE_PREFIX,
    NETNS_DIR,
    record_run,
    remove_stale_namespaces,
    run_id,
    run_namespaces,
    run_prefix,
)
from bridge.sim.testing.procs import stop_process

__all__ = [
    "NAMESPACE_PREFIX",
    "NETNS_DIR",
    "Host",
    "OcfNetwork",
    "enter_private_network_namespace",
    "is_isolated",
    "own_namespaces",
    "remove_stale_namespaces",
    "require_root",
]

CLONE_NEWNET = 0x40000000
BRIDGE = "ocfbr0"
IPV4_PREFIX_LEN = 16
IPV6_PREFIX_LEN = 64
ROOT_NEEDED = (
    "these tests need root: they create network namespaces, a bridge and veth links, and run "
    "every test in a private network namespace; run ./scripts/test as root"
)

_network_numbers = itertools.count(1)
_isolated = False


def require_root() -> None:
    """Fail the calling test or fixture (never skip) when not root, hence not isolated."""
    if os.geteuid() != 0:
        # Imported here: pytest is a test-time dependency, not one of the product.
        import pytest

        pytest.fail(ROOT_NEEDED, pytrace=False)


def is_isolated() -> bool:
    """True once this process runs in a private network namespace of its own making."""
    return _isolated


def enter_private_network_namespace() -> None:
    """Move this process into a new, empty network namespace and bring ``lo`` up.

    Must run while the process is single-threaded (at conftest import time), because only
    the calling thread changes namespace; threads started later inherit it. A second call
    does nothing.
    """
    global _isolated
    if _isolated:
        return
    if threading.active_count() > 1:
        # unshare() moves only the calling thread; the others would stay on the real network.
        raise RuntimeError("enter_private_network_namespace() needs a single-threaded process")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare(CLONE_NEWNET) failed: {os.strerror(errno)}")
    _ip(None, "link", "set", "lo", "up")
    _isolated = True


def own_namespaces() -> list[str]:
    """Named namespaces this process created and has not deleted (for leak checks)."""
    return run_namespaces(run_id())


class Host:
    """One machine on the OCF link: a named network namespace, or the test process itself.

    ``netns`` is ``None`` for ``OcfNetwork.local`` of an isolated process (the bridge side,
    where the gateway under test may run in-process) and for every host of a
    :class:`~bridge.sim.testing.loopback.LoopbackNetwork`. ``popen``/``run`` start commands
    inside the host's namespace; every process from ``popen`` is killed when the network is
    torn down.
    """

    def __init__(
        self,
        network: OcfNetwork,
        name: str,
        netns: str | None,
        ifname: str,
        index: int,
        *,
        loopback: bool = False,
    ) -> None:
        self.name = name
        self.netns = netns
        self.ifname = ifname
        """The host's interface on the link: ``eth0`` in a namespace, ``ocfbr0`` locally."""
        self.ipv4 = "127.0.0.1" if loopback else _ipv4(index)
        self.ipv6 = "::1" if loopback else f"fd00:cfa::{index:x}"
        """Unique-local address (``fd00:0cfa::/64``), usable as a unicast CoAP endpoint."""
        self.ipv6_ll = "::1" if loopback else f"fe80::{index:x}"
        """Link-local address without zone; append ``%<ifname>`` to use it."""
        self._network = network

    def __repr__(self) -> str:
        return f"Host({self.name!r}, netns={self.netns!r}, ipv4={self.ipv4!r})"

    def command(self, args: Sequence[str]) -> list[str]:
        """``args`` wrapped so they run in this host's namespace."""
        if self.netns is None:
            return list(args)
        return ["ip", "netns", "exec", self.netns, *args]

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``args`` in this host's namespace, in a new session unless told otherwise."""
        kwargs.setdefault("start_new_session", True)
        proc: subprocess.Popen[Any] = subprocess.Popen(self.command(args), **kwargs)
        self._network._processes.append((proc, bool(kwargs["start_new_session"])))
        return proc

    def run(self, args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """``subprocess.run`` of ``args`` in this host's namespace (same keyword arguments)."""
        return subprocess.run(self.command(args), **kwargs)


class OcfNetwork:
    """The bridge ``ocfbr0`` plus device hosts. ``setup()`` first; ``close()`` removes it all.

    One at a time per test process: the bridge name is fixed because the gateway under test
    is configured with it, and the private namespace makes the name collide with nothing.
    With ``private_local=True`` the bridge lives in a namespace of its own (``local.netns``):
    use it when the calling process is not isolated, so the machine's namespace stays as it is.
    """

    kind = "netns"
    """``netns``: hosts are network namespaces and multicast discovery works between them."""
    multicast = True

    def __init__(self, *, private_local: bool = False) -> None:
        self.number = next(_network_numbers)
        self._gateway_netns = (
            f"{run_prefix()}{self.number}-local" if private_local else None
        )
        self.local = Host(self, "local", self._gateway_netns, BRIDGE, 1)
        """The bridge side of the link (the gateway's host)."""
        self.hosts: list[Host] = []
        self._processes: list[tuple[subprocess.Popen[Any], bool]] = []
        self._veths: list[str] = []

    def setup(self) -> None:
        """Create ``ocfbr0`` with its addresses and multicast routes."""
        if shutil.which("ip") is None:
            raise RuntimeError("ip not found: install Debian package iproute2")
        gw = self._gateway_netns
        if gw is None:
            subprocess.run(["ip", "link", "delete", BRIDGE], check=False, capture_output=True)
        else:
            record_run()
            _ip(None, "netns", "add", gw)
            _ip(gw, "link", "set", "lo", "up")
        _ip(gw, "link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0")
        _configure_interface(gw, BRIDGE, self.local)
        _ip(gw, "route", "add", "224.0.0.0/4", "dev", BRIDGE)
        _ip(gw, "-6", "route", "add", "ff00::/8", "dev", BRIDGE, "table", "main")

    def add_host(self, name: str) -> Host:
        """Create a host joined to the bridge; its addresses work when this returns."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name) or name == "local":
            raise ValueError(f"host name {name!r}: use 1-40 letters, digits, '_', '.', '-'")
        if any(h.name == name for h in self.hosts):
            raise ValueError(f"host name {name!r} already used on this network")
        gw = self._gateway_netns
        index = len(self.hosts) + 2
        netns = f"{run_prefix()}{self.number}-{name}"
        veth = f"ocfv{index}"
        host = Host(self, name, netns, "eth0", index)
        record_run()
        _ip(None, "netns", "add", netns)
        self.hosts.append(host)
        _ip(gw, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
        self._veths.append(veth)
        # The bridge port itself carries no addresses: only the bridge and the host do.
        _write_sysctl(gw, f"net/ipv6/conf/{veth}/disable_ipv6", "1")
        _ip(gw, "link", "set", veth, "master", BRIDGE, "multicast", "on", "up")
        _ip(netns, "link", "set", "lo", "up")
        _configure_interface(netns, "eth0", host)
        _ip(netns, "route", "add", "224.0.0.0/4", "dev", "eth0")
        _ip(netns, "-6", "route", "add", "ff00::/8", "dev", "eth0", "table", "main")
        return host

    def close(self) -> None:
        """Kill every process started through a host, then delete namespaces and links.

        Runs every step even when one fails, then raises the first failure.
        """
        errors = self._stop_processes()
        namespaces = [h.netns for h in self.hosts if h.netns is not None]
        if self._gateway_netns is not None:
            namespaces.append(self._gateway_netns)
        for netns in namespaces:
            done = subprocess.run(
                ["ip", "netns", "delete", netns], check=False, capture_output=True, text=True
            )
            if done.returncode != 0:
                errors.append(RuntimeError(f"ip netns delete {netns}: {done.stderr}"))
        self.hosts.clear()
        if self._gateway_netns is None:
            # Deleting a namespace destroys its veth end and with it the peer; delete leftovers.
            for veth in self._veths:
                subprocess.run(["ip", "link", "delete", veth], check=False, capture_output=True)
            subprocess.run(["ip", "link", "delete", BRIDGE], check=False, capture_output=True)
        self._veths.clear()
        if errors:
            raise errors[0]

    def _stop_processes(self) -> list[BaseException]:
        errors: list[BaseException] = []
        for proc, group in reversed(self._processes):
            try:
                stop_process(proc, group=group)
            except Exception as exc:
                errors.append(exc)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._processes.clear()
        return errors


def _configure_interface(netns: str | None, ifname: str, host: Host) -> None:
    # Static link-local address and no DAD: addresses are usable at once, and tests know
    # every host's link-local address in advance.
    _ip(netns, "link", "set", ifname, "addrgenmode", "none")
    _write_sysctl(netns, f"net/ipv6/conf/{ifname}/accept_dad", "0")
    _ip(netns, "addr", "add", f"{host.ipv4}/{IPV4_PREFIX_LEN}", "dev", ifname)
    _ip(netns, "addr", "add", f"{host.ipv6}/{IPV6_PREFIX_LEN}", "dev", ifname, "nodad")
    _ip(netns, "addr", "add", f"{host.ipv6_ll}/64", "dev", ifname, "nodad")
    _ip(netns, "link", "set", ifname, "multicast", "on", "up")


def _ipv4(index: int) -> str:
    if not 1 <= index <= 254:
        raise ValueError(f"an OcfNetwork holds at most 253 hosts (asked for address .{index})")
    return f"169.254.0.{index}"


def _write_sysctl(netns: str | None, key: str, value: str) -> None:
    if netns is None:
        # /proc/sys/net shows the namespace of the process that opens it: ours.
        Path("/proc/sys", key).write_text(value)
    else:
        _run(["ip", "netns", "exec", netns, "sh", "-c", f"echo {value} > /proc/sys/{key}"])


def _ip(netns: str | None, *args: str) -> None:
    _run(["ip", *(["-n", netns] if netns else []), *args])


def _run(args: list[str]) -> None:
    done = subprocess.run(args, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
