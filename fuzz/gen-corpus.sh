#!/usr/bin/env bash
# Regenerate the committed fuzz seeds and fuzz/fixtures/jwks.json with examples/fuzz_seeds.rs
# (test keys from certs/, Wycheproof vectors from tests/data/wycheproof/).
#
#   fuzz/gen-corpus.sh
#
# Generated seeds (valid-*, reject-*, wycheproof-*) are deleted first so renamed or dropped
# cases do not linger; other files under fuzz/corpus/ (inputs kept from fuzzer runs) stay.
# Rerun after scripts/gen-certs.sh --force: the signed SAML seeds are only valid for the test IdP
# key in config/test-idp-metadata.xml (tests/all/fuzz_corpus.rs fails otherwise).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -d fuzz/corpus ]]; then
    find fuzz/corpus -type f \( -name 'valid-*' -o -name 'reject-*' -o -name 'wycheproof-*' \) -delete
fi
cargo run -q --example fuzz_seeds -- fuzz
echo "seed bytes: $(find fuzz/corpus fuzz/fixtures -type f -exec cat {} + | wc -c)"
