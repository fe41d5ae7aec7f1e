"""Device identity: di, piid and pi, generated once and kept in flash (or a host directory).

Layer: edge (one small JSON file). With security off OCF lets ``di`` change per boot, but
the gateway tracks devices by ``piid`` and users like stable names, so all three persist.
The file is written to a temporary name and renamed, so a power cut mid-write leaves either
the old identity or the new one, never half a file.
"""

import binascii
import json
import os

from . import hal

FILE = "ocf_identity.json"


def uuid4(raw):
    """RFC 4122 version-4 UUID text from 16 random bytes."""
    b = bytearray(raw)
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = binascii.hexlify(b).decode()
    return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]


def _valid(ident):
    if not isinstance(ident, dict):
        return False
    for key in ("di", "piid", "pi"):
        v = ident.get(key)
        if not isinstance(v, str) or len(v) != 36 or v.count("-") != 4:
            return False
    return True


def load_or_create(state_dir):
    """Return {"di", "piid", "pi"} from ``state_dir``, creating and saving it the first time."""
    path = state_dir.rstrip("/") + "/" + FILE
    try:
        with open(path) as f:
            ident = json.load(f)
        if _valid(ident):
            return ident
        hal.log("identity file", path, "is damaged; generating a new identity")
    except OSError:
        pass
    except ValueError:
        hal.log("identity file", path, "is not JSON; generating a new identity")
    ident = {"di": uuid4(hal.random_bytes(16)), "piid": uuid4(hal.random_bytes(16)),
             "pi": uuid4(hal.random_bytes(16))}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ident, f)
    os.rename(tmp, path)
    return ident
