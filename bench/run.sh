#!/usr/bin/env bash
# Runs every benchmark against a release build and rewrites its section of
# docs/BENCHMARKS.md. Usage: bench/run.sh [BUILD_DIR]
set -eu
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
for b in appraise handshake tpm2 verifier cc bundles proxy sase-scale ipsec; do
    echo "== bench/$b"
    bash "$HERE/$b/run.sh" "$BUILD"
    if [ "$b" = proxy ]; then
        echo "== bench/proxy/keybound"
        bash "$HERE/proxy/keybound.sh" "$BUILD"
    fi
done
