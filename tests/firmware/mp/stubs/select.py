"""Inert stand-in for ``select`` on the WebAssembly port, which has none (heap probe only)."""

POLLIN = 1
