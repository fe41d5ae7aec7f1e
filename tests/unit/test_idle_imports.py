"""What the running gateway does not import until it needs it (its idle memory, issue 18).

The command line builds every command's parser, and the gateway imports its sides at start;
neither may pull in the simulators, ``xml.sax`` (which imports ``urllib.request`` and
``email``), ``difflib`` or ``ctypes``: each is needed only on first use, which the second test
and the configuration and memory tests (``did you mean``, ``malloc_trim``) exercise.
"""

from __future__ import annotations

import subprocess
import sys

from bridge.daemon.cli import build_parser

#: Imported by ``ocfaj run`` (the command line, then what ``Gateway.start`` imports).
_GATEWAY = ("from bridge.daemon.cli import build_parser; build_parser(); "
            "import bridge.daemon.gateway, bridge.ocf.side, bridge.alljoyn.side, "
            "bridge.alljoyn.control, bridge.daemon.onboarding_action, "
            "bridge.daemon.ocf_credentials, bridge.daemon.ocf_security_store; "
            "import sys; print('\\n'.join(sys.modules))")
_LATER = ("bridge.sim", "xml.sax", "difflib", "ctypes", "urllib.request", "tempfile")


def test_the_gateway_does_not_import_what_it_needs_only_later() -> None:
    loaded = subprocess.run([sys.executable, "-c", _GATEWAY], capture_output=True, text=True,
                            check=True).stdout.split()
    assert "bridge.ocf.side" in loaded and "bridge.alljoyn.side" in loaded
    early = [m for m in loaded if any(m == name or m.startswith(f"{name}.") for name in _LATER)]
    assert early == []


def test_a_simulator_side_gets_its_options_when_chosen() -> None:
    args = build_parser().parse_args(["simulate", "ocf", "--model", "light", "--name", "Lamp",
                                      "--count", "3"])
    assert (args.model, args.name, args.count) == ("light", "Lamp", 3)
    assert callable(args.handler)
    assert "bridge.sim.ocf_cli" in sys.modules
    obt = build_parser().parse_args(["simulate", "obt", "--state-dir", "/tmp/x", "status",
                                     "some-uuid"])
    assert (str(obt.state_dir), obt.action, obt.device) == ("/tmp/x", "status", "some-uuid")
