// Does the firmware start and keep serving in N bytes of heap on a 32-bit MicroPython?
//
//   node tests/firmware/fit_wasm.mjs [--mpy DIR | --romfs IMAGE] AVAILABLE ROUNDS
//
// MicroPython's WebAssembly port (the npm package run_wasm.mjs loads) is a 32-bit build
// whose GC heap is one block of `heapsize` bytes, but it adds more blocks on demand (a
// "split heap": when an allocation fails it mallocs another). To make the heap fixed, as
// on a board, this runner (1) hands the module an `emscripten_resize_heap` that refuses to
// grow the WebAssembly memory, by wrapping the standard `WebAssembly.instantiate`, and
// (2) allocates every byte left in the C heap (malloc) after start but one 16 KiB hole, so a
// new GC block can never be had: the GC asks for at least the size of the heap it has
// (more than 16 KiB). The hole is for what the runtime itself mallocs: the source text each
// runPython call copies and the small values it passes back. Nothing of MicroPython itself
// is changed.
//
// This port never collects garbage inside a call from JavaScript: its gc_collect() (run
// when an allocation fails, and by gc.collect()) only marks a collection as pending, and
// the collection runs when the outermost runPython call returns, when no C stack holds
// pointers. Within a call, then, every object made stays in the heap, and a gc.collect()
// there frees nothing (the node's reserve, freed to make room, comes back only after the
// call). So each step is its own runPython call, as short as the firmware allows:
// mp/heap_fit.py's restrict(AVAILABLE), start(), then ROUNDS rounds of one call per request
// (serve_request; a round is "serve ok" when each of its requests was). What a step needs
// here is what it allocates in all, on top of what earlier steps left: a board, whose GC
// runs when an allocation fails, should need no more. Prints heap_fit's lines plus:
//   heap_port <bytes>    what the interpreter holds before anything is imported
//   heap_total <bytes>   the GC heap's size, the same at the end (else: "FAIL grew")
//   loaded_from <file>   where ocf.server came from (after start-up)
// The firmware comes from firmware/ocf/*.py, from the .mpy files mpy-cross made in DIR/ocf
// (--mpy), or from a ROMFS image (--romfs, as `mpremote romfs build` makes it). The image is
// handed to the port the way a board has its ROMFS partition: with loadMicroPython's own
// `romfs` option, which copies it into the C heap (outside the GC heap, as flash is) and
// mounts it at /rom (vfs.VfsRom over vfs.rom_ioctl's memoryview), with /rom on sys.path,
// when the interpreter starts. The bytecode then runs in place and none of the image counts
// against the GC heap; the mount's own objects are in heap_port above.
// Exit status 0 when every step ran (fitting or not: "start|serve|request ok|memory" and
// "step memory: <step>" tell). Figures: docs/firmware.md, "Heap budget".
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
const romfsImage = args[0] === "--romfs" ? args[1] : null;
if (mpyDir || romfsImage) {
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
const options = { stdout: collect, stderr: collect, heapsize: available + 16 * 1024 };
if (romfsImage) {
  options.romfs = readFileSync(romfsImage);
}
const mp = await loadMicroPython(options);
const c = mp._module;
const hole = c._malloc(16 * 1024);
for (let size = 1 << 24; size >= 64; size >>= 1) {
  while (c._malloc(size)) {
    // taken for good: the GC finds no room for another heap block
  }
}
c._free(hole);
if (c._malloc(available) !== 0) {
  collect("FAIL the C heap still has room for a new GC block");
  process.exit(1);
}
if (mpyDir) {
  copyDir(mp, join(mpyDir, "ocf"), "/fw/ocf", ".mpy");
} else if (!romfsImage) {
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
sys.path[:0] = ["${romfsImage ? "/rom" : "/fw"}", "/stubs", "/tests"]
import heap_fit
heap_fit.GROWTH = ${split}
`);
// A MemoryError must not leave a step: the port would format it for JavaScript on the full
// heap, fail again with no handler left and spin forever (its nlr_jump_fail). So each step
// catches it, drops the ballast to have room, and says so; that trial then counts as no fit.
function run(step) {
  const code = step === "COLLECT" ? "gc.collect()" : "heap_fit." + step;
  mp.runPython(`try:
    ${code}
except MemoryError:
    heap_fit.S["ballast"] = None
    print("step memory: ${step}")`);
}

// A round is one call per request: the port collects only between calls (above).
mp.runPython("requests = len(heap_fit.REQUESTS)");
const requests = mp.globals.get("requests");
if (!(requests > 0)) {
  collect("FAIL no requests to serve");
  process.exit(1);
}
for (const step of [`restrict(${available})`, "start()", "COLLECT", "report('retained')"]) {
  run(step);
}
for (let i = 0; i < rounds; i++) {
  const before = output.length;
  for (let r = 0; r < requests; r++) {
    run(`serve_request(${r})`);
  }
  collect(/memory/.test(output.slice(before)) ? "serve memory" : "serve ok");
  if (i === 0) {
    run("COLLECT");
    run("report('one_round')");
  }
}
run("COLLECT");
run("report('serving')");
mp.runPython(`
if "ocf.server" in sys.modules:
    print("loaded_from", sys.modules["ocf.server"].__file__)`);
output = "";
mp.runPython("micropython.mem_info()");
const after = Number(/GC: total: (\d+)/.exec(output)[1]);
if (after !== total) {
  collect("FAIL grew from " + total + " to " + after);
  process.exit(1);
}
process.exit(0);
