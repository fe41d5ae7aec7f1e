"""The firmware under MicroPython's unix port: the server's error answers, from .py and .mpy.

The same checks as the WebAssembly run (mp/server_checks.py), here on the port with real
files and sockets (unixport.py). Before the fix every refusal was "5.00 internal error":
MicroPython's Exception has no ``__init__`` to call as ``Exception.__init__(self, ...)``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.firmware import unixport

sys.path.insert(0, str(unixport.MP_DIR))
import server_checks  # from mp/, on the path set just above

CHECKS = len([n for n in dir(server_checks) if n.startswith("check_")])


def compile_firmware(out: Path) -> Path:
    """firmware/ocf/*.py compiled by mpy-cross into ``out``/ocf/*.mpy; returns ``out``."""
    (out / "ocf").mkdir(parents=True)
    for src in sorted((unixport.FIRMWARE / "ocf").glob("*.py")):
        subprocess.run([sys.executable, "-m", "mpy_cross", "-o",
                        str(out / "ocf" / (src.stem + ".mpy")), str(src)], check=True)
    return out


def run_server_checks(state: Path, paths: tuple[Path, ...] = ()) -> str:
    state.mkdir()
    out = unixport.run("import server_checks\n"
                       "print('implementation', sys.implementation.name)\n"
                       "print('server_checks', *server_checks.run(sys.argv[1]))\n",
                       str(state), paths=paths)
    assert "implementation micropython" in out, out
    assert "FAIL" not in out, out
    return out


def test_server_error_answers_from_source(tmp_path: Path) -> None:
    out = run_server_checks(tmp_path / "state")
    assert f"server_checks {CHECKS} 0" in out, out


def test_server_error_answers_from_mpy(tmp_path: Path) -> None:
    build = compile_firmware(tmp_path / "build")
    out = run_server_checks(tmp_path / "state", (build,))
    assert f"server_checks {CHECKS} 0" in out, out
    # The .mpy files were the ones imported, not the sources behind them.
    probe = unixport.run("import ocf.server\nprint('loaded', ocf.server.__file__)\n",
                         paths=(build,))
    assert "loaded " + str(build / "ocf" / "server.mpy") in probe, probe


def test_node_receive_on_real_sockets_and_a_starved_heap(tmp_path: Path) -> None:
    """Real UDP on 127.0.0.1 under the unix port, firmware from .mpy (mp/node_checks.py).

    A datagram over 1,280 bytes gets 4.13 with Size1 instead of being cut and served;
    /oic/res works on sockets without ``getsockname``; on a heap of small holes the receive
    is served from the reserve; on a full heap datagrams are read away and counted, never
    left queued (the livelock), and serving resumes once memory is back.
    """
    build = compile_firmware(tmp_path / "build")
    state = tmp_path / "state"
    state.mkdir()
    out = unixport.run("import node_checks\n"
                       "print('node_checks', *node_checks.run(sys.argv[1]))\n",
                       str(state), heap="256K", paths=(build,))
    assert "FAIL" not in out, out
    assert "node_checks 5 0" in out, out
    assert "over 1280 bytes: refused" in out, out
