#!/usr/bin/env bash
# Generate the TEST-ONLY SAML service-provider key pair of the broker ([saml] sp_key_file /
# sp_cert_file): it signs AuthnRequests (HTTP-Redirect binding) and is published in
# /saml/metadata for signing and encryption. Used by the browser end-to-end test and the unit tests
# of src/web/saml_sign.rs. Never trust these keys anywhere but in tests: they are committed.
#
#   scripts/gen-saml-sp-certs.sh           # create what is missing (keys are kept)
#   scripts/gen-saml-sp-certs.sh --force   # new keys and certificates
#
# Outputs:
#   certs/saml-sp.key / certs/saml-sp.crt               RSA-2048 (PKCS#8) + self-signed certificate
#   certs/saml-sp-rsa1024.key / certs/saml-sp-rsa1024.crt  RSA-1024: a key the broker must refuse
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CERTS="$ROOT/certs"
DAYS=3650
mkdir -p "$CERTS"

make_pair() { # name bits cn
  local key="$CERTS/$1.key" crt="$CERTS/$1.crt"
  if [[ "${FORCE:-0}" == 1 ]]; then rm -f "$key" "$crt"; fi
  if [[ ! -f "$key" ]]; then
    openssl genpkey -quiet -algorithm RSA -pkeyopt "rsa_keygen_bits:$2" -out "$key"
    rm -f "$crt"
  fi
  if [[ ! -f "$crt" ]]; then
    openssl req -new -x509 -key "$key" -out "$crt" -days "$DAYS" -sha256 \
      -subj "/O=fedbroker TEST ONLY/CN=$3" >/dev/null
  fi
  echo "wrote $key and $crt"
}

if [[ "${1:-}" == "--force" ]]; then FORCE=1; fi
make_pair saml-sp 2048 "fedbroker e2e SAML SP (AuthnRequest signing, encryption)"
make_pair saml-sp-rsa1024 1024 "fedbroker TOO SMALL SAML SP key (negative tests)"
