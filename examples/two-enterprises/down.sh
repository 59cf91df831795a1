#!/usr/bin/env bash
# Stops what up.sh started (SIGTERM: the sidecars drain and exit 0) and
# removes its temporary directory.
set -u
STATE=${VMESH_EXAMPLE_STATE:-${TMPDIR:-/tmp}/vmesh-two-enterprises.state}
[ -e "$STATE" ] || { echo "down.sh: nothing is up ($STATE missing)"; exit 0; }
DIR=$(sed -n 's/^DIR=//p' "$STATE")
pids=$(sed -n 's/^PID_[a-z-]*=//p' "$STATE")
for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
for _ in $(seq 1 100); do
    alive=0
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
done
for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
[ -n "${KEEP:-}" ] || rm -rf "$DIR"
rm -f "$STATE"
echo "down${KEEP:+ (kept $DIR)}"
