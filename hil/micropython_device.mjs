// A device running ether_lite under the real MicroPython interpreter (WebAssembly port) in node,
// with this process's stdin/stdout as its link: the bridge's `cmd:` link can start it.
//
//   node hil/micropython_device.mjs [--id DEVICE_ID] [--heap BYTES] DEVICE_FILE.py CLASS
//
// ether_lite/ and DEVICE_FILE.py are copied into MicroPython's in-memory /lib. MicroPython's own
// print() output goes to stderr (stdout is the link). The device is polled from node's event loop:
// at once when bytes arrive, otherwise when its next publication is due; nothing spins while idle.
// End of stdin (the host went away) stops the device; exit status 0, or 1 if the device raised.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);

function usage(msg) {
  process.stderr.write(`micropython_device.mjs: ${msg}\n` +
    "usage: node hil/micropython_device.mjs [--id DEVICE_ID] [--heap BYTES] DEVICE_FILE.py CLASS\n");
  process.exit(2);
}

let deviceId = null;
let heap = 4 * 1024 * 1024;
const argv = process.argv.slice(2);
while (argv.length && argv[0].startsWith("--")) {
  const opt = argv.shift();
  if (opt === "--id") deviceId = argv.shift() || usage("--id needs a value");
  else if (opt === "--heap") heap = parseInt(argv.shift(), 10);
  else usage(`unknown option ${opt}`);
}
const [deviceFile, className] = argv;
if (!deviceFile || !className) usage("give the device file and the class to run");
if (!fs.existsSync(deviceFile)) usage(`${deviceFile} does not exist`);

const toStderr = (line) => process.stderr.write(line + "\n");
const mp = await loadMicroPython({ heapsize: heap, stdout: toStderr, stderr: toStderr });

function copyTree(hostDir, fsDir) {
  mp.FS.mkdirTree(fsDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const src = path.join(hostDir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "__pycache__") copyTree(src, fsDir + "/" + entry.name);
    } else if (entry.name.endsWith(".py")) {
      mp.FS.writeFile(fsDir + "/" + entry.name, fs.readFileSync(src));
    }
  }
}
copyTree(path.join(root, "ether_lite"), "/lib/ether_lite");
mp.FS.writeFile("/lib/hil_micropython_link.py", fs.readFileSync(path.join(here, "micropython_link.py")));
const moduleName = path.basename(deviceFile, ".py");
mp.FS.writeFile(`/lib/${moduleName}.py`, fs.readFileSync(deviceFile));

// The link: bytes from stdin wait in `inbox` until the device takes them.
const inbox = [];
let inboxBytes = 0;
let ended = false;
mp.registerJsModule("hil_stdio", {
  take(n) {
    if (!inboxBytes) return "";
    const parts = [];
    let got = 0;
    while (inbox.length && got < n) {
      const head = inbox[0];
      const k = Math.min(head.length, n - got);
      parts.push(head.subarray(0, k));
      got += k;
      if (k === head.length) inbox.shift();
      else inbox[0] = head.subarray(k);
    }
    inboxBytes -= got;
    return Buffer.concat(parts).toString("hex");
  },
  put(hex) {
    process.stdout.write(Buffer.from(hex, "hex"));
  },
  connected() {
    return !ended;
  },
});

mp.globals.set("_module", moduleName);
mp.globals.set("_class", className);
mp.globals.set("_device_id", deviceId);
let step;
try {
  mp.runPython(`
import hil_micropython_link
_runner = hil_micropython_link.DeviceRunner(getattr(__import__(_module), _class), _device_id)
_step = _runner.step
`);
  step = mp.globals.get("_step");
} catch (error) {
  process.stderr.write(`micropython_device.mjs: cannot start ${moduleName}.${className}: ${error.message || error}\n`);
  process.exit(1);
}

let timer = null;
let immediate = null;
function pump() {
  immediate = null;
  if (timer) clearTimeout(timer);
  timer = null;
  let ms = 0;
  try {
    for (let k = 0; k < 256 && ms === 0; k++) ms = step();
  } catch (error) {
    process.stderr.write(`micropython_device.mjs: the device raised: ${error.message || error}\n`);
    process.exit(1);
  }
  if (ended) return;
  if (inboxBytes || ms === 0) immediate = setImmediate(pump);
  else timer = setTimeout(pump, ms);
}
function wake() {
  if (!immediate) immediate = setImmediate(pump);
}

process.stdout.on("error", () => process.exit(0)); // the host closed the link
if (process.stdin.isTTY) process.stdin.setRawMode(true);
process.stdin.on("data", (chunk) => {
  inbox.push(chunk);
  inboxBytes += chunk.length;
  wake();
});
process.stdin.on("end", () => {
  ended = true;
  if (timer) clearTimeout(timer);
  timer = null;
  process.exitCode = 0;
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
wake();
