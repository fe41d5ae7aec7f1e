"""Moved to :mod:`bridge.sim.testing.procs`; re-exported so existing tests keep working."""

from bridge.sim.testing.procs import (
    POLL_INTERVAL,
    await_until,
    free_tcp_port,
    free_udp_port,
    read_log,
    stop_process,
    tcp_accepts,
    unix_socket_accepts,
    wait_for,
)

__all__ = [
    "POLL_INTERVAL",
    "await_until",
    "free_tcp_port",
    "free_udp_port",
    "read_log",
    "stop_process",
    "tcp_accepts",
    "unix_socket_accepts",
    "wait_for",
]
