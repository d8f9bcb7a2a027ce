#!/usr/bin/env bash
# Build the container image (deploy/Dockerfile.prebuilt) from the fedbroker binary cargo already
# built, run the image, and run the demo against it: readiness, /metrics on the metrics port only,
# a signed SAML Response exchanged for credentials through moto (STS) with Redis, the replay
# refused, and both counted in /metrics. Test keys only. Exit non-zero on any failure.
#
#   scripts/container-demo.sh          (after `cargo build --bin fedbroker --example sign_saml_response`
#                                       and `scripts/services.sh start`; scripts/test.sh does both)
#
# Environment: FEDBROKER_BIN (default $CARGO_TARGET_DIR/debug/fedbroker), SIGN_SAML_RESPONSE
# (default the sign_saml_response example beside it).
#
# How, on a machine like CI's (see docs/OPERATIONS.md#container-image-build-in-the-test-command):
# - buildah, with the vfs storage driver and chroot isolation: no overlay mounts, no OCI runtime.
#   `podman run` (crun) cannot start a container here (cgroups in hybrid mode are refused), so the
#   image runs with `buildah run --isolation chroot --network host`: the image's filesystem, user
#   (10001) and entrypoint binary, on the host's network;
# - no container registry is reachable, so the base image debian:bookworm-slim is made once with
#   debootstrap from the machine's own Debian mirror (its apt sources) and kept in local storage;
# - the image takes the already built binary (deploy/Dockerfile.prebuilt): a cold release build
#   inside the image build (deploy/Dockerfile) would take longer than the rest of CI. The test
#   build is a debug binary; release images are built the same way from target/release.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
RUN_DIR=$ROOT/.fedbroker-run
STORE=(--storage-driver vfs)
BASE_IMAGE=docker.io/library/debian:bookworm-slim
IMAGE=localhost/fedbroker:demo
target_dir=${CARGO_TARGET_DIR:-target}
BIN=${FEDBROKER_BIN:-$target_dir/debug/fedbroker}
SIGNER=${SIGN_SAML_RESPONSE:-$target_dir/debug/examples/sign_saml_response}

step() { printf '\n==> [container +%ss] %s\n' "$SECONDS" "$*"; }
die() {
    echo "container-demo: $*" >&2
    exit 1
}

for tool in buildah debootstrap curl python3 strip; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/setup.sh installs buildah and debootstrap)"
done
[[ -x $BIN ]] || die "no fedbroker binary at $BIN: cargo build --bin fedbroker first"
if [[ ! -x $SIGNER && -z ${SIGN_SAML_RESPONSE:-} ]]; then
    # `cargo test --all-targets` builds examples as test binaries only: build the runnable one.
    cargo build --quiet --bin fedbroker --example sign_saml_response
fi
[[ -x $SIGNER ]] || die "no SAML signer at $SIGNER: cargo build --example sign_saml_response first"
[[ -f $RUN_DIR/services.env ]] || die "$RUN_DIR/services.env is missing: scripts/services.sh start first"
# shellcheck source=/dev/null
source "$RUN_DIR/services.env"
: "${FEDBROKER_TEST_REDIS_URL:?services.env did not set FEDBROKER_TEST_REDIS_URL}"
: "${FEDBROKER_TEST_STS_ENDPOINT:?services.env did not set FEDBROKER_TEST_STS_ENDPOINT}"

work=$(mktemp -d)
ctr=""
run_pid=""
cleanup() {
    if [[ -n $run_pid ]]; then
        kill "$run_pid" 2>/dev/null || true
        wait "$run_pid" 2>/dev/null || true
    fi
    [[ -n $ctr ]] && buildah "${STORE[@]}" rm "$ctr" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# --- base image ---------------------------------------------------------------------------------
if ! buildah "${STORE[@]}" inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    mirror=$(awk '$1 == "URIs:" { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [[ -z $mirror ]]; then
        mirror=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
    fi
    [[ -n $mirror ]] || die "no Debian mirror in the apt sources to build the base image from"
    step "base image $BASE_IMAGE: debootstrap --variant=minbase bookworm (once; kept in local storage)"
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log"; die "debootstrap failed"; }
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
    rm -rf "$work/rootfs"
    base=$(buildah "${STORE[@]}" from scratch)
    buildah "${STORE[@]}" add "$base" "$work/rootfs.tar" / >/dev/null
    buildah "${STORE[@]}" config --cmd /bin/bash "$base"
    buildah "${STORE[@]}" commit --quiet --rm "$base" "$BASE_IMAGE" >/dev/null
    rm -f "$work/rootfs.tar"
fi

# --- image --------------------------------------------------------------------------------------
step "buildah bud -f deploy/Dockerfile.prebuilt -t $IMAGE (binary: $BIN)"
mkdir -p "$work/ctx"
# Without its symbol and debug sections (120 MB → 56 MB for the debug build): the same code, and
# the image build copies and hashes it several times (vfs stores every layer as a full copy), which
# took 65 s instead of 20 s beside the tests.
strip -o "$work/ctx/fedbroker" "$BIN"
cp deploy/fedbroker.toml "$work/ctx/fedbroker.toml"
buildah "${STORE[@]}" rmi -f "$IMAGE" >/dev/null 2>&1 || true
# docker format: OCI images have no HEALTHCHECK.
buildah "${STORE[@]}" bud --quiet --isolation chroot --pull-never --layers=false --format docker \
    -f deploy/Dockerfile.prebuilt -t "$IMAGE" "$work/ctx" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log"; die "the image build failed"; }
buildah "${STORE[@]}" rmi --prune >/dev/null 2>&1 || true
user=$(buildah "${STORE[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$IMAGE")
[[ $user == 10001:10001 ]] || die "image user is '$user', expected 10001:10001"
echo "image $IMAGE built (user $user)"

# --- run ----------------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
metrics_port=$(free_port)
mkdir -p "$work/etc"
cp config/test-idp-metadata.xml "$work/etc/test-idp-metadata.xml"
cat >"$work/etc/fedbroker.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"
metrics_listen = "127.0.0.1:$metrics_port"
workers = 2

[aws]
region = "us-east-1"
sts_endpoint = "$FEDBROKER_TEST_STS_ENDPOINT"

[cache]
redis_url = "$FEDBROKER_TEST_REDIS_URL"
key_prefix = "fedbroker-container-$$:"
# Test-only key: with Redis every shared store uses it, so the cache key is required.
encryption_keys = ["test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]

[log]
format = "json"

[[saml.idps]]
name = "test-idp"
metadata_file = "/etc/fedbroker/test-idp-metadata.xml"
TOML
chmod -R a+rX "$work/etc"

step "running $IMAGE (buildah run --isolation chroot --network host) on 127.0.0.1:$port, metrics :$metrics_port"
# A fixed name: a container left by an interrupted run is removed first.
buildah "${STORE[@]}" rm fedbroker-demo >/dev/null 2>&1 || true
ctr=$(buildah "${STORE[@]}" from --name fedbroker-demo --pull-never --quiet "$IMAGE")
log=$RUN_DIR/container-broker.log
audit=$RUN_DIR/container-audit.log
# The image's binary and user; /etc/fedbroker replaced by the demo config. Logs: stderr; the
# audit records: stdout.
buildah "${STORE[@]}" run --isolation chroot --network host --user 10001:10001 \
    -v "$work/etc:/etc/fedbroker:ro" "$ctr" -- \
    /usr/local/bin/fedbroker serve --config /etc/fedbroker/fedbroker.toml >"$audit" 2>"$log" &
run_pid=$!
for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$run_pid" 2>/dev/null || { cat "$log"; die "the container exited before it was ready"; }
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/readyz" || { cat "$log"; die "not ready after 30 s"; }
echo

fail=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    if [[ $2 == "$3" ]]; then
        echo "ok   $1"
    else
        echo "FAIL $1: expected $2, got $3"
        fail=1
    fi
}
code() { curl -sS -o /dev/null -w '%{http_code}' "$@"; }
post_saml() { # post_saml BODY_FILE -> status
    curl -sS -o "$1" -w '%{http_code}' -X POST --data-urlencode "SAMLResponse=$saml" \
        "http://127.0.0.1:$port/v1/saml/credentials"
}

step "metrics listener"
check "GET /metrics on the metrics port" 200 "$(code "http://127.0.0.1:$metrics_port/metrics")"
check "GET /metrics on the public port (metrics_listen set)" 404 "$(code "http://127.0.0.1:$port/metrics")"
check "GET /healthz on the metrics port (only /metrics there)" 404 "$(code "http://127.0.0.1:$metrics_port/healthz")"

step "SAML Response (test IdP key) exchanged for credentials"
saml=$("$SIGNER")
body=$work/credentials.json
check "POST /v1/saml/credentials" 200 "$(post_saml "$body")"
python3 - "$body" <<'PY' || fail=1
import json, sys
c = json.load(open(sys.argv[1]))
ok = c.get("Version") == 1 and c.get("AccessKeyId", "").startswith("ASIA") and c.get("SessionToken")
print("ok   temporary credentials from moto STS" if ok else f"FAIL no credentials in {sorted(c)}")
sys.exit(0 if ok else 1)
PY
check "the same assertion again (replay)" 401 "$(post_saml "$work/replay.json")"
if grep -q '"saml_replay"' "$work/replay.json"; then
    echo "ok   refused with saml_replay"
else
    echo "FAIL the replay's answer: $(cat "$work/replay.json")"
    fail=1
fi

step "both counted in /metrics"
metrics=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics")
for series in 'fedbroker_credentials_issued_total{protocol="saml"' \
    'fedbroker_credential_refusals_total{route="saml",code="saml_replay"}' \
    'fedbroker_sts_call_duration_seconds_count{operation="AssumeRoleWithSAML"}'; do
    if grep -qF "$series" <<<"$metrics"; then
        echo "ok   $series"
    else
        echo "FAIL $series not in /metrics"
        fail=1
    fi
done

if ((fail)); then
    echo "--- broker log"
    cat "$log"
    die "FAILED"
fi
step "container demo passed"
