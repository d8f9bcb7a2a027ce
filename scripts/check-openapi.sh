#!/usr/bin/env bash
# Check the broker's OpenAPI document against a live broker:
#   1. start the debug broker on a spare loopback port with a test configuration (moto as STS and
#      Redis from .fedbroker-run/services.env, the test OIDC IdP from .fedbroker-run/oidc-idp.env;
#      a SAML IdP, issuer mode and an admin token, so that those routes answer for real);
#   2. fetch GET /openapi.json and validate it with openapi-spec-validator (OpenAPI 3.1);
#   3. run schemathesis against the broker, bounded (a fixed number of examples per operation,
#      a fixed seed, and a time limit well under 2 minutes), with the checks
#      not_a_server_error, status_code_conformance, content_type_conformance,
#      response_schema_conformance and response_headers_conformance: no answer is a 5xx, every
#      status, content type, body and documented header is one the document describes;
#   4. print every 5xx the run met (method, URL, status, the start of the body), from the HAR
#      report, and the broker's error log lines.
#
#   scripts/check-openapi.sh           needs `scripts/services.sh start` and
#                                      `scripts/oidc-idp.sh start` first (scripts/test.sh runs it
#                                      as its "openapi" phase)
#
# Environment: VENV (default .venv: openapi-spec-validator and schemathesis from
# scripts/requirements-test.txt), BIN (a broker binary; default: `cargo build --bin fedbroker`,
# a no-op when up to date, and the debug binary), OPENAPI_EXAMPLES (default 30 per operation),
# OPENAPI_MAX_SECONDS (default 100: the run is stopped, and fails, past that).
#
# No operation is excluded. Redirects are never followed (--max-redirects 0): the sign-in routes
# redirect to the configured IdP's address, which is no host of this machine; the redirect
# itself (302/303 with Location) is what is checked.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
RUN=$ROOT/.fedbroker-run/openapi
VENV=${VENV:-$ROOT/.venv}
EXAMPLES=${OPENAPI_EXAMPLES:-30}
MAX_SECONDS=${OPENAPI_MAX_SECONDS:-100}

fail() { echo "check-openapi: $*" >&2; exit 1; }

for tool in openapi-spec-validator schemathesis; do
    [[ -x $VENV/bin/$tool ]] || fail "$VENV/bin/$tool is missing: run scripts/setup.sh (scripts/requirements-test.txt)"
done
[[ -f .fedbroker-run/services.env ]] || fail "no .fedbroker-run/services.env: run scripts/services.sh start first"
[[ -f .fedbroker-run/oidc-idp.env ]] || fail "no .fedbroker-run/oidc-idp.env: run scripts/oidc-idp.sh start first"
# shellcheck source=/dev/null
source .fedbroker-run/services.env
# shellcheck source=/dev/null
source .fedbroker-run/oidc-idp.env
: "${FEDBROKER_TEST_OIDC_ISSUER:?oidc-idp.env did not set FEDBROKER_TEST_OIDC_ISSUER}"
: "${FEDBROKER_TEST_STS_ENDPOINT:?services.env did not set FEDBROKER_TEST_STS_ENDPOINT}"
: "${FEDBROKER_TEST_REDIS_URL:?services.env did not set FEDBROKER_TEST_REDIS_URL}"
if [[ -z ${BIN:-} ]]; then
    cargo build --quiet --bin fedbroker
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/fedbroker
fi

rm -rf "$RUN"
mkdir -p "$RUN"
broker_pid=""
# shellcheck disable=SC2329  # run by the EXIT trap
stop_broker() {
    if [[ -n $broker_pid ]]; then
        kill "$broker_pid" 2>/dev/null || true
    fi
}
trap stop_broker EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
# A test-only admin token (32+ characters), so that the admin routes are enabled: without the
# token they answer 401, with it schemathesis may not guess it.
printf 'openapi-check-admin-token-%s\n' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$RUN/admin-token"
chmod 600 "$RUN/admin-token"
cat >"$RUN/broker.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
public_url = "$url"
admin_token_file = "$RUN/admin-token"
[aws]
region = "us-east-1"
sts_endpoint = "$FEDBROKER_TEST_STS_ENDPOINT"
# Nothing listens there: no request of this check may leave the machine (the console sign-in
# would otherwise call AWS's federation endpoint).
federation_endpoint = "http://127.0.0.1:9/federation"
[cache]
redis_url = "$FEDBROKER_TEST_REDIS_URL"
key_prefix = "fedbroker-openapi-$$:"
# Test-only key: with Redis every shared store uses it, so the cache key is required.
encryption_keys = ["test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]
[log]
level = "warn"
[audit]
sink = "off"
[limits]
per_client_per_minute = 0
per_subject_per_minute = 0
[saml]
sp_key_file = "certs/saml-sp.key"
sp_cert_file = "certs/saml-sp.crt"
[[saml.idps]]
name = "test-idp"
metadata_file = "config/test-idp-metadata.xml"
[[oidc.providers]]
name = "testidp"
issuer = "$FEDBROKER_TEST_OIDC_ISSUER"
audiences = ["sts.amazonaws.com"]
ca_file = "$FEDBROKER_TEST_OIDC_CA"
[issuer]
enabled = true
issuer_url = "https://broker.example.com"
[[issuer.keys]]
kid = "demo-rsa-1"
file = "certs/issuer-rsa-1.key"
alg = "RS256"
active = true
EOF

"$BIN" check-config --config "$RUN/broker.toml" >"$RUN/check-config.log" 2>&1 ||
    { cat "$RUN/check-config.log" >&2; fail "the test configuration does not load"; }
"$BIN" serve --config "$RUN/broker.toml" 2>"$RUN/broker.log" &
broker_pid=$!
for _ in $(seq 300); do
    curl -fsS -o /dev/null "$url/healthz" 2>/dev/null && break
    kill -0 "$broker_pid" 2>/dev/null || { cat "$RUN/broker.log" >&2; fail "the broker exited"; }
    sleep 0.1
done
curl -fsS -o "$RUN/openapi.json" "$url/openapi.json" || fail "GET /openapi.json failed"
echo "check-openapi: GET /openapi.json: $(wc -c <"$RUN/openapi.json") bytes, $(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(1 for p in d["paths"].values() for m in p if m in ("get","post","put","delete","patch")), "operations, OpenAPI", d["openapi"])
' "$RUN/openapi.json")"

"$VENV/bin/openapi-spec-validator" "$RUN/openapi.json"

# The document is public: it describes routes, never this broker's configuration.
for secret_or_config in "$(cat "$RUN/admin-token")" test-idp testidp "$FEDBROKER_TEST_OIDC_ISSUER" \
    broker.example.com demo-rsa-1 "$FEDBROKER_TEST_REDIS_URL" "$FEDBROKER_TEST_STS_ENDPOINT"; do
    if grep -qF -- "$secret_or_config" "$RUN/openapi.json"; then
        fail "GET /openapi.json reveals the configuration ($secret_or_config)"
    fi
done

# Credentials for the operations that declare them, so that their successful answers are checked
# too, not only the refusals: the admin token for admin_bearer, a workload token of the test IdP
# for workload_bearer and container_authorization (only those operations get them). Half the
# SAML sign-ins name the configured IdP (its redirect is checked), and half the role ARNs sent
# to the credential and explain operations name a role (moto grants any), so that credential
# answers are met as well as refusals. Not to /v1/console-url: with credentials it would call the
# federation endpoint, which is nowhere here (a 503); nor to the admin revocation, whose blocks
# would turn every later credential request for that role into 403 access_revoked.
token=$(bash scripts/oidc-token.sh) || fail "scripts/oidc-token.sh gave no workload token"
cat >"$RUN/schemathesis.toml" <<EOF
[auth.openapi.admin_bearer]
bearer = "$(cat "$RUN/admin-token")"

[auth.openapi.workload_bearer]
bearer = "$token"

[auth.openapi.container_authorization]
api_key = "$token"

[dictionaries.saml_idps]
values = ["test-idp"]

[dictionaries.roles]
values = ["arn:aws:iam::123456789012:role/openapi-check"]

[parameters]
"query.idp" = { dictionary = "saml_idps", probability = 0.5 }

[[operations]]
include-operation-id-regex = "^(containerCredentials|webIdentityCredentials|explain)$"
parameters = { "query.role_arn" = { dictionary = "roles", probability = 0.5 }, "body.role_arn" = { dictionary = "roles", probability = 0.5 } }
EOF

rc=0
start=$SECONDS
# Run from the run folder: schemathesis keeps a .schemathesis/ folder in its working directory.
(cd "$RUN" && timeout --signal=INT "$MAX_SECONDS" "$VENV/bin/schemathesis" --config-file "$RUN/schemathesis.toml" run \
    "$RUN/openapi.json" \
    --url "$url" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-examples "$EXAMPLES" \
    --seed "${OPENAPI_SEED:-20260415}" \
    --workers 2 \
    --max-redirects 0 \
    --request-timeout 10 \
    --generation-database none \
    --no-color \
    --report har,junit \
    --report-dir "$RUN/report") || rc=$?
echo "check-openapi: schemathesis took $((SECONDS - start)) s (exit $rc)"

# Every 5xx of the run, from the HAR report (the check above fails on them too; this says where).
python3 - "$RUN/report" <<'PY' || rc=1
import glob, json, sys
found = 0
hars = glob.glob(sys.argv[1] + "/har-*.json")
if not hars:
    print("check-openapi: schemathesis wrote no HAR report")
    sys.exit(1)
for path in hars:
    for e in json.load(open(path))["log"]["entries"]:
        status = e["response"]["status"]
        if status >= 500:
            found += 1
            text = (e["response"].get("content") or {}).get("text") or ""
            print(f"check-openapi: 5xx: {e['request']['method']} {e['request']['url']} -> {status} {text[:200]!r}")
print(f"check-openapi: {found} answers were 5xx")
sys.exit(1 if found else 0)
PY
# The broker's own error lines (actix-http's refusals of unparsable requests are not ours).
if grep '"level":"ERROR"' "$RUN/broker.log" | grep -q '"target":"fedbroker'; then
    echo "check-openapi: the broker logged errors:" >&2
    grep '"level":"ERROR"' "$RUN/broker.log" | grep '"target":"fedbroker' | head -20 >&2
fi
exit "$rc"
