#!/usr/bin/env bash
# Builds the VSIX for one VS Code target, with the server bundled: dist/deepthink-lsp-TARGET.vsix.
# Usage: scripts/package.sh [TARGET]   (default linux-x64; see scripts/bundle-server.sh for the
# others). The wheels are chosen for TARGET, not for this machine, so any target can be built
# on Linux. The Python that runs pip: $DEEPTHINK_BUNDLE_PYTHON, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-linux-x64}"
scripts/bundle-server.sh "$target"
# vsce runs `vscode:prepublish` first, which bundles the extension into dist/extension.js.
npx vsce package --target "$target" --no-dependencies --allow-missing-repository --skip-license \
    --no-rewrite-relative-links \
    --out "dist/deepthink-lsp-$target.vsix"
