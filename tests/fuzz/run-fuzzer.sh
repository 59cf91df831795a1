#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on a scratch copy of its seed
# corpus (the seeds in the repository are never written to).
set -eu
bin=$1 seed=$2 secs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
if [ -d "$seed" ]; then cp -r "$seed"/. "$work/corpus/" 2>/dev/null || true; fi
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="${VMESH_BUILD:-.}/fuzz-crash-" "$work/corpus"
