#!/usr/bin/env bash
# A proxy synced from a CoSERV provider: the client sidecar's verifier.rvps[]
# names `vmesh rvp serve --coserv-key` as `url: coserv+http://...` with the
# server's class id; it takes the server's reference values and IAK only from
# signed CoSERV result sets and admits the server. The provider then withdraws
# the server's workload (a new bundle epoch): the next poll's signed answer
# no longer holds it and new connections are refused. A sidecar configured
# with another provider key accepts nothing from it.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
px_config server
px_config client
px_rv_json server "$(printf 'some other workload' | sha256sum | cut -d' ' -f1)" >"$T/server-rv.revoked.json"
start_app
start_proxy server

"$VMESH" keygen --type ec-p256 -o "$T/rvp.key" --pub "$T/rvp.pub" >/dev/null
"$VMESH" keygen --type ec-p256 -o "$T/other.key" --pub "$T/other.pub" >/dev/null
mkdir -p "$T/rvin" "$T/rvweb"
cp "$T/server-rv.json" "$T/rvin/rv.json"
"$VMESH" rvp publish --key "$T/rvp.key" --in "$T/rvin" --out "$T/rvweb" --name acme >/dev/null || fail "publish"
RVP_PORT=$(free_port)
"$VMESH" rvp serve --root "$T/rvweb" --listen "127.0.0.1:$RVP_PORT" --coserv-key "$T/rvp.key" >"$T/rvp.out" 2>"$T/rvp.err" &
px_pids+=($!)
wait_port "$RVP_PORT" || fail "rvp serve did not start"
CLASS=$(printf 'vmesh-proxy-test-impl-%-10s' server | head -c 32 | xxd -p -c 100)
use_coserv() { # KEYFILE
    cp "$T/client.yaml.orig" "$T/client.yaml"
    python3 - "$T/client.yaml" "$RVP_PORT" "$T" "$1" "$CLASS" <<'PY'
import sys
p, port, t, key, cls = sys.argv[1:]
s = open(p).read()
s = s.replace("  rv-files: [ %s/server-rv.active.json ]\n" % t,
  "  rvps: [ { name: acme, url: \"coserv+http://127.0.0.1:%s\", key: %s, schemes: [ psa ], classes: [ %s ] } ]\n"
  "  poll-interval: 2s\n  state-dir: %s/client-state-%s\n" % (port, key, cls, t, key.split("/")[-1]))
open(p, "w").write(s)
PY
    grep -q "coserv+http" "$T/client.yaml" || fail "config rewrite"
}
cp "$T/client.yaml" "$T/client.yaml.orig"

# wrong provider key first: nothing accepted, the sidecar never gets ready
use_coserv "$T/other.pub"
"$VMESH" proxy -c "$T/client.yaml" >"$T/client-wrong.out" 2>"$T/client-wrong.err" &
WRONG=$!
px_pids+=("$WRONG")
for _ in $(seq 150); do grep -q "does not verify with the provider key" "$T/client-wrong.err" && break; sleep 0.2; done
grep -q "does not verify with the provider key" "$T/client-wrong.err" && ok "provider key other than the configured one: the signed result sets are refused by name" \
    || fail "no refusal line: $(tail -3 "$T/client-wrong.err")"
sleep 4 # two more polls: the same refusal must not be logged again
n=$(grep -c "does not verify with the provider key" "$T/client-wrong.err")
[ "$n" = 1 ] && ok "the repeated refusal is logged once" || fail "refusal logged $n times"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CADMIN/ready")
[ "$code" = 503 ] && ok "not ready without an accepted snapshot (/ready 503)" || fail "/ready: $code"
kill "$WRONG"; wait "$WRONG" 2>/dev/null

use_coserv "$T/rvp.pub"
start_proxy client
[ "$(metric "$CADMIN" 'vmesh_rv_epoch{rvp="acme"}')" = 1 ] && ok "synced CoSERV snapshot 1" || fail "rv_epoch: $(metric "$CADMIN" 'vmesh_rv_epoch{rvp="acme"}')"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt" | grep -q 200 \
    && ok "server admitted with RVs and IAK from signed CoSERV result sets only" || fail "request with CoSERV RVs"

# the provider withdraws the workload: a new bundle epoch, a new signed answer
cp "$T/server-rv.revoked.json" "$T/rvin/rv.json"
"$VMESH" rvp publish --key "$T/rvp.key" --in "$T/rvin" --out "$T/rvweb" >/dev/null || fail "publish epoch 2"
for _ in $(seq 100); do
    [ "$(metric "$CADMIN" 'vmesh_rv_epoch{rvp="acme"}')" = 2 ] && break
    sleep 0.2
done
[ "$(metric "$CADMIN" 'vmesh_rv_epoch{rvp="acme"}')" = 2 ] && ok "synced CoSERV snapshot 2" || fail "snapshot 2 not synced"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt")
[ "$code" = 000 ] && ok "a server whose workload the provider no longer holds is refused" || fail "new connection got HTTP $code"
stop_proxy client
stop_proxy server
finish
