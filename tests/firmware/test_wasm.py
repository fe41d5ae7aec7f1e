"""The codec checks and the heap budget under real MicroPython (the WebAssembly port on npm).

``run_wasm.mjs`` loads @micropython/micropython-webassembly-pyscript (pinned in package.json,
installed by ``npm install --prefix tests/firmware`` before the test run; nothing is
downloaded here). The port has no sockets, so it runs the pure modules: the shared codec
checks, and the socket-free part of start-up for the heap measurement (heap_probe.py).
Budget (issue 7): the OCF stack plus one resource fits in 40 KB of heap after start-up, as
deployed (mpy-cross compiled .mpy files, docs/firmware.md).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "mp"))
import codec_checks  # from mp/, on the path set just above
import server_checks  # from mp/, on the path set just above

HERE = Path(__file__).resolve().parent
FIRMWARE = HERE.parents[1] / "firmware"
PACKAGE = HERE / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
# 40 KiB (issue 7), the node's receive reserve (1,793 B, allocated at start so that a
# fragmented heap can still receive: ocf/node.py) included.
HEAP_BUDGET = 40 * 1024


def run_wasm(*args: str) -> dict[str, int | str]:
    node = shutil.which("node")
    assert node, "Node.js is needed for the MicroPython WebAssembly tests"
    assert PACKAGE.is_dir(), "run `npm install --prefix tests/firmware` first"
    done = subprocess.run([node, str(HERE / "run_wasm.mjs"), *args], capture_output=True,
                          text=True, timeout=300, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "FAIL" not in out and "ERROR" not in out, out
    assert "implementation micropython" in out, out
    values: dict[str, int | str] = {}
    for line in out.splitlines():
        m = re.fullmatch(r"(checks|server_checks|codec_heap|checks_heap|heap_startup"
                         r"|heap_serving) (.*)", line)
        if m:
            values[m.group(1)] = m.group(2)
    return values


def expected_checks(module: object = codec_checks) -> str:
    return f"{len([n for n in dir(module) if n.startswith('check_')])} 0"


def test_codec_checks_pass_under_micropython_from_source() -> None:
    values = run_wasm()
    assert values["checks"] == expected_checks()
    assert values["server_checks"] == expected_checks(server_checks)
    # CBOR + CoAP modules imported from source: well under 16 KB.
    assert 0 < int(values["codec_heap"]) < 16 * 1024
    assert int(values["heap_startup"]) > int(values["codec_heap"])


def test_heap_budget_of_stack_plus_one_resource_as_deployed(tmp_path: Path) -> None:
    (tmp_path / "ocf").mkdir()
    for src in sorted((FIRMWARE / "ocf").glob("*.py")):
        subprocess.run([sys.executable, "-m", "mpy_cross", "-o",
                        str(tmp_path / "ocf" / (src.stem + ".mpy")), str(src)], check=True)
    values = run_wasm("--mpy", str(tmp_path))
    assert values["checks"] == expected_checks()
    assert values["server_checks"] == expected_checks(server_checks)
    startup = int(values["heap_startup"])
    serving = int(values["heap_serving"])
    print(f"heap after start-up {startup} B, after serving {serving} B")
    assert 0 < startup < HEAP_BUDGET
    # Serving (an observer, the duplicate cache) adds little; nothing grows unbounded.
    assert startup <= serving < HEAP_BUDGET
