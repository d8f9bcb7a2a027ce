"""Shared by the Python peers of scripts/bench-peers.sh: arguments, inputs, the timed loop (same
shape as examples/verify_throughput.rs) and the RESULT line the script parses."""
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path


def args():
    if len(sys.argv) < 2:
        sys.exit(f"usage: {sys.argv[0]} INDIR [SECONDS] [WARMUP_SECONDS]")
    d = Path(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    warmup = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0

    def read(name):
        return (d / name).read_text()

    return read, json.loads(read("inputs.json")), seconds, warmup


def time_loop(warmup, seconds, op):
    """Run op for warmup s, then for seconds s (wall clock). Also returns ops per CPU-second of
    the process (steadier on a shared machine)."""
    start = time.perf_counter()
    while time.perf_counter() - start < warmup:
        op()
    start, cpu0 = time.perf_counter(), time.process_time()
    n = 0
    while True:
        op()
        n += 1
        if time.perf_counter() - start >= seconds:
            break
    secs = time.perf_counter() - start
    return n / secs, secs * 1e6 / n, n, n / (time.process_time() - cpu0)


def report(name, dist, result):
    """RESULT name version ops_per_wall_s us_per_op iterations ops_per_cpu_s (parsed by the script)."""
    ops, us, n, cpu_ops = result
    print(f"RESULT {name} {dist}-{version(dist)} {ops:.0f} {us:.2f} {n} {cpu_ops:.0f}", flush=True)


def must_fail(what, op):
    try:
        op()
    except Exception:
        return
    raise SystemExit(f"{what} was ACCEPTED: the peer is not verifying")
