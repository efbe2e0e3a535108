// Run a Python script under the real MicroPython interpreter (npm @micropython/micropython-webassembly-pyscript).
//
//   node tests/micropython/run.mjs [--copy HOSTDIR=FSDIR]... [--heap BYTES] [--stdio-link] SCRIPT.py [ARGS...]
//
// --stdio-link makes this process's stdin/stdout a byte link for ether_lite (link="stdio"): it registers the
// JavaScript module `ether_host_io` (read(max) -> Uint8Array, or null at end of file; write(hex); wait(ms)),
// and sends Python's own printed output to stderr so that stdout carries only frames.
//
// Each --copy copies the .py, .mpy and .json files of HOSTDIR (recursively) into MicroPython's in-memory
// filesystem at FSDIR (there is no host-folder mount). /lib is on sys.path, so `--copy ether_lite=/lib/ether_lite`
// makes `import ether_lite` work. The script runs as __main__ with the global ARGV = [SCRIPT, ARGS...] (this port's sys has no argv); the exit status
// is the script's SystemExit code (0 when it returns, 1 on an uncaught exception, whose traceback goes to stderr).
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

function usage(msg) {
  process.stderr.write(`run.mjs: ${msg}\nusage: node run.mjs [--copy HOSTDIR=FSDIR]... [--heap BYTES] SCRIPT.py [ARGS...]\n`);
  process.exit(2);
}

const copies = [];
let heap = 8 * 1024 * 1024;
let stdioLink = false;
const argv = process.argv.slice(2);
while (argv.length && argv[0].startsWith("--")) {
  const opt = argv.shift();
  if (opt === "--copy") {
    const spec = argv.shift() || usage("--copy needs HOSTDIR=FSDIR");
    const eq = spec.indexOf("=");
    if (eq < 0) usage(`--copy ${spec}: expected HOSTDIR=FSDIR`);
    copies.push([spec.slice(0, eq), spec.slice(eq + 1)]);
  } else if (opt === "--stdio-link") {
    stdioLink = true;
  } else if (opt === "--heap") {
    heap = parseInt(argv.shift(), 10);
  } else {
    usage(`unknown option ${opt}`);
  }
}
const script = argv.shift() || usage("no script given");

const mp = await loadMicroPython({
  heapsize: heap,
  stdout: (line) => (stdioLink ? process.stderr : process.stdout).write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function copyTree(hostDir, fsDir) {
  mp.FS.mkdirTree(fsDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const src = path.join(hostDir, entry.name);
    const dst = fsDir + "/" + entry.name;
    if (entry.isDirectory()) {
      if (entry.name !== "__pycache__") copyTree(src, dst);
    } else if (/\.(py|json|mpy)$/.test(entry.name)) {
      mp.FS.writeFile(dst, fs.readFileSync(src));
    }
  }
}
for (const [hostDir, fsDir] of copies) {
  if (!fs.existsSync(hostDir)) usage(`--copy: ${hostDir} does not exist`);
  copyTree(hostDir, fsDir);
}
if (stdioLink) {
  // Non-blocking reads of stdin: reopen fd 0 with O_NONBLOCK and treat EAGAIN as "nothing yet".
  const fd = fs.openSync("/proc/self/fd/0", fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const rbuf = Buffer.alloc(4096);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  mp.registerJsModule("ether_host_io", {
    read: (max) => {
      try {
        const n = fs.readSync(fd, rbuf, 0, Math.min(max, rbuf.length), null);
        return n === 0 ? null : new Uint8Array(rbuf.subarray(0, n));
      } catch (e) {
        if (e.code === "EAGAIN") return new Uint8Array(0);
        throw e;
      }
    },
    write: (hex) => {
      const b = Buffer.from(hex, "hex");
      let off = 0;
      while (off < b.length) {
        try {
          off += fs.writeSync(1, b, off);
        } catch (e) {
          if (e.code !== "EAGAIN") throw e;
          Atomics.wait(sleeper, 0, 0, 1);
        }
      }
    },
    wait: (ms) => Atomics.wait(sleeper, 0, 0, Math.max(0, Math.min(ms, 2))),
  });
}
// Garbage collection in this port: it cannot scan the wasm stack, so gc.collect() called from Python only
// requests a collection, which runs when the call from JavaScript returns. A script that measures retained
// RAM (bench/lite.py) therefore splits itself at lines starting "#--- top level": each part runs as its own
// call (same globals), so a gc.collect() at the end of one part has really run when the next part starts.
mp.FS.mkdirTree("/main");
const parts = fs.readFileSync(script, "utf8").split(/^#--- top level.*$/m);
parts.forEach((src, i) => mp.FS.writeFile(`/main/__main_script_${i}__.py`, src));
mp.globals.set("_argv", JSON.stringify([script, ...argv]));

const wrapper = `
import sys, json
_status = 0
try:
    _args = json.loads(_argv)
    if "_g" not in globals():
        _g = {"__name__": "__main__", "__file__": _args[0], "ARGV": _args}
    def _run(path):  # the source and its code are locals: garbage once the part has run
        with open(path) as f:
            exec(f.read(), _g)

    _run("/main/__main_script_%d__.py" % _part)
except SystemExit as _e:
    _code = _e.args[0] if _e.args else 0
    _status = _code if isinstance(_code, int) else 1
    if not isinstance(_code, int):
        print(_code, file=sys.stderr)
except BaseException as _e:
    sys.print_exception(_e, sys.stderr)
    _status = 1
`;
let status;
try {
  for (let i = 0; i < parts.length && !status; i++) {
    mp.globals.set("_part", i);
    mp.runPython(wrapper);
    status = mp.globals.get("_status");
  }
} catch (error) {
  process.stderr.write(`run.mjs: MicroPython failed: ${error.message || error}\n`);
  status = 1;
}
process.exitCode = typeof status === "number" ? status : 1;
