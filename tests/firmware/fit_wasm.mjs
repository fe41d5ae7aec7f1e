// Does the firmware start and keep serving in N bytes of heap on a 32-bit MicroPython?
//
//   node tests/firmware/fit_wasm.mjs [--mpy DIR] AVAILABLE ROUNDS
//
// MicroPython's WebAssembly port (the npm package run_wasm.mjs loads) is a 32-bit build
// whose GC heap is one block of `heapsize` bytes, but it adds more blocks on demand (a
// "split heap": when an allocation fails it mallocs another). To make the heap fixed, as
// on a board, this runner (1) hands the module an `emscripten_resize_heap` that refuses to
// grow the WebAssembly memory, by wrapping the standard `WebAssembly.instantiate`, and
// (2) allocates every byte left in the C heap (malloc) after start, keeping one 1,536-byte
// hole for the source text each runPython call copies, so a new GC block (at least 2 KiB)
// can never be had. Nothing of MicroPython itself is changed. Then mp/heap_fit.py runs:
// restrict(AVAILABLE), start(), ROUNDS x serve_round(), each its own runPython call (the
// port scans its stack conservatively: garbage of an earlier step in the same call would
// still look reachable). Prints heap_fit's lines plus:
//   heap_port <bytes>    what the interpreter holds before anything is imported
//   heap_total <bytes>   the GC heap's size, the same at the end (else: "FAIL grew")
// Exit status 0 when every step ran (fitting or not: "start|serve ok|memory" tells).
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const instantiate = WebAssembly.instantiate;
WebAssembly.instantiate = (source, imports) => {
  if (imports?.env?.emscripten_resize_heap) {
    imports.env.emscripten_resize_heap = () => false;
  }
  return instantiate.call(WebAssembly, source, imports);
};
const { loadMicroPython } = await import("@micropython/micropython-webassembly-pyscript");

const here = dirname(fileURLToPath(import.meta.url));
const firmware = join(here, "..", "..", "firmware");
let args = process.argv.slice(2);
const mpyDir = args[0] === "--mpy" ? args[1] : null;
if (mpyDir) {
  args = args.slice(2);
}
const [available, rounds] = args.map(Number);

let output = "";
function collect(text) {
  output += text + "\n";
  process.stdout.write(text + "\n");
}

function copyDir(mp, from, to, ext) {
  mp.FS.mkdirTree(to);
  for (const name of readdirSync(from)) {
    if (name.endsWith(ext)) {
      mp.FS.writeFile(join(to, name), readFileSync(join(from, name)));
    }
  }
}

// The trial's heap plus room for heap_fit and its prebuilt requests: the ballast
// heap_fit.restrict() takes is then small, so a collection near the limit stays cheap.
const mp = await loadMicroPython({ stdout: collect, stderr: collect,
  heapsize: available + 16 * 1024 });
const c = mp._module;
const hole = c._malloc(1536);
for (let size = 1 << 24; size >= 64; size >>= 1) {
  while (c._malloc(size)) {
    // taken for good: the GC finds no room for another heap block
  }
}
c._free(hole);
if (c._malloc(2100) !== 0) {
  collect("FAIL the C heap still has room for a new GC block");
  process.exit(1);
}
if (mpyDir) {
  copyDir(mp, join(mpyDir, "ocf"), "/fw/ocf", ".mpy");
} else {
  copyDir(mp, join(firmware, "ocf"), "/fw/ocf", ".py");
}
copyDir(mp, join(here, "mp"), "/tests", ".py");
copyDir(mp, join(here, "mp", "stubs"), "/stubs", ".py");
mp.FS.mkdirTree("/state");

// gc.mem_free() on this port adds what the heap could still grow by ("max new split" in
// micropython.mem_info()); growth is blocked above, so heap_fit subtracts it.
mp.runPython("import gc, micropython\ngc.collect()\nprint('heap_port', gc.mem_alloc())");
mp.runPython("micropython.mem_info()");
const split = Number(/max new split: (\d+)/.exec(output)[1]);
const total = Number(/GC: total: (\d+)/.exec(output)[1]);
collect("heap_total " + total);
mp.runPython(`
import sys
sys.path[:0] = ["/fw", "/stubs", "/tests"]
sys.argv[1:] = ["${available}"]
import heap_fit
heap_fit.GROWTH = ${split}
`);
const steps = [`restrict(${available})`, "start()", "COLLECT", "report('retained')"];
for (let i = 0; i < rounds; i++) {
  steps.push("serve_round()");
  if (i === 0) {
    steps.push("COLLECT", "report('one_round')");
  }
}
steps.push("COLLECT", "report('serving')");
for (const step of steps) {
  if (process.env.FIT_TRACE) collect("step " + step);
  try {
    mp.runPython(step === "COLLECT" ? "gc.collect()" : "heap_fit." + step);
  } catch (err) {
    if (err.type !== "MemoryError") {
      throw err;
    }
    collect("step memory " + step); // out of heap outside heap_fit's own checks
  }
}
output = "";
mp.runPython("micropython.mem_info()");
const after = Number(/GC: total: (\d+)/.exec(output)[1]);
if (after !== total) {
  collect("FAIL grew from " + total + " to " + after);
  process.exit(1);
}
process.exit(0);
