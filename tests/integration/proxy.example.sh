#!/usr/bin/env bash
# examples/sase-minimal: up.sh starts the RVP, the app and both sidecars
# (on free ports here), curl through the client sidecar gets the app's page,
# /peers shows the attested PoP, down.sh stops everything.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
EX=${VMESH_SRC:-$(dirname "$0")/../..}/examples/sase-minimal
[ -x "$EX/up.sh" ] || { echo "SKIP: $EX/up.sh missing"; exit 77; }
export VMESH VMESH_EXAMPLE_STATE="$T/example.state" TMPDIR="$T"
export IN_PORT=$(free_port) OUT_PORT=$(free_port) APP_PORT=$(free_port) RVP_PORT=$(free_port) \
       ADMIN_PORT=$(free_port) CADMIN_PORT=$(free_port)
cleanup_hooks+=("KEEP= bash '$EX/down.sh' >/dev/null 2>&1")
expect_exit 0 "up.sh" -- bash "$EX/up.sh"
grep -q "curl http://127.0.0.1:$OUT_PORT/" "$T/out" && ok "up.sh tells what to curl" || fail "up.sh output"
body=$(curl -s --max-time 10 "http://127.0.0.1:$OUT_PORT/")
[ "$body" = "hello from the tenant app behind an attested sidecar" ] && ok "curl through the sidecars" || fail "curl got: $body"
curl -s "http://127.0.0.1:$CADMIN_PORT/metrics" | grep -q '^vmesh_rv_epoch{rvp="acme"} 1' && ok "client synced the RVP bundle" || fail "no rv epoch"
D=$(sed -n 's/^DIR=//p' "$T/example.state")
# the sidecar writes the record when the connection has closed on both
# sides, which may be just after curl has its body: wait for it (10 s at most)
for _ in $(seq 1 100); do
    grep -q '"peer":"spiffe://sase.example/pop/tenant-web"' "$D/client-access.log" 2>/dev/null && break
    sleep 0.1
done
grep -q '"peer":"spiffe://sase.example/pop/tenant-web"' "$D/client-access.log" && ok "client access log names the PoP" || fail "client access log"
expect_exit 0 "down.sh" -- bash "$EX/down.sh"
[ ! -e "$D" ] && ok "down.sh removed the temp dir" || fail "temp dir left"
( exec 3<>/dev/tcp/127.0.0.1/"$OUT_PORT" ) 2>/dev/null && fail "outbound still listening" || ok "everything stopped"
finish
