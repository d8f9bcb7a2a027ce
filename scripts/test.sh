#!/usr/bin/env bash
# THE test command: everything CI checks, runnable on a developer machine.
#
#   scripts/test.sh [ARGS...]        ARGS go to `cargo test --all-targets`, e.g. `saml -- --nocapture`
#
# Phases: setup (scripts/setup.sh) → services (scripts/services.sh start: Redis + moto server
# on loopback; always stopped again on exit) → scripts/lint-deploy.sh → cargo fmt --check →
# cargo clippy -D warnings → cargo test --doc (only without ARGS) → cargo test --all-targets →
# scripts/check-openapi.sh (the OpenAPI document against a live broker) → the container image
# built and the demo run against it (only without ARGS).
# All checks run even when an earlier one fails, so one run shows every problem; the exit code
# is non-zero if any failed. The closing line counts every test binary's results.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
RUN_DIR=$ROOT/.fedbroker-run

phase() { printf '\n==> [%s +%ss] %s\n' "$(date -u +%H:%M:%SZ)" "$SECONDS" "$*"; }

export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

phase "setup"
bash scripts/setup.sh

[[ -f scripts/services.sh ]] || {
    echo "test.sh: scripts/services.sh is missing; it starts Redis and moto for the tests" >&2
    exit 1
}

services_started=0
stop_services() {
    local rc=$?
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

phase "services start"
services_started=1
bash scripts/services.sh start
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

phase "Redis Cluster start (3 local nodes, for the credential-cache conformance suite)"
bash scripts/redis-cluster.sh start
# shellcheck source=/dev/null
source "$RUN_DIR/redis-cluster.env"
: "${FEDBROKER_TEST_REDIS_CLUSTER_URLS:?redis-cluster.env did not set FEDBROKER_TEST_REDIS_CLUSTER_URLS}"

phase "Redis topologies start (TLS with client certificates, password, Sentinel group)"
bash scripts/redis-topologies.sh start
# shellcheck source=/dev/null
source "$RUN_DIR/redis-topologies.env"
: "${FEDBROKER_TEST_REDIS_TLS_URL:?redis-topologies.env did not set FEDBROKER_TEST_REDIS_TLS_URL}"
: "${FEDBROKER_TEST_SENTINEL_URLS:?redis-topologies.env did not set FEDBROKER_TEST_SENTINEL_URLS}"
: "${FEDBROKER_TEST_SENTINEL_MASTER:?redis-topologies.env did not set FEDBROKER_TEST_SENTINEL_MASTER}"

phase "test OIDC IdP start (oidc-provider over HTTPS on loopback)"
bash scripts/oidc-idp.sh start
# shellcheck source=/dev/null
source "$RUN_DIR/oidc-idp.env"
: "${FEDBROKER_TEST_OIDC_ISSUER:?oidc-idp.env did not set FEDBROKER_TEST_OIDC_ISSUER}"
echo "FEDBROKER_TEST_OIDC_ISSUER=$FEDBROKER_TEST_OIDC_ISSUER"

failed=()

# Deploy files and shell scripts: ~3 s once the linters are in .venv (~10 s to install them).
phase "lint-deploy"
bash scripts/lint-deploy.sh || failed+=(lint-deploy)

phase "cargo fmt --all -- --check"
cargo fmt --all -- --check || failed+=(fmt)

phase "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings || failed+=(clippy)

if (($# == 0)); then
    # --all-targets leaves doc tests out; run them separately (skipped when filtering tests).
    phase "cargo test --doc"
    cargo test --doc || failed+=(doctest)
fi

if ((${#failed[@]})); then
    echo "test.sh: FAILED so far: ${failed[*]} (running the tests anyway)" >&2
fi

phase "cargo test --all-targets $*"
mkdir -p .fedbroker-run
test_log=.fedbroker-run/cargo-test.log
set +e
cargo test --all-targets --no-fail-fast "$@" 2>&1 | tee "$test_log"
test_rc=${PIPESTATUS[0]}
if (($# == 0)); then
    # The one test that needs broker credentials in the process environment (tests never set
    # their own environment): signed AssumeRole through the SDK's default chain, without and with
    # a session token (role chaining). Test-only values; moto checks no signature.
    for session_token in "" "fedbroker-test-session-token"; do
        phase "cargo test --test sts_assume_role -- --ignored (AWS_SESSION_TOKEN=${session_token:-unset})"
        AWS_ACCESS_KEY_ID=AKIAFEDBROKERTEST0001 AWS_SECRET_ACCESS_KEY=fedbroker-test-secret \
            AWS_SESSION_TOKEN=$session_token \
            cargo test --test sts_assume_role -- --ignored 2>&1 | tee -a "$test_log"
        ((PIPESTATUS[0] == 0)) || test_rc=1
    done
fi
set -e
((test_rc == 0)) || failed+=(test)

# The OpenAPI document against a live broker (the debug binary the tests just built):
# openapi-spec-validator, then a bounded schemathesis run (no 5xx, every answer as documented).
phase "openapi (scripts/check-openapi.sh)"
VENV=$ROOT/.venv bash scripts/check-openapi.sh || failed+=(openapi)

if (($# == 0)); then
    # The container image from the binary the tests just used, and the demo against it
    # (docs/OPERATIONS.md#container-image-build-in-the-test-command): ~40 s, ~2 min the first time.
    phase "container image build + demo (scripts/container-demo.sh)"
    bash scripts/container-demo.sh || failed+=(container)
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
