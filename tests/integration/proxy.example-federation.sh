#!/usr/bin/env bash
# examples/two-enterprises (docs/FEDERATION.md): up.sh starts, for each of
# two trust domains, a CA, an RVP, a bundle endpoint on real nginx over
# HTTPS and a sidecar (X: client, Y: service); curl through X's sidecar gets
# Y's app; both ends attested (mode fresh, pattern attested) across the
# domains; each sidecar holds the other domain's bundle; down.sh stops all.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
command -v nginx >/dev/null || { echo "SKIP: nginx missing"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
EX=${VMESH_SRC:-$(dirname "$0")/../..}/examples/two-enterprises
[ -x "$EX/up.sh" ] || { echo "SKIP: $EX/up.sh missing"; exit 77; }
export VMESH VMESH_EXAMPLE_STATE="$T/example.state" TMPDIR="$T"
export OUT_PORT=$(free_port) IN_PORT=$(free_port) APP_PORT=$(free_port) XRVP_PORT=$(free_port) YRVP_PORT=$(free_port) \
       XB_PORT=$(free_port) YB_PORT=$(free_port) XADMIN_PORT=$(free_port) YADMIN_PORT=$(free_port)
cleanup_hooks+=("KEEP= bash '$EX/down.sh' >/dev/null 2>&1")
expect_exit 0 "up.sh" -- bash "$EX/up.sh"
[ "$(grep -c . "$T/err")" = 0 ] || sed 's/^/  up.sh: /' "$T/err" | head
D=$(sed -n 's/^DIR=//p' "$T/example.state")
body=""
for _ in $(seq 1 30); do   # the sidecars' first RVP sync may still be on its way
    body=$(curl -s --max-time 20 "http://127.0.0.1:$OUT_PORT/")
    [ -n "$body" ] && break; sleep 1
done
[ "$body" = "aggregated model, round 1 (served by enterprise Y)" ] && ok "X's collaborator reaches Y's aggregator" || { fail "curl got: $body"; tail -5 "$D/x-sidecar.err" "$D/y-sidecar.err"; }
for _ in $(seq 1 100); do grep -q '"peer":"spiffe://y.example/ns/fl/sa/aggregator"' "$D/x/access.log" 2>/dev/null && break; sleep 0.1; done
grep -q '"peer":"spiffe://y.example/ns/fl/sa/aggregator","mode":"fresh","tier":"affirming","pattern":"attested"' "$D/x/access.log" \
    && ok "X attested Y's aggregator (fresh, affirming)" || { fail "X's access log"; cat "$D/x/access.log"; }
for _ in $(seq 1 100); do grep -q '"peer":"spiffe://x.example/ns/fl/sa/collaborator"' "$D/y/access.log" 2>/dev/null && break; sleep 0.1; done
grep -q '"peer":"spiffe://x.example/ns/fl/sa/collaborator","mode":"fresh","tier":"affirming","pattern":"attested"' "$D/y/access.log" \
    && ok "Y attested X's collaborator (fresh, affirming)" || { fail "Y's access log"; cat "$D/y/access.log"; }
[ "$(metric "$XADMIN_PORT" 'vmesh_federation_bundle_sequence{trust_domain="y.example"}')" = 1 ] && ok "X holds y.example's bundle" || fail "X's federation metric"
[ "$(metric "$YADMIN_PORT" 'vmesh_federation_bundle_sequence{trust_domain="x.example"}')" = 1 ] && ok "Y holds x.example's bundle" || fail "Y's federation metric"
grep -q "GET /bundle.json" "$D/y/nginx-access.log" && ok "nginx served Y's bundle over HTTPS" || fail "Y's nginx log"
expect_exit 0 "down.sh" -- bash "$EX/down.sh"
[ ! -e "$D" ] && ok "down.sh removed the temp dir" || fail "temp dir left"
( exec 3<>/dev/tcp/127.0.0.1/"$OUT_PORT" ) 2>/dev/null && fail "outbound still listening" || ok "everything stopped"
finish
