#!/usr/bin/env bash
# THE test command: everything CI checks, runnable on a developer machine.
#
#   scripts/test.sh [ARGS...]        ARGS go to `cargo test --all-targets`, e.g. `saml -- --nocapture`
#
# Phases, arranged so the two cores are busy compiling while everything else waits on the network
# or on servers (the figures behind this order are in docs/BENCHMARKS.md#the-test-command):
#   setup system (Debian packages: what compiling needs) →
#   in the background: the Redis groups at once; `setup.sh tools` (venvs, npm, interop corpus),
#     then moto + Redis, the test OIDC IdP and scripts/lint-deploy.sh →
#   cargo fmt --check → the test build with clippy -D warnings inside it → (only without ARGS, in
#   the background: the container image build and demo, scripts/check-openapi.sh, the OpenAPI
#   document against a live broker) → cargo test --all-targets (the integration tests are one
#   binary, tests/all) → the background checks' and lint-deploy's results.
# Services are always stopped again on exit. All checks run even when an earlier one fails, so one
# run shows every problem; the exit code is non-zero if any failed. The closing line counts every
# test binary's results.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
RUN_DIR=$ROOT/.fedbroker-run

phase() { printf '\n==> [%s +%ss] %s\n' "$(date -u +%H:%M:%SZ)" "$SECONDS" "$*"; }

export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

phase "setup: system packages (scripts/setup.sh system)"
bash scripts/setup.sh system

[[ -f scripts/services.sh ]] || {
    echo "test.sh: scripts/services.sh is missing; it starts Redis and moto for the tests" >&2
    exit 1
}

services_started=0
services_pid=""
container_pid=""
openapi_pid=""
stop_services() {
    local rc=$?
    for pid in "$container_pid" "$openapi_pid" "$services_pid"; do
        # Let a run still under way finish, so everything it started is stopped below.
        [[ -n $pid ]] && { wait "$pid" 2>/dev/null || true; }
    done
    if ((services_started)); then
        mkdir -p "$RUN_DIR"
        # Quiet on success so cargo test's summary stays the closing lines.
        if ! bash scripts/services.sh stop >"$RUN_DIR/services-stop.log" 2>&1; then
            echo "test.sh: scripts/services.sh stop failed:" >&2
            cat "$RUN_DIR/services-stop.log" >&2
        fi
        bash scripts/oidc-idp.sh stop >>"$RUN_DIR/services-stop.log" 2>&1 || true
        bash scripts/redis-cluster.sh stop >>"$RUN_DIR/services-stop.log" 2>&1 || true
        bash scripts/redis-topologies.sh stop >>"$RUN_DIR/services-stop.log" 2>&1 || true
    fi
    exit "$rc"
}
trap stop_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Everything that waits rather than computes, in the background while fmt, clippy and the build
# run (none of them needs a service). Each part writes its own log; services_ready prints them.
# The Redis groups need nothing from `setup.sh tools`, so they start at once, side by side (the
# Sentinel groups take ~4 s to converge); moto needs the venv, the IdP node_modules, lint-deploy
# its linters in the venv. A part that fails makes the whole start fail (exit code), after every
# part has finished.
# The parts whose logs services_ready prints (lint-deploy's is printed with its verdict, at the end).
START_PARTS=(setup-tools redis-cluster redis-topologies services oidc-idp)
phase "in the background: Redis groups, setup tools, moto + Redis, OIDC IdP, lint-deploy (logs: .fedbroker-run/start-*.log)"
mkdir -p "$RUN_DIR"
rm -f "$RUN_DIR"/start-*.log "$RUN_DIR/lint-deploy.rc"
services_started=1
(
    set -u
    log() { printf '%s/start-%s.log' "$RUN_DIR" "$1"; }
    rc=0
    bash scripts/redis-cluster.sh start >"$(log redis-cluster)" 2>&1 &
    cluster=$!
    bash scripts/redis-topologies.sh start >"$(log redis-topologies)" 2>&1 &
    topologies=$!
    if bash scripts/setup.sh tools >"$(log setup-tools)" 2>&1; then
        bash scripts/services.sh start >"$(log services)" 2>&1 &
        services=$!
        bash scripts/oidc-idp.sh start >"$(log oidc-idp)" 2>&1 &
        idp=$!
        # Not a service: its verdict is read at the end (lint-deploy.rc), not here.
        lint_rc=0
        bash scripts/lint-deploy.sh >"$(log lint-deploy)" 2>&1 || lint_rc=$?
        echo "$lint_rc" >"$RUN_DIR/lint-deploy.rc"
        wait "$services" || rc=1
        wait "$idp" || rc=1
    else
        rc=1
    fi
    wait "$cluster" || rc=1
    wait "$topologies" || rc=1
    exit "$rc"
) </dev/null &
services_pid=$!

show_start_logs() {
    local part
    for part in "${START_PARTS[@]}"; do
        [[ -s $RUN_DIR/start-$part.log ]] || continue
        echo "--- $part"
        cat "$RUN_DIR/start-$part.log"
    done
}

# Wait for the services started above and read their env files (exits when one did not start).
services_ready() {
    [[ -n $services_pid ]] || return 0
    phase "services: waiting for the start begun at the top"
    local rc=0
    wait "$services_pid" || rc=$?
    services_pid=""
    show_start_logs
    if ((rc != 0)); then
        echo "test.sh: starting the services failed (exit $rc); see above" >&2
        exit 1
    fi
    [[ -f $RUN_DIR/services.env ]] || {
        echo "test.sh: scripts/services.sh start wrote no $RUN_DIR/services.env" >&2
        exit 1
    }
    # shellcheck source=/dev/null
    source "$RUN_DIR/services.env"
    : "${FEDBROKER_TEST_REDIS_URL:?services.env did not set FEDBROKER_TEST_REDIS_URL}"
    : "${FEDBROKER_TEST_STS_ENDPOINT:?services.env did not set FEDBROKER_TEST_STS_ENDPOINT}"
    echo "FEDBROKER_TEST_REDIS_URL=$FEDBROKER_TEST_REDIS_URL"
    echo "FEDBROKER_TEST_STS_ENDPOINT=$FEDBROKER_TEST_STS_ENDPOINT"
    # shellcheck source=/dev/null
    source "$RUN_DIR/redis-cluster.env"
    : "${FEDBROKER_TEST_REDIS_CLUSTER_URLS:?redis-cluster.env did not set FEDBROKER_TEST_REDIS_CLUSTER_URLS}"
    # shellcheck source=/dev/null
    source "$RUN_DIR/redis-topologies.env"
    : "${FEDBROKER_TEST_REDIS_TLS_URL:?redis-topologies.env did not set FEDBROKER_TEST_REDIS_TLS_URL}"
    : "${FEDBROKER_TEST_SENTINEL_URLS:?redis-topologies.env did not set FEDBROKER_TEST_SENTINEL_URLS}"
    : "${FEDBROKER_TEST_SENTINEL_MASTER:?redis-topologies.env did not set FEDBROKER_TEST_SENTINEL_MASTER}"
    # shellcheck source=/dev/null
    source "$RUN_DIR/oidc-idp.env"
    : "${FEDBROKER_TEST_OIDC_ISSUER:?oidc-idp.env did not set FEDBROKER_TEST_OIDC_ISSUER}"
    echo "FEDBROKER_TEST_OIDC_ISSUER=$FEDBROKER_TEST_OIDC_ISSUER"
}

failed=()

phase "cargo fmt --all -- --check"
cargo fmt --all -- --check || failed+=(fmt)

# Clippy runs inside the test build: cargo compiles this crate's targets with clippy-driver (as
# `cargo clippy` does, but producing the binaries too), so the lints cost a few seconds instead of
# a second compilation of every dependency (`cargo clippy` checks them in a mode whose artifacts
# a build cannot use: ~80 s of a cold run on 2 cores). Same lints, same targets (lib, lib tests,
# bins, tests/all, benches, examples), same clippy.toml and [lints], -D warnings; clippy-driver
# tracks CLIPPY_ARGS, so a change of them recompiles. Every cargo command below runs with these
# two variables, or it would rebuild the crate without them (so would a plain `cargo test` after
# this script: the wrapper is part of the build's fingerprint).
clippy_driver=$(command -v clippy-driver || true)
[[ -n $clippy_driver ]] || {
    echo "test.sh: clippy-driver not found (rustup component add clippy)" >&2
    exit 1
}
export RUSTC_WORKSPACE_WRAPPER=$clippy_driver
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
build_targets() { # with ARGS (a filtered run): only the test binaries
    cargo test --all-targets --no-run || return 1
    (($# > 0)) || cargo build --bin fedbroker --example sign_saml_response
}
phase "build + clippy -D warnings: the test binaries, the broker and the SAML signer the container demo runs"
if ! build_targets "$@"; then
    # A lint or a compile error. Build again with the lints as warnings: if that works, only
    # clippy failed and the tests still run.
    export CLIPPY_ARGS=""
    phase "build again with clippy's findings as warnings (so the tests can run)"
    if build_targets "$@"; then
        failed+=(clippy)
    else
        failed+=(build)
    fi
fi

# No `cargo test --doc`: the crate has no doc tests (`[lib] doctest = false` in Cargo.toml), and
# rustdoc would still parse the whole crate to find none.

if ((${#failed[@]})); then
    echo "test.sh: FAILED so far: ${failed[*]} (running the tests anyway)" >&2
fi

services_ready

if (($# == 0)); then
    # Beside the tests, at a lower priority (nice 10): the tests hold production timeouts (the
    # credential cache gives Redis 500 ms) and must not be starved; these two only need to be
    # done when the tests are. The container image from the binary the tests use, and the demo
    # against it (docs/OPERATIONS.md#container-image-build-in-the-test-command): ~15 s, ~70 s
    # the first time (the base image);
    phase "in the background: container image build + demo (scripts/container-demo.sh; log: .fedbroker-run/container-demo.log)"
    nice -n 10 bash scripts/container-demo.sh >"$RUN_DIR/container-demo.log" 2>&1 </dev/null &
    container_pid=$!
    # and the OpenAPI document against a live broker (the debug binary the tests use):
    # openapi-spec-validator, then a bounded schemathesis run (no 5xx, every answer as documented).
    # BIN names that binary: left to itself the script runs `cargo build --bin fedbroker`, which
    # resolves features without the dev-dependencies and so builds another broker binary (and
    # the dependencies whose features differ) over the one the tests and the container demo use.
    phase "in the background: openapi (scripts/check-openapi.sh; log: .fedbroker-run/check-openapi.log)"
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/fedbroker VENV=$ROOT/.venv \
        nice -n 10 bash scripts/check-openapi.sh >"$RUN_DIR/check-openapi.log" 2>&1 </dev/null &
    openapi_pid=$!
fi

# The integration tests mostly wait (servers, timeouts, failovers), so more test threads than
# cores shorten the run. No test takes a lock on another or changes a server another one uses
# (tests/all/main.rs), so the count is bounded only by the CPU: see
# docs/BENCHMARKS.md#the-test-command for the runs behind this number.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-6}
test_log=$RUN_DIR/cargo-test.log
set +e
phase "cargo test --all-targets $* (RUST_TEST_THREADS=$RUST_TEST_THREADS)"
cargo test --all-targets --no-fail-fast "$@" 2>&1 | tee "$test_log"
test_rc=${PIPESTATUS[0]}
if (($# == 0)); then
    # The one test that needs broker credentials in the process environment (tests never set
    # their own environment): signed AssumeRole through the SDK's default chain, without and with
    # a session token (role chaining). Test-only values; moto checks no signature.
    # Run by its exact name, alone in its process: no other test sees these variables, and no
    # other test can change what it reads.
    default_chain_test=sts::assume_role::default_chain_credentials_sign_assume_role
    for session_token in "" "fedbroker-test-session-token"; do
        phase "cargo test --test all $default_chain_test -- --ignored --exact (AWS_SESSION_TOKEN=${session_token:-unset})"
        AWS_ACCESS_KEY_ID=AKIAFEDBROKERTEST0001 AWS_SECRET_ACCESS_KEY=fedbroker-test-secret \
            AWS_SESSION_TOKEN=$session_token \
            cargo test --test all "$default_chain_test" -- --ignored --exact 2>&1 | tee -a "$test_log"
        ((PIPESTATUS[0] == 0)) || test_rc=1
    done
fi
set -e
((test_rc == 0)) || failed+=(test)

# wait_background NAME PID LOG: wait for a background check, print its log, record a failure.
wait_background() {
    local rc=0
    phase "$1: waiting for the background run"
    wait "$2" || rc=$?
    cat "$3"
    ((rc == 0)) || failed+=("$1")
}
if [[ -n $openapi_pid ]]; then
    wait_background openapi "$openapi_pid" "$RUN_DIR/check-openapi.log"
    openapi_pid=""
fi
if [[ -n $container_pid ]]; then
    wait_background container "$container_pid" "$RUN_DIR/container-demo.log"
    container_pid=""
fi

# Deploy files and shell scripts (run in the background after `setup.sh tools`).
phase "lint-deploy: its run in the background (log: .fedbroker-run/start-lint-deploy.log)"
cat "$RUN_DIR/start-lint-deploy.log" 2>/dev/null || true
if [[ $(cat "$RUN_DIR/lint-deploy.rc" 2>/dev/null) != 0 ]]; then
    echo "test.sh: lint-deploy failed or did not run (see above)" >&2
    failed+=(lint-deploy)
fi

# The closing line counts every test binary together (cargo prints one summary per binary, and
# the last binary, an example, has no tests of its own).
total_passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$test_log" | awk '{s+=$4} END {print s+0}')
total_failed=$(grep -Eo '[0-9]+ failed;' "$test_log" | awk '{s+=$1} END {print s+0}')

if ((${#failed[@]})); then
    # One line on stderr; the exit code carries the verdict.
    echo "test.sh: FAILED: ${failed[*]}" >&2
    echo "tests: ${total_passed} passed, ${total_failed} failed"
    exit 1
fi
echo "tests: ${total_passed} passed, ${total_failed} failed"
