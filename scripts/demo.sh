#!/usr/bin/env bash
# End-to-end demo on local services: installs what it needs, starts Redis, moto (local STS) and a
# real OIDC IdP (npm oidc-provider over HTTPS), runs fedbroker, exchanges a SAML Response signed
# with the test IdP key and a workload JWT issued by the OIDC IdP for AWS temporary credentials,
# shows that replays are refused, and prints the OIDC issuer's IAM thumbprint. Test keys only.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Setting up (system packages, Python venv with moto) — skipped when already present"
bash scripts/setup.sh

step "Starting Redis and moto server on loopback"
bash scripts/services.sh start
broker_pid=""
cleanup() {
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true
  bash scripts/oidc-idp.sh stop >/dev/null 2>&1 || true
  bash scripts/services.sh stop || true
}
trap cleanup EXIT
# shellcheck disable=SC1091
. .fedbroker-run/services.env

step "Starting the test OIDC IdP (oidc-provider, HTTPS with the test CA)"
bash scripts/oidc-idp.sh start
# shellcheck disable=SC1091
. .fedbroker-run/oidc-idp.env

step "Building fedbroker and the test IdP signer"
cargo build --quiet --bin fedbroker --example sign_saml_response
target_dir="${CARGO_TARGET_DIR:-target}"
bin="$target_dir/debug/fedbroker"
signer="$target_dir/debug/examples/sign_saml_response"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cfg=.fedbroker-run/demo.toml
cat > "$cfg" <<TOML
[server]
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"

[aws]
region = "us-east-1"
sts_endpoint = "$FEDBROKER_TEST_STS_ENDPOINT"

[cache]
redis_url = "$FEDBROKER_TEST_REDIS_URL"
key_prefix = "fedbroker-demo-$$:"
encryption_keys = ["demo:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]

[log]
format = "text"

[[saml.idps]]
name = "test-idp"
metadata_file = "config/test-idp-metadata.xml"

[[oidc.providers]]
name = "testidp"
issuer = "$FEDBROKER_TEST_OIDC_ISSUER"
audiences = ["sts.amazonaws.com"]
ca_file = "$FEDBROKER_TEST_OIDC_CA"
TOML

step "Checking the configuration"
"$bin" check-config --config "$cfg"

step "Starting fedbroker on 127.0.0.1:$port (log: .fedbroker-run/demo-broker.log)"
"$bin" serve --config "$cfg" 2> .fedbroker-run/demo-broker.log &
broker_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz"; echo

step "Signing a SAML Response with the test IdP key (certs/test-idp.key)"
saml="$("$signer")"
echo "SAMLResponse: ${#saml} base64 characters"

step "POST /v1/saml/credentials"
curl -sS -X POST --data-urlencode "SAMLResponse=$saml" \
  "http://127.0.0.1:$port/v1/saml/credentials" -o .fedbroker-run/demo-credentials.json -w 'HTTP %{http_code}\n'
python3 -m json.tool .fedbroker-run/demo-credentials.json
python3 - <<'PY'
import json, sys
c = json.load(open(".fedbroker-run/demo-credentials.json"))
ok = c.get("Version") == 1 and c.get("AccessKeyId", "").startswith("ASIA") and c.get("SessionToken")
print("\ncredentials obtained from moto STS:", "yes" if ok else "NO")
sys.exit(0 if ok else 1)
PY

step "Replaying the same assertion (must be refused)"
curl -sS -X POST --data-urlencode "SAMLResponse=$saml" \
  "http://127.0.0.1:$port/v1/saml/credentials" -w '\nHTTP %{http_code}\n'

step "Getting a workload JWT from the OIDC IdP (client_credentials, like a CI job token)"
token="$(bash scripts/oidc-token.sh)"
echo "token: ${#token} characters, claims:"
bash scripts/oidc-token.sh --decode 2>/dev/null | tail -n +1 | head -30 || true

step "POST /v1/web-identity/credentials"
printf '{"token":"%s","role_arn":"arn:aws:iam::111122223333:role/CiDeploy","duration_seconds":900}' "$token" |
  curl -sS -X POST -H 'content-type: application/json' --data-binary @- \
    "http://127.0.0.1:$port/v1/web-identity/credentials" -o .fedbroker-run/demo-web-credentials.json -w 'HTTP %{http_code}\n'
python3 -m json.tool .fedbroker-run/demo-web-credentials.json
python3 - <<'PY'
import json, sys
c = json.load(open(".fedbroker-run/demo-web-credentials.json"))
ok = c.get("Version") == 1 and c.get("AccessKeyId", "").startswith("ASIA") and c.get("SessionToken")
print("\ncredentials obtained from moto STS for the workload token:", "yes" if ok else "NO")
sys.exit(0 if ok else 1)
PY

step "Replaying the same token (must be refused)"
curl -sS -X POST -H "authorization: Bearer $token" -H 'content-type: application/json' \
  --data '{"role_arn":"arn:aws:iam::111122223333:role/CiDeploy"}' \
  "http://127.0.0.1:$port/v1/web-identity/credentials" -w '\nHTTP %{http_code}\n'

step "IAM thumbprint of the OIDC issuer (SHA-1 of the last certificate its jwks_uri host serves)"
"$bin" thumbprint "$FEDBROKER_TEST_OIDC_ISSUER" --ca-file "$FEDBROKER_TEST_OIDC_CA"
echo "openssl says: $(openssl x509 -in "$FEDBROKER_TEST_OIDC_CA" -fingerprint -sha1 -noout | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f') (the test CA, last in the served chain)"

step "Demo finished"
