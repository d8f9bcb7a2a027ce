#!/usr/bin/env bash
# fedbroker against its peers, in the same run and on the same inputs, one verifier at a time,
# each pinned to one CPU (taskset) so "per core" is literal:
#   SAML Response (signed Assertion, RSA-2048, RSA-SHA256):
#       fedbroker SamlValidator::validate · python3-saml is_valid · @node-saml/node-saml
#   RS256 JWT with a cached JWKS (RSA-2048):
#       fedbroker OidcValidator::validate · npm jose jwtVerify · PyJWT jwt.decode
#
#   scripts/bench-peers.sh [SECONDS] [ROUNDS]      (defaults: 5 s measured after 1 s warm-up; 1)
#
# Env: BENCH_CPU (CPU to pin to, default 1), WARMUP (seconds, default 1), CARGO_TARGET_DIR.
# Installs what is missing (idempotent): .venv-peers from bench/peers/requirements.txt (lxml and
# xmlsec built from source against the system libxml2), bench/peers/node_modules (npm ci). Inputs
# (fresh keys, one SAML Response, one JWT) come from examples/peer_inputs.rs; each harness first
# asserts that the valid input verifies and that a tampered one and a wrong audience are refused.
# Each harness reports verifications per wall second and per CPU-second of its own process; the
# ratio and the performance targets use the CPU figure (what one core sustains, steadier when other
# jobs share the machine). With ROUNDS > 1 the verifiers run in turn ROUNDS times and the median
# of each is reported.
# Prints one table and writes it to .fedbroker-run/bench/peers.txt. What each side checks:
# docs/BENCHMARKS.md, "Peers, same run".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DURATION=${1:-5}
ROUNDS=${2:-1}
WARMUP=${WARMUP:-1}
CPU=${BENCH_CPU:-1}
PEERS=$ROOT/bench/peers
VENV=$ROOT/.venv-peers
RUN=$ROOT/.fedbroker-run/bench
INPUTS=$RUN/peer-inputs
OUT=$RUN/peers.txt
mkdir -p "$RUN"

[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 120 ]] || {
    echo "bench-peers: SECONDS must be 1 to 120 (the SAML input is valid for 30 minutes)" >&2
    exit 2
}
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 && $ROUNDS -le 5 ]] || {
    echo "bench-peers: ROUNDS must be 1 to 5" >&2
    exit 2
}
command -v taskset >/dev/null || {
    echo "bench-peers: taskset (util-linux) is required" >&2
    exit 2
}
taskset -c "$CPU" true || {
    echo "bench-peers: cannot pin to CPU $CPU (set BENCH_CPU)" >&2
    exit 2
}

# --- Python peers: .venv-peers, once per requirements change.
want=$(sha256sum "$PEERS/requirements.txt" | cut -d' ' -f1)
stamp=$VENV/.fedbroker-peers-stamp
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "bench-peers: installing the Python peers into .venv-peers (builds lxml and xmlsec; minutes)" >&2
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        --no-binary lxml,xmlsec -r "$PEERS/requirements.txt"
    "$VENV/bin/python" -c 'import xmlsec, lxml.etree, onelogin.saml2.response, jwt'
    echo "$want" >"$stamp"
fi

# --- Node peers: npm ci in bench/peers, once per lockfile change (never the root package.json).
want=$(sha256sum "$PEERS/package-lock.json" | cut -d' ' -f1)
stamp=$PEERS/node_modules/.fedbroker-peers-stamp
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "bench-peers: npm ci in bench/peers" >&2
    (cd "$PEERS" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
fi

# --- fedbroker: the two examples, release profile.
echo "bench-peers: building examples peer_inputs and verify_throughput (release)" >&2
cargo build --release --quiet --example peer_inputs --example verify_throughput
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples

rm -rf "$INPUTS"
"$BIN/peer_inputs" "$INPUTS" >&2

pin() { taskset -c "$CPU" "$@"; }
results=$RUN/peers-results.txt
: >"$results"
run() { # run CASE COMMAND...: keep the RESULT line, prefixed with the case
    local case=$1 line
    shift
    line=$("$@" | grep '^RESULT ') || {
        echo "bench-peers: $case: '$*' failed" >&2
        exit 1
    }
    echo "$case $line" | tee -a "$results" >&2
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= ROUNDS; r++)); do
    echo "bench-peers: round $r/$ROUNDS, ${DURATION}s each after ${WARMUP}s warm-up, CPU $CPU" >&2
    # SAML first: its input is valid for 30 minutes from generation (the JWT for an hour).
    run saml pin "$BIN/verify_throughput" "$INPUTS" saml "$DURATION" "$WARMUP"
    run saml pin "$VENV/bin/python" "$PEERS/saml_python3_saml.py" "$INPUTS" "$DURATION" "$WARMUP"
    run saml pin node "$PEERS/saml_node_saml.mjs" "$INPUTS" "$DURATION" "$WARMUP"
    run jwt pin "$BIN/verify_throughput" "$INPUTS" jwt "$DURATION" "$WARMUP"
    run jwt pin node "$PEERS/jwt_jose.mjs" "$INPUTS" "$DURATION" "$WARMUP"
    run jwt pin "$VENV/bin/python" "$PEERS/jwt_pyjwt.py" "$INPUTS" "$DURATION" "$WARMUP"
done

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=
if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then dirty="+uncommitted"; fi
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
    echo "fedbroker vs peers, same run: $(date -u +%Y-%m-%dT%H:%MZ), fedbroker $commit$dirty"
    echo "$(nproc) CPUs ($cpu_model), each verifier pinned to CPU $CPU, one thread," \
        "${DURATION}s after ${WARMUP}s warm-up, $ROUNDS round(s) (median);" \
        "load average before/after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "node $(node --version), $("$VENV/bin/python" --version)"
    echo "ops/CPU-s: verifications per second of CPU time used by the verifier process (what one"
    echo "core sustains; steady when other jobs share the CPU); wall ops/s: per elapsed second."
    echo "Ratio and targets use ops/CPU-s."
    # Fields: case RESULT name version wall_ops_s us_per_op iterations cpu_ops_s.
    # Median per verifier over the rounds, then the table; ratio = fedbroker / peer.
    awk '
        { key = $1 SUBSEP $3; if (!(key in seen)) { seen[key] = 1; order[++k] = key; ver[key] = $4 }
          c = ++cnt[key]; cpu[key, c] = $8; wall[key, c] = $5 }
        function median(arr, key,   n, i, j, t, a) {
            n = cnt[key]; for (i = 1; i <= n; i++) a[i] = arr[key, i] + 0
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        function yn(b) { return b ? "yes" : "NO" }
        function commas(x,   s) { s = sprintf("%d", x + 0.5); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); return s }
        END {
            for (i = 1; i <= k; i++) { key = order[i]; split(key, p, SUBSEP)
                med[key] = median(cpu, key); medw[key] = median(wall, key)
                if (p[2] == "fedbroker") fb[p[1]] = med[key] }
            last = ""
            for (i = 1; i <= k; i++) {
                key = order[i]; split(key, p, SUBSEP)
                if (p[1] != last) {
                    title = (p[1] == "saml") ? "SAML Response, signed Assertion, RSA-2048 / RSA-SHA256" : "RS256 JWT, RSA-2048, cached JWKS"
                    printf "\n%s\n\n| %-12s | %-28s | %9s | %10s | %11s | %14s |\n", title, "verifier", "version", "ops/CPU-s", "CPU µs/op", "wall ops/s", "fedbroker/peer"
                    printf "|%s|%s|%s|%s|%s|%s|\n", "--------------", "------------------------------", "----------:", "-----------:", "------------:", "---------------:"
                    last = p[1]
                }
                ratio = (p[2] == "fedbroker") ? "—" : sprintf("%.2f×", fb[p[1]] / med[key])
                printf "| %-12s | %-28s | %9s | %10.1f | %11s | %14s |\n", p[2], ver[key], commas(med[key]), 1e6 / med[key], commas(medw[key]), ratio
            }
            # The performance targets (docs/BENCHMARKS.md), from the same figures.
            f = fb["saml"]; py = med["saml", "python3-saml"]; ns = med["saml", "node-saml"]
            j = fb["jwt"]; jo = med["jwt", "jose"]; pj = med["jwt", "pyjwt"]
            printf "\nTargets (ops/CPU-s):\n"
            printf "  SAML: fedbroker >= 5,000/s: %s (%s/s); >= 5x python3-saml: %s (%.2fx); >= 2x node-saml: %s (%.2fx)\n", yn(f >= 5000), commas(f), yn(f >= 5 * py), f / py, yn(f >= 2 * ns), f / ns
            printf "  JWT:  fedbroker >= 30,000/s: %s (%s/s); ahead of jose: %s (%.2fx); ahead of PyJWT: %s (%.2fx)\n", yn(j >= 30000), commas(j), yn(j > jo), j / jo, yn(j > pj), j / pj
        }' "$results"
} | tee "$OUT"

echo "bench-peers: wrote $OUT" >&2
