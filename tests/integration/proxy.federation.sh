#!/usr/bin/env bash
# SPIFFE federation (docs/FEDERATION.md): two trust domains, each with its
# own CA. Y's service sidecar federates with x.example; X's client sidecar
# federates with y.example and fetches Y's bundle from a bundle endpoint
# served by real nginx over HTTPS (https_web, a configured CA).
#  - an x.example peer is admitted at Y; a z.example peer (not federated)
#    is refused and the log names its trust domain;
#  - an SVID claiming an x.example ID but signed by Y's CA is refused: a
#    peer is verified against its own domain's bundle only;
#  - `vmesh ca bundle --format spiffe` / `vmesh ca fetch`: the SPIFFE
#    format round-trips; a rollback (lower sequence) is refused;
#  - Y rotates its CA key: the endpoint serves sequence 2, X's sidecar
#    refreshes (metric rises 1 -> 2), Y's sidecar picks up its new SVID
#    from disk without a restart, and X -> Y works with the new chain.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
command -v nginx >/dev/null || { echo "SKIP: nginx missing"; exit 77; }
cd "$T" || exit 1
for td in x y z; do "$VMESH" ca init --trust-domain $td.example --out ca-$td >/dev/null || { echo "ca init"; exit 1; }; done
"$VMESH" ca issue --ca ca-y --spiffe-id spiffe://y.example/ns/ai/sa/aggregator --out y-svc >/dev/null
"$VMESH" ca issue --ca ca-x --spiffe-id spiffe://x.example/ns/ai/sa/collaborator --out x-cli >/dev/null
"$VMESH" ca issue --ca ca-z --spiffe-id spiffe://z.example/ns/ai/sa/collaborator --out z-cli >/dev/null
# forged: Y's CA signs an X identity
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout forged.key -subj /O=forged -out forged.csr 2>/dev/null
printf 'subjectAltName=URI:spiffe://x.example/ns/ai/sa/collaborator\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth,serverAuth\n' > forged.ext
openssl x509 -req -in forged.csr -CA ca-y/ca.pem -CAkey ca-y/ca.key -CAcreateserial -days 2 -extfile forged.ext -out forged.pem 2>/dev/null \
    || { echo "forging failed"; exit 1; }

# --- SPIFFE bundle format through the CLI
"$VMESH" ca bundle --ca ca-x --format spiffe --refresh-hint 60 --out x-bundle.json || fail "ca bundle --format spiffe"
[ "$(json_get x-bundle.json 'd["spiffe_sequence"]')" = 1 ] && ok "x bundle: spiffe_sequence 1" || fail "x bundle sequence"
[ "$(json_get x-bundle.json 'd["spiffe_refresh_hint"]')" = 60 ] && ok "x bundle: spiffe_refresh_hint 60" || fail "x bundle hint"
[ "$(json_get x-bundle.json '[k["use"] for k in d["keys"]]')" = "['x509-svid']" ] && ok "x bundle: one x509-svid key" || fail "x bundle keys"
json_get x-bundle.json 'd["keys"][0]["x5c"][0]' | base64 -d | openssl x509 -inform DER -noout -ext subjectAltName | grep -q "URI:spiffe://x.example" \
    && ok "x5c holds X's CA certificate" || fail "x5c content"

# --- nginx: Y's bundle endpoint over HTTPS with a web CA (not a SPIFFE CA)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout webca.key -out webca.pem -days 2 -subj /CN=web-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout web.key -subj /CN=bundles.y.example -out web.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > web.ext
openssl x509 -req -in web.csr -CA webca.pem -CAkey webca.key -CAcreateserial -days 2 -extfile web.ext -out web.pem 2>/dev/null
mkdir -p ywww tmp
"$VMESH" ca bundle --ca ca-y --format spiffe --refresh-hint 1 --out ywww/bundle.json || fail "publish y bundle"
NG_PORT=$(free_port)
USER_LINE=""; [ "$(id -u)" = 0 ] && USER_LINE="user root;"
chmod 755 "$T"
cat > nginx.conf <<EOF
$USER_LINE
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx-error.log warn;
events { worker_connections 256; }
http {
    access_log $T/nginx-access.log;
    client_body_temp_path $T/tmp/body; proxy_temp_path $T/tmp/proxy; fastcgi_temp_path $T/tmp/fastcgi;
    uwsgi_temp_path $T/tmp/uwsgi; scgi_temp_path $T/tmp/scgi;
    server {
        listen 127.0.0.1:$NG_PORT ssl;
        ssl_certificate $T/web.pem;
        ssl_certificate_key $T/web.key;
        root $T/ywww;
        location = /bundle.json { default_type application/json; add_header Cache-Control "no-cache"; }
        location / { return 404; }
    }
}
EOF
nginx -p "$T" -c "$T/nginx.conf" -g 'daemon off;' 2>"$T/nginx.stderr" &
NGINX=$!
cleanup_hooks+=("kill $NGINX 2>/dev/null; wait $NGINX 2>/dev/null")
for _ in $(seq 100); do curl -fs --cacert webca.pem -o /dev/null "https://127.0.0.1:$NG_PORT/bundle.json" && break; sleep 0.1; done
curl -fs --cacert webca.pem -o /dev/null "https://127.0.0.1:$NG_PORT/bundle.json" || { echo "nginx did not start: $(cat nginx.stderr nginx-error.log)"; exit 1; }
EP="https://127.0.0.1:$NG_PORT/bundle.json"

expect_exit 0 "ca fetch (https_web, endpoint CA)" -- "$VMESH" ca fetch --url "$EP" --endpoint-ca webca.pem --out y-fetched.json
grep -q "sequence 1" "$T/out" && ok "fetched sequence 1" || fail "fetch output: $(cat "$T/out")"
expect_exit 1 "ca fetch without the web CA (system roots do not know it)" -- "$VMESH" ca fetch --url "$EP" --out y-nope.json
expect_stderr "certificate|SSL"
expect_exit 1 "ca fetch over http:// refused" -- "$VMESH" ca fetch --url "http://127.0.0.1:$NG_PORT/bundle.json" --out y-nope.json
expect_stderr "https://"

APP_PORT=$(free_port); IN_PORT=$(free_port); OUT_PORT=$(free_port); SADMIN=$(free_port); CADMIN=$(free_port)
mkdir -p www; printf 'aggregated model v1\n' > www/model.txt
start_app
cp y-svc-chain.pem y-live-chain.pem; cp y-svc.key y-live.key
# Y: the service sidecar; federates with x.example (a file, as published by X)
cat > server.yaml <<YAML
identity:
  cert: $T/y-live-chain.pem
  key: $T/y-live.key
  bundle: $T/ca-y/bundle.pem
  federation:
    - { trust-domain: x.example, bundle: $T/x-bundle.json }
admin: { listen: "127.0.0.1:$SADMIN" }
access-log: { file: $T/server-access.log }
limits: { workers: 2, handshake-timeout: 5s }
policy:
  rules:
    - { peer: "spiffe://x.example/ns/ai/*", allow-unattested: true }
    - { peer: "spiffe://z.example/*", allow-unattested: true }
    - { peer: "spiffe://y.example/*", allow-unattested: true }
inbound:
  - { name: model, listen: "127.0.0.1:$IN_PORT", app: "127.0.0.1:$APP_PORT" }
YAML
# X: the client sidecar; federates with y.example through the endpoint
cp y-fetched.json x-has-y.json
cat > client.yaml <<YAML
identity:
  cert: $T/x-cli-chain.pem
  key: $T/x-cli.key
  bundle: $T/ca-x/bundle.pem
  federation:
    - trust-domain: y.example
      bundle: $T/x-has-y.json
      endpoint: $EP
      endpoint-profile: https_web
      endpoint-ca: $T/webca.pem
      refresh: 1s
admin: { listen: "127.0.0.1:$CADMIN" }
access-log: { file: $T/client-access.log }
limits: { workers: 2, handshake-timeout: 5s }
policy:
  rules:
    - { peer: "spiffe://y.example/*", allow-unattested: true }
outbound:
  - { name: to-y, listen: "127.0.0.1:$OUT_PORT", upstreams: [ "127.0.0.1:$IN_PORT" ], peer: "spiffe://y.example/ns/ai/sa/aggregator" }
YAML
start_proxy server
start_proxy client

sclient() { # sclient PREFIX -> stdout
    (sleep 0.3; printf 'GET /model.txt HTTP/1.0\r\n\r\n'; sleep 2) | timeout 8 openssl s_client -connect "127.0.0.1:$IN_PORT" \
        -tls1_3 -cert "$T/$1.pem" -key "$T/$1.key" -CAfile "$T/ca-y/bundle.pem" -quiet -ign_eof 2>/dev/null
}
sclient x-cli > x.out
grep -q "aggregated model v1" x.out && ok "federated x.example peer admitted at Y" || fail "x.example peer got: $(head -c 200 x.out)"
sclient z-cli > z.out
grep -q "aggregated model" z.out && fail "z.example (not federated) got data" || ok "z.example peer refused"
sclient forged > forged.out
grep -q "aggregated model" forged.out && fail "x.example ID signed by Y's CA got data" || ok "x.example ID signed by Y's CA refused"
for _ in $(seq 50); do grep -q 'z.example", which is not federated' server.err && break; sleep 0.1; done
grep -q 'spiffe://z.example/ns/ai/sa/collaborator is in trust domain "z.example", which is not federated' server.err \
    && ok "refusal names the non-federated trust domain" || { fail "no trust-domain refusal line"; grep -i "federat\|verify" server.err | head -5; }
[ "$(curl -s "http://127.0.0.1:$SADMIN/peers" | grep -c forged)" = 0 ] || fail "forged peer listed"

# X -> Y through both sidecars
curl -s -m 10 "http://127.0.0.1:$OUT_PORT/model.txt" > xy.out
grep -q "aggregated model v1" xy.out && ok "X client sidecar -> Y service sidecar" || fail "X->Y got: $(head -c 200 xy.out)"
[ "$(metric "$CADMIN" 'vmesh_federation_bundle_sequence{trust_domain="y.example"}')" = 1 ] && ok "X holds Y's bundle, sequence 1" \
    || fail "X's y.example sequence: $(metric "$CADMIN" 'vmesh_federation_bundle_sequence{trust_domain="y.example"}')"

# rollback: the endpoint serves an older sequence -> refused, X keeps its own
"$VMESH" ca rotate --ca ca-y >/dev/null || fail "ca rotate"
"$VMESH" ca bundle --ca ca-y --format spiffe --refresh-hint 1 --out seq2.json
python3 - "$T/seq2.json" "$T/ywww/rollback.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["spiffe_sequence"] = 0
json.dump(d, open(sys.argv[2], "w"))
PY
cp x-has-y.json y-seq1.json
"$VMESH" ca bundle --ca ca-y --format spiffe --out y-seq2-local.json
expect_exit 1 "ca fetch refuses a lower sequence (rollback)" -- "$VMESH" ca fetch --url "https://127.0.0.1:$NG_PORT/bundle.json" --endpoint-ca webca.pem --out y-seq2-local.json
ok "(the endpoint still serves sequence 1 here)"
expect_stderr "rollback refused"

# Y rotates: new CA key (sequence 2), new SVID for the service, bundle published
"$VMESH" ca issue --ca ca-y --spiffe-id spiffe://y.example/ns/ai/sa/aggregator --out y-svc2 >/dev/null
openssl verify -CAfile ca-y/ca.pem y-svc2.pem >/dev/null && ok "new Y SVID chains to the new Y CA" || fail "new SVID"
openssl verify -CAfile ca-y/ca-1.pem y-svc2.pem >/dev/null 2>&1 && fail "new SVID verifies under the old CA" || ok "new SVID is not signed by the old key"
cp seq2.json ywww/bundle.json.tmp && mv ywww/bundle.json.tmp ywww/bundle.json
for _ in $(seq 150); do [ "$(metric "$CADMIN" 'vmesh_federation_bundle_sequence{trust_domain="y.example"}')" = 2 ] && break; sleep 0.1; done
[ "$(metric "$CADMIN" 'vmesh_federation_bundle_sequence{trust_domain="y.example"}')" = 2 ] \
    && ok "X refreshed Y's bundle: sequence 1 -> 2" || { fail "X did not refresh: $(grep federation client.err | tail -3)"; }
[ "$(json_get x-has-y.json 'd["spiffe_sequence"]')" = 2 ] && ok "X's cached bundle file holds sequence 2" || fail "cached file"
# Y's sidecar: new SVID replaced on disk (key first, then chain: a moment of
# mismatch that must be refused, then the pair)
ch0=$(metric "$SADMIN" vmesh_identity_file_changes_total)
# reloads before the pair is whole (an earlier config reload counts too): the
# new SVID is picked up by a reload after this one
r0=$(metric "$SADMIN" vmesh_reloads_total'{result="ok"}'); r0=${r0:-0}
cp y-svc2.key y-live.key.tmp && mv y-live.key.tmp y-live.key
for _ in $(seq 100); do [ "$(metric "$SADMIN" vmesh_identity_refused_total)" -ge 1 ] && break; sleep 0.1; done
[ "$(metric "$SADMIN" vmesh_identity_refused_total)" -ge 1 ] && ok "half-replaced pair (new key, old chain) refused" || fail "mismatched pair not refused"
curl -s -m 10 "http://127.0.0.1:$OUT_PORT/model.txt" | grep -q "aggregated model v1" && ok "old SVID still served meanwhile" || fail "X->Y broken by a half-replaced pair"
cp y-svc2-chain.pem y-live-chain.pem.tmp && mv y-live-chain.pem.tmp y-live-chain.pem
for _ in $(seq 100); do [ "$(metric "$SADMIN" vmesh_reloads_total'{result="ok"}')" -gt "$r0" ] && break; sleep 0.1; done
[ "$(metric "$SADMIN" vmesh_reloads_total'{result="ok"}')" -gt "$r0" ] && ok "Y picked up its new SVID without a restart" || fail "no reload at Y after the pair was whole"
for _ in 1 2 3; do (sleep 1; echo) | timeout 15 openssl s_client -connect "127.0.0.1:$IN_PORT" -tls1_3 -cert x-cli.pem -key x-cli.key -showcerts 2>/dev/null \
    | openssl x509 -noout -pubkey > served.pub 2>/dev/null; [ -s served.pub ] && break; done
openssl x509 -in y-svc2.pem -noout -pubkey | cmp -s - served.pub && ok "Y now serves the rotated SVID" || { fail "Y serves an old SVID ($(wc -c < served.pub) bytes of key seen)"; grep -i "reload\|identity" server.err | tail -5; }
curl -s -m 10 "http://127.0.0.1:$OUT_PORT/model.txt" > xy2.out
grep -q "aggregated model v1" xy2.out && ok "X -> Y after Y's key rotation (new chain, refreshed bundle)" || fail "X->Y after rotation: $(head -c 200 xy2.out)"
stop_proxy client
stop_proxy server
finish
