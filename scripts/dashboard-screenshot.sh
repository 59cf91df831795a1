#!/usr/bin/env bash
# Regenerates the dashboard screenshots in docs/ (docs/DASHBOARD.md, README):
# runs the browser test of a running demo (tests/integration/dashboard.demo.sh:
# `vmesh demo sase --keep`, chromium headless, a revocation published at the
# demo's RVP) and copies the screenshots it took. Needs a build tree (BUILD, default ./build) and
# Debian's chromium.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
command -v chromium >/dev/null || { echo "chromium is not installed (apt-get install chromium)" >&2; exit 1; }
[ -x "$BUILD/src/cli/vmesh" ] || { echo "no vmesh in $BUILD: build first" >&2; exit 1; }
art=$(mktemp -d)
trap 'rm -rf "$art"' EXIT
VMESH_ARTIFACTS=$art ctest --test-dir "$BUILD" -R '^dashboard\.demo$' --output-on-failure >"$art/ctest.log" 2>&1 || {
    tail -30 "$art/ctest.log" >&2; echo "the browser test failed" >&2; exit 1; }
grep -q 'Passed' "$art/ctest.log" || { tail -30 "$art/ctest.log" >&2; echo "the browser test did not run (skipped?)" >&2; exit 1; }
cp "$art/dashboard.demo/demo-mesh-revoked.png" docs/dashboard-mesh.png
cp "$art/dashboard.demo/demo-pop-node.png" docs/dashboard-node.png
echo "wrote docs/dashboard-mesh.png and docs/dashboard-node.png"
