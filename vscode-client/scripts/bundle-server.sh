#!/usr/bin/env bash
# Puts the server and everything it needs into bundled/wheels/, for one VS Code target:
#   - the deepthink-lsp wheel, built from this checkout;
#   - the wheels of its dependencies for CPython 3.11, 3.12 and 3.13 on that platform (the
#     native ones, such as pydantic-core, aiohttp and jiter, once per Python version; the
#     pure-Python ones once);
#   - pip, which the extension runs from its wheel to install all of them offline into a
#     private environment on first use (so the user's Python needs neither pip nor venv's
#     ensurepip).
# Usage: scripts/bundle-server.sh TARGET   (a `vsce --target`, e.g. linux-x64)
# The Python that runs pip: $DEEPTHINK_BUNDLE_PYTHON, else python3. Needs the package index.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:?usage: scripts/bundle-server.sh TARGET (linux-x64, linux-arm64, alpine-x64, darwin-arm64, darwin-x64, win32-x64)}"
# The platform tags each target accepts, oldest to newest. pip matches --platform exactly
# (it only widens a bare manylinux tag a little), so every tag a wheel may carry is listed.
# glibc 2.28 is what VS Code itself needs on Linux; macOS 11 on Apple silicon.
linux_tags() { for glibc in 5 12 17 24 26 27 28; do echo "manylinux_2_${glibc}_$1"; done; echo "manylinux2014_$1"; }
mac_tags() {
    local arch="$1" version
    for version in 10_9 10_12 10_13 10_14 10_15 11_0 12_0 13_0 14_0; do
        echo "macosx_${version}_$arch" "macosx_${version}_universal2"
    done
}
case "$target" in
    linux-x64) platforms=$(linux_tags x86_64) ;;
    linux-arm64) platforms=$(linux_tags aarch64) ;;
    alpine-x64) platforms="musllinux_1_1_x86_64 musllinux_1_2_x86_64" ;;
    darwin-arm64) platforms=$(mac_tags arm64) ;;
    darwin-x64) platforms=$(mac_tags x86_64) ;;
    win32-x64) platforms=win_amd64 ;;
    *) echo "bundle-server.sh: no wheel platform known for target '$target'" >&2; exit 2 ;;
esac
platform_options=()
for platform in $platforms; do platform_options+=(--platform "$platform"); done
python="${DEEPTHINK_BUNDLE_PYTHON:-python3}"
pip=("$python" -m pip --disable-pip-version-check --quiet)

wheels=bundled/wheels
rm -rf bundled
mkdir -p "$wheels"
"${pip[@]}" wheel --no-deps --wheel-dir "$wheels" ..
server_wheel=$(ls "$wheels"/deepthink_lsp-*.whl)
for version in 3.11 3.12 3.13; do
    "${pip[@]}" download --only-binary=:all: --dest "$wheels" \
        "${platform_options[@]}" --python-version "$version" --implementation cp \
        "$server_wheel" pip
done
echo "bundle-server.sh: $(ls "$wheels" | wc -l) wheels, $(du -sh "$wheels" | cut -f1), for $target" >&2
