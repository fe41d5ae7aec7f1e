// Run the firmware's pure modules under real MicroPython: the WebAssembly port from npm.
//
//   node tests/firmware/run_wasm.mjs [--mpy DIR]
//
// Copies firmware/ocf/*.py (or, with --mpy, the .mpy files mpy-cross made in DIR/ocf) and
// tests/firmware/mp/*.py into the interpreter's in-memory filesystem, then runs
//   1. codec_checks.run(): CBOR and CoAP checks; prints "ok <name>" / "FAIL <name>: ..."
//      and "checks <passed> <failed>"; "codec_heap <bytes>" is what importing ocf.cbor and
//      ocf.coap keeps allocated, "checks_heap <bytes>" the same after all checks ran;
//   2. server_checks.run() in a fresh interpreter: the server's error answers, one line per
//      check as above, then "server_checks <passed> <failed>";
//   3. heap_probe.py in a fresh interpreter: "heap_startup <bytes>", "heap_serving <bytes>".
// The port has no sockets (stubs/ stands in for the constants ocf.node reads); that is why
// only pure modules and the socket-free server run here.
// Exit status: 0 when every check passed, 1 otherwise.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const here = dirname(fileURLToPath(import.meta.url));
const firmware = join(here, "..", "..", "firmware");
const args = process.argv.slice(2);
const mpyDir = args[0] === "--mpy" ? args[1] : null;

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

async function interpreter() {
  const mp = await loadMicroPython({ stdout: collect, stderr: collect, heapsize: 512 * 1024 });
  if (mpyDir) {
    copyDir(mp, join(mpyDir, "ocf"), "/fw/ocf", ".mpy");
  } else {
    copyDir(mp, join(firmware, "ocf"), "/fw/ocf", ".py");
  }
  copyDir(mp, join(here, "mp"), "/tests", ".py");
  copyDir(mp, join(here, "mp", "stubs"), "/stubs", ".py");
  return mp;
}

let failed = false;
try {
  const mp = await interpreter();
  mp.runPython(`
import sys, gc
sys.path.insert(0, "/fw")
sys.path.insert(0, "/tests")
print("implementation", sys.implementation.name, sys.version)
`);
  // Heap the two codec modules keep once imported (each step its own call: heap_probe.py).
  mp.runPython("gc.collect()");
  mp.runPython("base = gc.mem_alloc()");
  mp.runPython("import ocf.cbor, ocf.coap");
  mp.runPython("gc.collect()");
  mp.runPython('print("codec_heap", gc.mem_alloc() - base)');
  mp.runPython(`
import codec_checks
passed, failed = codec_checks.run()
print("checks", passed, failed)
`);
  mp.runPython("gc.collect()");
  mp.runPython('print("checks_heap", gc.mem_alloc() - base)');
  const srv = await interpreter();
  srv.runPython(`
import sys, os
sys.path.insert(0, "/fw")
sys.path.insert(0, "/stubs")
sys.path.insert(0, "/tests")
os.mkdir("/state")
import server_checks
print("server_checks", *server_checks.run("/state"))
`);
  // One runPython call per step: the port collects only between calls (heap_probe.py).
  const probe = await interpreter();
  probe.runPython(`
import sys
sys.path.insert(0, "/fw")
sys.path.insert(0, "/stubs")
sys.path.insert(0, "/tests")
import gc
import heap_probe
`);
  const steps = ["prepare()", "COLLECT", "baseline()", "start()", "COLLECT", "report('startup')",
    "serve()", "COLLECT", "report('serving')"];
  for (const step of steps) {
    probe.runPython(step === "COLLECT" ? "gc.collect()" : "heap_probe." + step);
  }
} catch (err) {
  collect("ERROR " + String(err));
  failed = true;
}
if (!/^checks \d+ 0$/m.test(output) || !/^server_checks \d+ 0$/m.test(output)
    || !/^heap_startup \d+$/m.test(output)) {
  failed = true;
}
process.exit(failed ? 1 : 0);
