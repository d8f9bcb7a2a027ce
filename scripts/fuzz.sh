#!/usr/bin/env bash
# Fuzz the untrusted-input parsers with cargo-fuzz (libFuzzer), each target for a bounded time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 60 s, every target in fuzz/Cargo.toml
#
# Stable Rust only: the targets are built with `--sanitizer none`, which needs only -C flags
# (libFuzzer coverage instrumentation, debug assertions and overflow checks stay on). Set
# FUZZ_SANITIZER=address for AddressSanitizer; that needs -Zsanitizer, so on a stable toolchain the
# script sets RUSTC_BOOTSTRAP=1 for that build only. cargo-fuzz is installed from crates.io when
# missing; libFuzzer itself is compiled by libfuzzer-sys with the system C++ compiler.
#
# Each target starts from its committed seeds (fuzz/corpus/<target>/, never written to) and grows a
# working corpus in fuzz/work/<target>/ (gitignored, reused by the next run). On a crash, panic,
# timeout, leak or out-of-memory the script prints the saved input (fuzz/artifacts/<target>/...)
# and how to reproduce and minimise it, runs the remaining targets, and exits 1. A finding becomes
# a regression test: commit the minimised input under fuzz/regressions/<target>/ (replayed by
# tests/all/fuzz_corpus.rs) and add a named test next to the fixed code.
#
# Environment: FUZZ_JOBS (cargo build jobs, default 2), FUZZ_SANITIZER (none|address, default
# none), FUZZ_TARGET_DIR (default $CARGO_TARGET_DIR/fuzz or fuzz/target), FUZZ_TIMEOUT (seconds per
# input before libFuzzer calls it a hang, default 10), FUZZ_RSS_LIMIT_MB (default 2048).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

SECONDS_PER_TARGET=${1:-60}
shift || true
[[ $SECONDS_PER_TARGET =~ ^[0-9]+$ && $SECONDS_PER_TARGET -gt 0 ]] || {
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
}
JOBS=${FUZZ_JOBS:-2}
SANITIZER=${FUZZ_SANITIZER:-none}
TARGET_DIR=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}}
TARGET_DIR=${TARGET_DIR:-$ROOT/fuzz/target}

say() { printf 'fuzz: %s\n' "$*"; }
die() {
    printf 'fuzz: ERROR: %s\n' "$*" >&2
    exit 2
}

# C libraries (libxmlsec1/libxml2 for samael) and a C++ compiler (libFuzzer): scripts/setup.sh
# installs them; it is only called when something is missing.
if ! pkg-config --exists xmlsec1 2>/dev/null || ! command -v c++ >/dev/null 2>&1; then
    say "xmlsec1 development files or a C++ compiler missing: running scripts/setup.sh"
    bash scripts/setup.sh
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz from crates.io (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked --version '^0.13' -j "$JOBS"
fi
say "$(cargo fuzz --version), $(rustc --version)"

FUZZ_FLAGS=(--sanitizer "$SANITIZER" --target-dir "$TARGET_DIR")
case $SANITIZER in
none) ;;
address | leak)
    # -Zsanitizer is unstable: allow it on a stable toolchain.
    if ! rustc --version | grep -q nightly; then export RUSTC_BOOTSTRAP=1; fi
    ;;
*) die "FUZZ_SANITIZER=$SANITIZER: use none or address" ;;
esac

mapfile -t ALL < <(cargo fuzz list)
if (($# > 0)); then
    TARGETS=("$@")
    for t in "${TARGETS[@]}"; do
        printf '%s\n' "${ALL[@]}" | grep -qx "$t" || die "no fuzz target $t (have: ${ALL[*]})"
    done
else
    TARGETS=("${ALL[@]}")
fi

say "building ${TARGETS[*]} (sanitizer $SANITIZER, -j$JOBS, target dir $TARGET_DIR)"
CARGO_BUILD_JOBS=$JOBS cargo fuzz build "${FUZZ_FLAGS[@]}"

mkdir -p fuzz/work
failed=()
summary=()
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/work/$t"
    log=fuzz/work/$t.log
    say "running $t for ${SECONDS_PER_TARGET}s (log $log)"
    rc=0
    CARGO_BUILD_JOBS=$JOBS cargo fuzz run "${FUZZ_FLAGS[@]}" "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout="${FUZZ_TIMEOUT:-10}" \
        -rss_limit_mb="${FUZZ_RSS_LIMIT_MB:-2048}" -print_final_stats=1 >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
    units=$(find "fuzz/work/$t" -type f | wc -l)
    line=$(printf '%-15s %12s execs %8s exec/s  cov %6s  work corpus %5s' \
        "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$units")
    if ((rc != 0)); then
        artifact=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -n 1 | cut -d' ' -f5- || true)
        failed+=("$t")
        summary+=("$line  FAILED (exit $rc)")
        echo "----- $t: last lines of $log -----" >&2
        tail -n 40 "$log" >&2
        say "$t FAILED (exit $rc); input: ${artifact:-none saved, see $log}"
        if [[ -n ${artifact:-} ]]; then
            say "  reproduce: cargo fuzz run ${FUZZ_FLAGS[*]} $t $artifact"
            say "  minimise:  cargo fuzz tmin ${FUZZ_FLAGS[*]} $t $artifact"
            say "  replay on stable: copy it to fuzz/regressions/$t/ and run cargo test --test all fuzz_corpus::"
        fi
    else
        summary+=("$line  ok")
    fi
done

say "summary (${SECONDS_PER_TARGET}s per target, sanitizer $SANITIZER):"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "no crash, panic, timeout or OOM found"
