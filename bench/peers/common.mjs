// Shared by the Node peers of scripts/bench-peers.sh: argument parsing, input loading, the timed
// loop (same shape as examples/verify_throughput.rs) and the RESULT line the script parses.
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";

export function args() {
  const [dir, seconds = "5", warmup = "1"] = process.argv.slice(2);
  if (!dir) throw new Error("usage: node SCRIPT INDIR [SECONDS] [WARMUP_SECONDS]");
  const read = (name) => readFileSync(join(dir, name), "utf8");
  return { read, manifest: JSON.parse(read("inputs.json")), seconds: Number(seconds), warmup: Number(warmup) };
}

/** Installed version of a package of bench/peers (from its own package.json). */
export function version(pkg) {
  const here = dirname(fileURLToPath(import.meta.url));
  return JSON.parse(readFileSync(join(here, "node_modules", pkg, "package.json"), "utf8")).version;
}

/** Process CPU time (user + system) in seconds: ops per CPU-second is steadier on a shared machine. */
const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** Await `op` for `warmup` s, then for `seconds` s (wall clock); one at a time (no concurrency). */
export async function timeLoop(warmup, seconds, op) {
  let start = performance.now();
  while (performance.now() - start < warmup * 1000) await op();
  start = performance.now();
  const cpu0 = cpuSeconds();
  let n = 0;
  for (;;) {
    await op();
    n += 1;
    if (performance.now() - start >= seconds * 1000) break;
  }
  const secs = (performance.now() - start) / 1000;
  return { ops: n / secs, us: (secs * 1e6) / n, n, cpuOps: n / (cpuSeconds() - cpu0) };
}

/** `RESULT name version ops_per_wall_s us_per_op iterations ops_per_cpu_s` (parsed by the script). */
export function report(name, ver, { ops, us, n, cpuOps }) {
  console.log(`RESULT ${name} ${ver} ${ops.toFixed(0)} ${us.toFixed(2)} ${n} ${cpuOps.toFixed(0)}`);
}

/** Assert that `promise` rejects (the verifier refused the input). */
export async function mustFail(what, promise) {
  try {
    await promise;
  } catch {
    return;
  }
  throw new Error(`${what} was ACCEPTED: the peer is not verifying`);
}
