import { readFileSync, readdirSync } from "node:fs";
const { loadMicroPython } = await import("@micropython/micropython-webassembly-pyscript");
const dir = process.argv[2];
const mp = await loadMicroPython({ stdout: t=>console.log(t), stderr: t=>console.log(t), heapsize: 512 * 1024 });
mp.FS.mkdirTree("/fw/ocf"); for (const n of readdirSync(dir + "/ocf")) mp.FS.writeFile("/fw/ocf/"+n, readFileSync(dir + "/ocf/"+n));
mp.FS.mkdirTree("/stubs"); for (const n of ["select.py","socket.py"]) mp.FS.writeFile("/stubs/"+n, readFileSync("mp/stubs/"+n));
mp.FS.mkdirTree("/state");
mp.runPython('import sys, gc\nsys.path[:0] = ["/fw", "/stubs"]\nimport select, socket, json, os\nR={}');
for (const m of ["hal", "cbor", "coap", "resource", "app", "identity", "config", "server", "node", "main"]) {
  mp.runPython("gc.collect()"); mp.runPython("R['b'] = gc.mem_alloc()");
  mp.runPython(`import ocf.${m}`);
  mp.runPython("gc.collect()"); mp.runPython(`print("${m}", gc.mem_alloc() - R['b'])`);
}
mp.runPython("gc.collect()"); mp.runPython("R['b'] = gc.mem_alloc()");
mp.runPython(`from ocf import config, main
cfg = config.parse('{"device": {"name": "Fit", "type": "oic.d.switch"}, "network": {"port": 5700, "address4": "169.254.0.2"}, "resources": [{"kind": "switch", "href": "/switch/1", "pin": 5}]}')
R['sn'] = main.build(cfg, "/state")`);
mp.runPython("gc.collect()"); mp.runPython(`print("build", gc.mem_alloc() - R['b'])`);
