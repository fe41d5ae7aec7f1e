"""The firmware's heap on real MicroPython with a restricted heap (the unix port).

Each trial is a fresh ``micropython -X heapsize=...`` whose free heap is cut to a given size
(mp/heap_fit.py ``restrict``); it starts the firmware (one switch) and serves rounds of
requests (discovery by multicast and unicast, /oic/d, /oic/p, observe, POSTs, errors)
through the node's receive step. A search in 256-byte steps finds the smallest heap in which
start-up succeeds (its peak) and in which start-up plus serving succeed. The port is a 64-bit
build: its objects are about 1.5 times a 32-bit board's (test_wasm.py measures the retained
heap in the 32-bit WebAssembly port), so the budgets here are that port's. The figures are
in docs/firmware.md ("Heap budget"); the test fails when the firmware no longer fits.

The ROMFS check deploys the firmware as ``mpremote romfs`` does (an image of ``.mpy`` files,
built by mpremote itself) and mounts it with the port's ``vfs.VfsRom`` before the heap is
restricted, as a board maps its ROMFS partition from flash: MicroPython then runs the
bytecode in place, and only the objects the code makes count against the heap.

The 32-bit checks run the same steps under the WebAssembly port with its heap made fixed
(fit_wasm.mjs): a real 32-bit interpreter, but one that collects garbage only between calls
from JavaScript, so each step (start-up, each request) needs all it allocates on top of what
is retained: an upper bound for a board, whose GC runs when an allocation fails (see that
file). There the ROMFS image is handed to the port's own ``romfs`` option, which keeps it
outside the GC heap and mounts it at /rom when the interpreter starts, as a board does with
its ROMFS partition in flash; the image then costs the GC heap nothing at all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.firmware import unixport
from tests.firmware.test_unix_port import compile_firmware
from tests.firmware.test_wasm import PACKAGE

# What the firmware needs on this 64-bit port today (measured 67,960 B from .mpy files) plus a
# small margin: the test fails when a change makes it no longer fit. A 32-bit board needs
# less (objects are smaller).
SERVE_BUDGET_64 = 70 * 1024
# The same on the 32-bit WebAssembly port (1.29) with a fixed heap, one call per request
# (measured: starts and serves 20 rounds in 62,192 B, not in 61,952), plus a margin. From the
# ROMFS image that port starts and serves 20 rounds in 39,872 B (not in 39,632): within the
# 40 KiB goal, which its test asserts.
SERVE_BUDGET_WASM = 64 * 1024
# From .mpy in a ROMFS image on the 64-bit unix port, start-up and 20 rounds of serving must
# fit the 40 KiB goal (measured: starts in about 34.5-35 KB, serves in about 38.6-39.3 KB; how
# the heap fragments moves the figure by some hundred bytes from run to run).
GOAL = 40 * 1024
ROUNDS = 20

# Mounts the image before the restriction: on a board the ROMFS partition is flash.
ROMFS_PROLOGUE = """
import vfs
_image = open(sys.argv[3], 'rb').read()
vfs.mount(vfs.VfsRom(_image), '/rom')
sys.path.insert(0, '/rom')
"""

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
if 'ocf.server' in sys.modules:
    print('loaded_from', sys.modules['ocf.server'].__file__)
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


def wasm_trial(available: int, rounds: int, build: Path, romfs: bool = False
               ) -> dict[str, int | bool]:
    """One fit_wasm.mjs trial: ``build`` is a directory of .mpy files, or a ROMFS image."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the MicroPython WebAssembly tests"
    assert PACKAGE.is_dir(), "run `npm install --prefix tests/firmware` first"
    done = subprocess.run([node, str(unixport.HERE / "fit_wasm.mjs"),
                           "--romfs" if romfs else "--mpy", str(build),
                           str(available), str(rounds)], capture_output=True, text=True,
                          timeout=120, check=False, stdin=subprocess.DEVNULL)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    if romfs and "start ok" in out:
        assert "loaded_from /rom/ocf/server.mpy" in out, out[-3000:]
    return _fits(out, rounds)


def build_romfs(tmp: Path) -> Path:
    """The firmware as ``mpremote romfs build`` makes it (sources compiled to .mpy)."""
    tree = tmp / "romfs"
    shutil.copytree(unixport.FIRMWARE / "ocf", tree / "ocf",
                    ignore=shutil.ignore_patterns("__pycache__"))
    image = tmp / "firmware.romfs"
    # Relative, as the flashing steps run it: each module keeps its source name in the heap.
    subprocess.run([sys.executable, "-m", "mpremote", "romfs", "-o", image.name, "build",
                    tree.name], check=True, capture_output=True, timeout=120, cwd=tmp)
    assert image.read_bytes().startswith(b"\xd2\xcd\x31"), "not a ROMFS image"
    return image


def trial(available: int, rounds: int, paths: tuple[Path, ...], state: Path,
          romfs: Path | None = None) -> dict[str, int | bool]:
    for old in state.iterdir():
        old.unlink()
    script, extra = (ROMFS_PROLOGUE + SCRIPT, (str(romfs),)) if romfs else (SCRIPT, ())
    done = subprocess.run(unixport.command(script, str(available), str(rounds), *extra,
                                           heap="1M", paths=paths),
                          capture_output=True, text=True, timeout=60, check=False, cwd=state)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Traceback" not in out, out
    if romfs and "start ok" in out:
        assert "loaded_from /rom/ocf/server.mpy" in out, out
    return _fits(out, rounds)


def smallest(key: str, rounds: int, paths: tuple[Path, ...], state: Path,
             romfs: Path | None = None) -> int:
    lo, hi = 8 * 1024, 256 * 1024
    assert trial(hi, rounds, paths, state, romfs)[key], f"no {key} even in {hi} bytes"
    while hi - lo > 256:
        mid = (lo + hi) // 2
        if trial(mid, rounds, paths, state, romfs)[key]:
            hi = mid
        else:
            lo = mid
    return hi


def figures(paths: tuple[Path, ...], state: Path, romfs: Path | None = None
            ) -> dict[str, int]:
    roomy = trial(256 * 1024, ROUNDS, paths, state, romfs)
    assert roomy["serve"], roomy
    return {"retained": int(roomy["retained"]), "one_round": int(roomy["one_round"]),
            "serving": int(roomy["serving"]),
            "start_needs": smallest("start", 0, paths, state, romfs),
            "serve_needs": smallest("serve", ROUNDS, paths, state, romfs)}


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


def test_heap_needed_from_mpy_in_romfs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    rom = figures((), state, build_romfs(tmp_path))
    plain = figures((compile_firmware(tmp_path / "build"),), state)
    print("unix port (64-bit) heap, .mpy in ROMFS:", rom)
    # Start-up and serving fit the 40 KiB goal even with this port's 64-bit objects.
    assert rom["start_needs"] <= GOAL, rom
    assert rom["serve_needs"] <= GOAL, rom
    # The bytecode stays in the image: far less heap than the same .mpy files loaded.
    assert rom["retained"] + 12 * 1024 < plain["retained"], (rom, plain)
    assert rom["serving"] - rom["one_round"] < 512, rom


def test_heap_needed_on_a_fixed_32bit_heap(tmp_path: Path) -> None:
    build = compile_firmware(tmp_path / "build")
    fits = wasm_trial(SERVE_BUDGET_WASM, ROUNDS, build)
    print("WebAssembly port (32-bit), fixed heap, .mpy:", fits)
    assert fits["serve"], fits
    assert int(fits["serving"]) - int(fits["one_round"]) < 512, fits


def test_heap_needed_from_romfs_on_32bit(tmp_path: Path) -> None:
    """The ROMFS image on the 32-bit port: start-up and serving within the 40 KiB goal, even
    on a port that collects garbage only between requests (see the module doc)."""
    image = build_romfs(tmp_path)
    fits = wasm_trial(GOAL, ROUNDS, image, romfs=True)
    print("WebAssembly port (32-bit), fixed heap, .mpy in ROMFS:", fits)
    # The image (some 27 KB) is outside the GC heap: the interpreter holds well under 2 KB.
    assert int(fits["port"]) < 2048, fits
    assert fits["start"], fits
    assert fits["serve"], fits
    assert int(fits["serving"]) - int(fits["one_round"]) < 512, fits
