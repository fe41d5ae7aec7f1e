"""Inert stand-in for ``socket`` on the WebAssembly port, which has none (heap probe only)."""

AF_INET = 2
AF_INET6 = 10
SOCK_DGRAM = 2
SOL_SOCKET = 1
SO_REUSEADDR = 2
IPPROTO_IP = 0
IPPROTO_IPV6 = 41
IP_ADD_MEMBERSHIP = 35
