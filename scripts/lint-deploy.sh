#!/usr/bin/env bash
# Lint the deployment files and the shell scripts with the linters that can be installed here
# (into the repo-local .venv from PyPI, pinned in scripts/requirements-lint.txt):
#   hadolint              deploy/Dockerfile
#   yamllint              deploy/**/*.yaml (+ .yamllint rules in deploy/.yamllint.yaml)
#   kubernetes-validate   deploy/kubernetes/*.yaml against the bundled API schemas, --strict
#   systemd-analyze       verify + security (exposure score) of deploy/systemd/*.service
#   tomllib               the example TOML configs parse (deploy/fedbroker.toml, the ConfigMap's)
#   ShellCheck            .ci/run and scripts/*.sh
# A linter that cannot be installed or is not on the machine is reported as SKIPPED, not failed.
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
step "hadolint deploy/Dockerfile"
if hadolint=$(tool hadolint) && [[ -n $hadolint ]]; then
    rc=0
    "$hadolint" --version
    "$hadolint" --no-color --config deploy/.hadolint.yaml deploy/Dockerfile || rc=$?
    result hadolint "$rc"
else
    skipped+=(hadolint)
fi

# --- YAML -----------------------------------------------------------------------------------------
mapfile -t yaml_files < <(find deploy -name '*.yaml' ! -name '.yamllint.yaml' | sort)
step "yamllint ${yaml_files[*]}"
if yamllint=$(tool yamllint) && [[ -n $yamllint ]]; then
    rc=0
    "$yamllint" --strict -c deploy/.yamllint.yaml "${yaml_files[@]}" || rc=$?
    result yamllint "$rc"
else
    skipped+=(yamllint)
fi

mapfile -t k8s_files < <(find deploy/kubernetes -name '*.yaml' ! -name 'kustomization.yaml' | sort)
step "kubernetes-validate --strict -k $K8S_VERSION ${k8s_files[*]}"
if kv=$(tool kubernetes-validate) && [[ -n $kv ]]; then
    rc=0
    "$kv" --quiet --strict -k "$K8S_VERSION" "${k8s_files[@]}" || rc=$?
    result kubernetes-validate "$rc"
else
    skipped+=(kubernetes-validate)
fi

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
with open("deploy/fedbroker.toml", encoding="utf-8") as f:
    check("deploy/fedbroker.toml", f.read())
with open("deploy/kubernetes/configmap.yaml", encoding="utf-8") as f:
    for doc in yaml.safe_load_all(f):
        for key, text in (doc.get("data") or {}).items():
            if key.endswith(".toml"):
                check(f"deploy/kubernetes/configmap.yaml:{key}", text)
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
