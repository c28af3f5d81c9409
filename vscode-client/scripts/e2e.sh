#!/usr/bin/env bash
# End-to-end test of the extension in a real VS Code (code-server) driven by a real browser.
#
# Installs what it needs when missing, then runs e2e/extension.e2e.ts:
#   - Debian packages: chromium (the browser), ripgrep (seeds @vscode/ripgrep, which would
#     otherwise download from GitHub), libkrb5-dev (code-server's native `kerberos` module);
#   - code-server $CODE_SERVER_VERSION from npm, into a cache directory outside the repository;
#   - the extension's npm dependencies, and the VSIX with the server bundled
#     (dist/deepthink-lsp-linux-x64.vsix; its wheels come from the package index).
# The test's Python ($DEEPTHINK_E2E_PYTHON, default ../.venv/bin/python) runs the scripted LLM
# server and pip for the bundle; the extension itself gets a Python without deepthink-lsp.
# Extra arguments go to `node --test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The last code-server release that runs on Node 20 (VS Code 1.100.3).
CODE_SERVER_VERSION=4.100.3
# What that release's @vscode/ripgrep (1.15.11) downloads; see its lib/postinstall.js.
RIPGREP_PACKAGE_VERSION=1.15.11
RIPGREP_ASSET_VERSION=v13.0.0-10

cache_root="${DEEPTHINK_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/deepthink-lsp-e2e}"
code_server_dir="$cache_root/code-server-$CODE_SERVER_VERSION"
code_server_bin="$code_server_dir/node_modules/.bin/code-server"

log() { echo "e2e.sh: $*" >&2; }

install_debian_packages() {
    local missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
    dpkg-query -W -f='${Status}' libkrb5-dev 2>/dev/null | grep -q 'ok installed' || missing+=(libkrb5-dev)
    # code-server's native modules are compiled (their prebuilt binaries are on GitHub).
    command -v g++ >/dev/null 2>&1 || missing+=(g++)
    command -v make >/dev/null 2>&1 || missing+=(make)
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" != 0 ]; then
        log "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
        exit 1
    fi
    log "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
}

# @vscode/ripgrep's postinstall downloads ripgrep from GitHub unless
# $TMPDIR/vscode-ripgrep-cache-<package version>/ already holds the release archive;
# an archive of Debian's rg is accepted the same way.
seed_ripgrep_cache() {
    local tmp="$1" target
    case "$(uname -m)" in
        x86_64) target=x86_64-unknown-linux-musl ;;
        aarch64) target=aarch64-unknown-linux-musl ;;
        *) log "no ripgrep seed for $(uname -m)"; exit 1 ;;
    esac
    local cache="$tmp/vscode-ripgrep-cache-$RIPGREP_PACKAGE_VERSION"
    mkdir -p "$cache/staging"
    cp "$(command -v rg)" "$cache/staging/rg"
    tar -czf "$cache/ripgrep-$RIPGREP_ASSET_VERSION-$target.tar.gz" -C "$cache/staging" rg
    rm -rf "$cache/staging"
}

install_code_server() {
    mkdir -p "$cache_root"
    # Test runs started together install once: the others wait here, then find it installed.
    exec 9>"$cache_root/install.lock"
    flock 9
    [ -f "$code_server_dir/installed" ] || fresh_install_code_server
    exec 9>&-
}

fresh_install_code_server() {
    log "installing code-server $CODE_SERVER_VERSION into $code_server_dir (about 2 minutes)"
    rm -rf "$code_server_dir"
    mkdir -p "$code_server_dir/tmp"
    seed_ripgrep_cache "$code_server_dir/tmp"
    cat >"$code_server_dir/package.json" <<EOF
{ "private": true, "dependencies": { "code-server": "$CODE_SERVER_VERSION" } }
EOF
    # npm 11 runs no dependency install scripts unless allowed, and code-server's postinstall
    # runs nested `npm install`s (lib/vscode and its extensions) that build native modules.
    # A list of allowed packages can't reach those nested runs (npm refuses --allow-scripts
    # from a parent's environment), so every script of code-server's own pinned dependency
    # tree (its npm-shrinkwrap.json files) is allowed: what `npm install` did before npm 11.
    local node_headers=()
    # Offline, node-gyp can't download Node's headers: point it at the installed ones.
    [ -f /usr/include/node/node_version.h ] && node_headers=(npm_config_nodedir=/usr)
    (
        cd "$code_server_dir"
        env TMPDIR="$code_server_dir/tmp" \
            npm_config_dangerously_allow_all_scripts=true \
            npm_config_unsafe_perm=true \
            npm_config_yes=true \
            npm_config_audit=false \
            npm_config_fund=false \
            npm_config_update_notifier=false \
            "${node_headers[@]}" \
            npm install --no-save --no-package-lock --loglevel=error
    )
    rm -rf "$code_server_dir/tmp"
    "$code_server_bin" --version >/dev/null
    touch "$code_server_dir/installed"
}

install_debian_packages
install_code_server

[ -d node_modules ] || npm ci --loglevel=error
export DEEPTHINK_E2E_PYTHON="${DEEPTHINK_E2E_PYTHON:-$PWD/../.venv/bin/python}"
DEEPTHINK_BUNDLE_PYTHON="$DEEPTHINK_E2E_PYTHON" npm run --silent package -- linux-x64

export DEEPTHINK_E2E_CODE_SERVER="$code_server_bin"
export DEEPTHINK_E2E_VSIX="$PWD/dist/deepthink-lsp-linux-x64.vsix"
exec node --import tsx --test --test-timeout=300000 "$@" e2e/extension.e2e.ts
