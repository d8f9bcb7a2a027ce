#!/usr/bin/env bash
# Print a client_credentials JWT (aud sts.amazonaws.com) from the running test OIDC IdP.
#   scripts/oidc-token.sh [--decode] [--resource URI]     (see testidp/token.mjs)
# Uses .fedbroker-run/oidc-idp.env (written by scripts/oidc-idp.sh start) unless
# FEDBROKER_TEST_OIDC_ISSUER is already set.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${FEDBROKER_TEST_OIDC_ISSUER:-}" ]; then
  [ -f "$ROOT/.fedbroker-run/oidc-idp.env" ] \
    || { echo "oidc-token: the test IdP is not running: scripts/oidc-idp.sh start" >&2; exit 1; }
  # shellcheck disable=SC1091
  . "$ROOT/.fedbroker-run/oidc-idp.env"
fi
exec node "$ROOT/testidp/token.mjs" "$@"
