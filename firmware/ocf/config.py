"""The per-board configuration file: load, fill in defaults, validate.

Layer: pure (given the file's text). The file is JSON because every MicroPython port has
``json``. Keys (docs/firmware.md has the full reference and examples):

- ``device``: ``name`` (OCF ``n``), ``type`` (device type, default ``oic.d.light``),
  ``manufacturer``, ``model``, ``hardware``, ``firmware``, ``support_url``, ``date`` for /oic/p.
- ``wifi``: ``ssid``, ``password``, optional ``hostname``, ``timeout_ms``; absent or null on
  the host, where the operating system owns the network.
- ``network``: ``port`` (unicast port, 0 = ephemeral), ``ipv4`` and ``ipv6`` (serve that
  family), ``interface`` (host only: where to join multicast groups), ``block_szx`` (Block2
  size exponent for /oic/res, 6 = 1024 bytes), ``ack_timeout_ms`` (first CON retransmission),
  ``max_observers``.
- ``resources``: list of ``{"kind", "href", ...}``; kinds ``switch`` (``pin``, ``invert``),
  ``brightness`` (``pin``, ``freq``), ``temperature`` (``source`` internal|adc, ``pin``,
  ``scale``, ``offset``, ``period_ms``, ``delta``), ``contact`` and ``motion`` (``pin``,
  ``pull`` up|down, ``invert``). Optional ``name`` on each.

Errors raise ValueError naming the offending key, so a bad file is reported at start-up
instead of failing later on the first request.
"""

import json

KINDS = ("switch", "brightness", "temperature", "contact", "motion")
_NEEDS_PIN = ("switch", "brightness", "contact", "motion")

NETWORK_DEFAULTS = {
    "port": 0,
    "ipv4": True,
    "ipv6": False,
    "interface": None,
    "block_szx": 6,
    "ack_timeout_ms": 2000,
    "max_observers": 8,
}


def load(path):
    with open(path) as f:
        return parse(f.read())


def parse(text):
    try:
        cfg = json.loads(text)
    except ValueError:
        raise ValueError("configuration is not valid JSON") from None
    if not isinstance(cfg, dict):
        raise ValueError("configuration must be a JSON object")
    device = cfg.setdefault("device", {})
    if not isinstance(device, dict):
        raise ValueError("device must be an object")
    device.setdefault("name", "OCF device")
    device.setdefault("type", "oic.d.light")
    device.setdefault("manufacturer", "ocfaj")
    net = cfg.setdefault("network", {})
    for key in NETWORK_DEFAULTS:
        net.setdefault(key, NETWORK_DEFAULTS[key])
    if not 0 <= net["block_szx"] <= 6:
        raise ValueError("network.block_szx must be 0..6 (16..1024 bytes)")
    if not (net["ipv4"] or net["ipv6"]):
        raise ValueError("network: at least one of ipv4 and ipv6 must be true")
    wifi = cfg.get("wifi")
    if wifi is not None and (not isinstance(wifi, dict) or not wifi.get("ssid")):
        raise ValueError("wifi must be null or an object with ssid")
    resources = cfg.setdefault("resources", [])
    seen = []
    for i, entry in enumerate(resources):
        where = "resources[" + str(i) + "]"
        if not isinstance(entry, dict):
            raise ValueError(where + " must be an object")
        kind = entry.get("kind")
        if kind not in KINDS:
            raise ValueError(where + ".kind must be one of " + ", ".join(KINDS))
        href = entry.get("href")
        if not isinstance(href, str) or not href.startswith("/") or href.startswith("/oic/"):
            raise ValueError(where + ".href must be a path outside /oic/")
        if href in seen:
            raise ValueError(where + ".href " + href + " is used twice")
        seen.append(href)
        if kind in _NEEDS_PIN and "pin" not in entry:
            raise ValueError(where + " (" + kind + ") needs a pin")
        if kind == "temperature" and entry.get("source", "internal") not in ("internal", "adc"):
            raise ValueError(where + ".source must be internal or adc")
        if entry.get("source") == "adc" and "pin" not in entry:
            raise ValueError(where + " (adc temperature) needs a pin")
    return cfg
