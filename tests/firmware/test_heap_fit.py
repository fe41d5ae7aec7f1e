"""The firmware's heap on real MicroPython with a restricted heap (the unix port).

Each trial is a fresh ``micropython -X heapsize=...`` whose free heap is cut to a given size
(mp/heap_fit.py ``restrict``); it starts the firmware (one switch) and serves rounds of
requests (discovery by multicast and unicast, /oic/d, /oic/p, observe, POSTs, errors)
through the node's receive step. A search in 256-byte steps finds the smallest heap in which
start-up succeeds (its peak) and in which start-up plus serving succeed. The port is a 64-bit
build: its objects are about 1.5 times a 32-bit board's (test_wasm.py measures the retained
heap in the 32-bit WebAssembly port), so the budgets here are that port's. The figures are
in docs/firmware.md ("Heap budget"); the test fails when the firmware no longer fits.

The 32-bit check runs the same steps under the WebAssembly port with its heap made fixed
(fit_wasm.mjs): a real 32-bit interpreter, but one that scans its stack conservatively, so
garbage still looks reachable and it needs far more than it retains (see that file).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.firmware import unixport
from tests.firmware.test_unix_port import compile_firmware
from tests.firmware.test_wasm import PACKAGE

# What the firmware needs on this 64-bit port today (measured 68,208 B from .mpy) plus a
# small margin: the test fails when a change makes it no longer fit. A 32-bit board needs
# less (objects are smaller).
SERVE_BUDGET_64 = 70 * 1024
# The same on the 32-bit WebAssembly port with a fixed heap (measured: starts in 60,416 B,
# not in 59,392; serves 20 rounds in 88,064 B, not in 86,016), plus a margin.
SERVE_BUDGET_WASM = 92 * 1024
ROUNDS = 20

SCRIPT = """
import gc, heap_fit
heap_fit.restrict(int(sys.argv[1]))
heap_fit.start()
gc.collect()
heap_fit.report('retained')
for i in range(int(sys.argv[2])):
    heap_fit.serve_round()
    if i == 0:
        gc.collect()
        heap_fit.report('one_round')
gc.collect()
heap_fit.report('serving')
"""


def _fits(out: str, rounds: int) -> dict[str, int | bool]:
    values: dict[str, int | bool] = {
        "start": "start ok" in out,
        "serve": "start ok" in out and "memory" not in out
        and out.count("serve ok") == rounds,
    }
    for label, number in re.findall(r"^heap_(\w+) (\d+)$", out, re.M):
        values[label] = int(number)
    return values


def wasm_trial(available: int, rounds: int, build: Path) -> dict[str, int | bool]:
    node = shutil.which("node")
    assert node, "Node.js is needed for the MicroPython WebAssembly tests"
    assert PACKAGE.is_dir(), "run `npm install --prefix tests/firmware` first"
    done = subprocess.run([node, str(unixport.HERE / "fit_wasm.mjs"), "--mpy", str(build),
                           str(available), str(rounds)], capture_output=True, text=True,
                          timeout=120, check=False, stdin=subprocess.DEVNULL)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    return _fits(out, rounds)


def trial(available: int, rounds: int, paths: tuple[Path, ...], state: Path
          ) -> dict[str, int | bool]:
    for old in state.iterdir():
        old.unlink()
    done = subprocess.run(unixport.command(SCRIPT, str(available), str(rounds), heap="1M",
                                           paths=paths),
                          capture_output=True, text=True, timeout=60, check=False, cwd=state)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Traceback" not in out, out
    return _fits(out, rounds)


def smallest(key: str, rounds: int, paths: tuple[Path, ...], state: Path) -> int:
    lo, hi = 8 * 1024, 256 * 1024
    assert trial(hi, rounds, paths, state)[key], f"no {key} even in {hi} bytes"
    while hi - lo > 256:
        mid = (lo + hi) // 2
        if trial(mid, rounds, paths, state)[key]:
            hi = mid
        else:
            lo = mid
    return hi


def figures(paths: tuple[Path, ...], state: Path) -> dict[str, int]:
    roomy = trial(256 * 1024, ROUNDS, paths, state)
    assert roomy["serve"], roomy
    return {"retained": int(roomy["retained"]), "one_round": int(roomy["one_round"]),
            "serving": int(roomy["serving"]),
            "start_needs": smallest("start", 0, paths, state),
            "serve_needs": smallest("serve", ROUNDS, paths, state)}


def test_heap_needed_from_mpy_and_from_source(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    mpy = figures((compile_firmware(tmp_path / "build"),), state)
    src = figures((), state)
    print("unix port (64-bit) heap, .mpy:", mpy)
    print("unix port (64-bit) heap, .py:", src)
    # .mpy: starts and keeps serving within the budget.
    assert mpy["serve_needs"] <= SERVE_BUDGET_64, mpy
    assert trial(SERVE_BUDGET_64, ROUNDS, (tmp_path / "build",), state)["serve"]
    # Compiling sources on the device costs far more peak heap than loading .mpy.
    assert src["start_needs"] > mpy["start_needs"] + 8 * 1024, (src, mpy)
    # Bounded under traffic: 19 more rounds after the first add (almost) nothing.
    for build in (mpy, src):
        assert build["serving"] - build["one_round"] < 512, build
        assert build["serving"] - build["retained"] < 2048, build


def test_heap_needed_on_a_fixed_32bit_heap(tmp_path: Path) -> None:
    build = compile_firmware(tmp_path / "build")
    fits = wasm_trial(SERVE_BUDGET_WASM, ROUNDS, build)
    print("WebAssembly port (32-bit), fixed heap, .mpy:", fits)
    assert fits["serve"], fits
    assert int(fits["serving"]) - int(fits["one_round"]) < 512, fits
