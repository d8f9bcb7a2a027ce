#!/usr/bin/env bash
# Generate the TEST-ONLY TLS chain used by the thumbprint tests (tests/all/thumbprint/mod.rs):
#
#   root CA (self-signed) → intermediate CA → leaf for localhost / 127.0.0.1 / ::1
#
# Outputs (certs/chain-*; PEM, keys PKCS#8 P-256):
#   chain-root.crt/.key           the root CA (tests pass it as --ca-file)
#   chain-intermediate.crt/.key   the intermediate CA (pathlen 0)
#   chain-leaf.crt/.key           the server certificate (serverAuth, SAN localhost, 127.0.0.1, ::1)
#   chain-full.pem                leaf + intermediate + root, as a server that sends its root serves it
#   chain-partial.pem             leaf + intermediate: the last certificate is the "top intermediate CA"
#
#   scripts/gen-tls-chain.sh           # create missing keys/certificates, rewrite the bundles
#   scripts/gen-tls-chain.sh --force   # new keys and certificates
#
# Idempotent: existing keys and certificates are kept (the tests compare against `openssl x509
# -fingerprint` of the files at run time, so nothing else needs to change after --force).
# Never use these keys for anything real: they are committed on purpose.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CERTS="$ROOT/certs"
# Validity in days: long enough that committed fixtures do not expire under the tests.
CA_DAYS=9125
LEAF_DAYS=7300
ORG="/O=fedbroker TEST ONLY"

mkdir -p "$CERTS"
if [[ "${1:-}" == "--force" ]]; then
  rm -f "$CERTS"/chain-*
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

cat >"$TMP/req.cnf" <<'CNF'
[req]
distinguished_name = dn
[dn]

[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF

# new_key NAME — a P-256 key (PKCS#8 PEM), only if missing.
new_key() {
  [[ -f "$CERTS/$1.key" ]] || openssl genpkey -quiet -algorithm EC \
    -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/$1.key"
}

# Root CA: self-signed. A new root invalidates everything below it.
new_key chain-root
if [[ ! -f "$CERTS/chain-root.crt" ]]; then
  openssl req -new -x509 -sha256 -days "$CA_DAYS" -key "$CERTS/chain-root.key" \
    -subj "$ORG/CN=fedbroker test root CA" \
    -config "$TMP/req.cnf" -extensions root -out "$CERTS/chain-root.crt"
  rm -f "$CERTS/chain-intermediate.crt" "$CERTS/chain-leaf.crt"
fi

# sign NAME ISSUER EXTENSION SUBJECT DAYS — a certificate for NAME's key signed by ISSUER, only if
# missing.
sign() {
  local name="$1" issuer="$2" ext="$3" subj="$4" days="$5"
  new_key "$name"
  [[ -f "$CERTS/$name.crt" ]] && return 0
  openssl req -new -key "$CERTS/$name.key" -subj "$subj" -config "$TMP/req.cnf" \
    -out "$TMP/$name.csr"
  openssl x509 -req -sha256 -days "$days" -in "$TMP/$name.csr" \
    -CA "$CERTS/$issuer.crt" -CAkey "$CERTS/$issuer.key" \
    -set_serial "0x$(openssl rand -hex 16)" \
    -extfile "$TMP/req.cnf" -extensions "$ext" -out "$CERTS/$name.crt" 2>/dev/null
}

if [[ ! -f "$CERTS/chain-intermediate.crt" ]]; then
  rm -f "$CERTS/chain-leaf.crt"
fi
sign chain-intermediate chain-root intermediate "$ORG/CN=fedbroker test intermediate CA" "$CA_DAYS"
sign chain-leaf chain-intermediate leaf "$ORG/CN=localhost" "$LEAF_DAYS"

cat "$CERTS/chain-leaf.crt" "$CERTS/chain-intermediate.crt" "$CERTS/chain-root.crt" \
  >"$CERTS/chain-full.pem"
cat "$CERTS/chain-leaf.crt" "$CERTS/chain-intermediate.crt" >"$CERTS/chain-partial.pem"

openssl verify -CAfile "$CERTS/chain-root.crt" -untrusted "$CERTS/chain-intermediate.crt" \
  "$CERTS/chain-leaf.crt" >/dev/null
echo "TLS test chain in $CERTS/chain-* (root → intermediate → leaf for localhost)"
