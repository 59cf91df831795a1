#!/usr/bin/env bash
# End to end with real processes on 127.0.0.1: curl -> outbound sidecar ->
# attested mTLS -> inbound sidecar -> python3 http.server. A 1 MiB body and
# 200 small requests arrive byte for byte; the admin endpoint reports the
# peers and metrics; the access log has one JSON line per connection; an
# openssl s_client straight at the inbound port gets no application data
# under the default policy; both sidecars exit 0 at SIGTERM with no
# sanitizer report.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
px_config server
px_config client
DEAD=$(free_port) FO_PORT=$(free_port)
cat >> "$T/client.yaml" <<YAML
  - name: failover
    listen: 127.0.0.1:$FO_PORT
    upstreams: [ 127.0.0.1:$DEAD, 127.0.0.1:$IN_PORT ]
    peer: spiffe://example.org/ns/shop/sa/server
YAML
start_app
start_proxy server
start_proxy client

# 1 MiB through the pair
curl -s -o "$T/big.out" "http://127.0.0.1:$OUT_PORT/big.bin"
[ "$(sha256sum < "$T/big.out")" = "$(sha256sum < "$T/www/big.bin")" ] && ok "1 MiB body identical (sha256)" \
    || fail "1 MiB body differs ($(stat -c %s "$T/big.out" 2>/dev/null) bytes)"

# 200 small requests in one curl (keep-alive off in http.server: one connection each)
urls=(); for i in $(seq 1 200); do urls+=("http://127.0.0.1:$OUT_PORT/s$(( (i % 20) + 1 )).txt"); done
curl -s "${urls[@]}" > "$T/small.out"
for i in $(seq 1 200); do cat "$T/www/s$(( (i % 20) + 1 )).txt"; done > "$T/small.want"
cmp -s "$T/small.out" "$T/small.want" && ok "200 small requests identical" || fail "small requests differ"

# round robin with failover: one upstream refuses connections
fo=0; for i in $(seq 1 10); do [ "$(curl -s "http://127.0.0.1:$FO_PORT/s3.txt")" = "small file 3" ] && fo=$((fo+1)); done
[ "$fo" = 10 ] && ok "failover: 10 of 10 requests answered with a dead upstream in the list" || fail "failover: $fo of 10"
grep -q "upstream 127.0.0.1:$DEAD: connect: Connection refused" "$T/client.err" && ok "dead upstream logged" || fail "no dead-upstream log line"

# admin
curl -s "http://127.0.0.1:$CADMIN/metrics" > "$T/cm.txt"
grep -q '^vmesh_connections_total{direction="outbound",result="ok"} ' "$T/cm.txt" && ok "metrics: connections_total" || fail "metrics lack connections_total"
n=$(awk '$1=="vmesh_connections_total{direction=\"outbound\",result=\"ok\"}" {print $2}' "$T/cm.txt")
[ "${n:-0}" -ge 211 ] && ok "211+ outbound connections ok ($n)" || fail "outbound ok = $n"
for m in vmesh_connections_active vmesh_handshake_seconds_bucket vmesh_attestation_seconds_count \
         vmesh_attestation_failures_total vmesh_ar_cache_hits_total vmesh_ar_cache_misses_total \
         vmesh_rv_snapshot_age_seconds vmesh_certificate_expiry_seconds vmesh_reappraisal_closed_total; do
    grep -q "^$m" "$T/cm.txt" && ok "metric $m" || fail "metric $m missing"
done
hits=$(metric "$CADMIN" vmesh_ar_cache_hits_total)
[ "$hits" -ge 150 ] && ok "AR cache serves repeated sessions ($hits hits)" || fail "AR cache hits $hits"
lines=$(wc -l < "$T/client-access.log")
[ "$lines" -ge 211 ] && ok "client access log: $lines lines" || fail "client access log: $lines lines"
tail -1 "$T/client-access.log" > "$T/last.json"
[ "$(json_get "$T/last.json" "d['peer']")" = "spiffe://example.org/ns/shop/sa/server" ] && ok "access log: peer" || fail "access log peer: $(cat "$T/last.json")"
[ "$(json_get "$T/last.json" "d['mode']")" = "epoch-fresh" ] && ok "access log: mode epoch-fresh" || fail "access log mode"
[ "$(json_get "$T/last.json" "d['tier']")" = "affirming" ] && ok "access log: tier" || fail "access log tier"
[ "$(json_get "$T/last.json" "d['result']")" = ok ] && ok "access log: result ok" || fail "access log result"
[ "$(json_get "$T/last.json" "d['bytes_from_peer'] > 0 and d['duration_ms'] >= 0")" = True ] && ok "access log: bytes, duration" || fail "access log bytes"
res=$(grep -c '"resumed":true' "$T/client-access.log")
[ "$res" -ge 150 ] && ok "outbound reconnects resume the TLS session ($res of $lines)" || fail "resumed sessions: $res"
grep -q '"peer":"spiffe://example.org/ns/shop/sa/client"' "$T/server-access.log" && ok "server access log names the client" || fail "server access log"
# D52: the server validated the client's chain once; every later full
# handshake took the validation from its cache (resumed ones check no chain)
full=$(metric "$SADMIN" 'vmesh_handshakes_total{direction="inbound",session="full"}')
val=$(metric "$SADMIN" 'vmesh_tls_chain_validations_total{result="validated"}')
cac=$(metric "$SADMIN" 'vmesh_tls_chain_validations_total{result="cached"}')
[ "$val" = 1 ] && [ "$((val + cac))" = "$full" ] && [ "$full" -ge 2 ] \
    && ok "chain-validation cache: 1 chain validated, $cac of $full full handshakes from the cache" \
    || fail "chain validations: validated $val, cached $cac, full inbound handshakes $full"

# /peers shows an open connection while a slow download runs
python3 - "$OUT_PORT" > "$T/slow.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n")
s.recv(1000); time.sleep(2); s.close()
PY
slow=$!
for _ in $(seq 1 100); do  # until it is up (python3 may take seconds to start on a loaded machine)
    curl -s "http://127.0.0.1:$CADMIN/peers" > "$T/peers.json"
    grep -q '"state":"proxy"' "$T/peers.json" && break
    sleep 0.1
done
[ "$(json_get "$T/peers.json" "[p['peer'] for p in d if p['state']=='proxy'][0]")" = "spiffe://example.org/ns/shop/sa/server" ] \
    && ok "/peers lists the open connection" || fail "/peers: $(cat "$T/peers.json")"
[ "$(json_get "$T/peers.json" "d[0]['tv']['executables']")" = 2 ] && ok "/peers: trust vector" || fail "/peers tv"
# what the peer was appraised under (issue 12.4): this node's local verifier and its policy digest
pv=$(json_get "$T/peers.json" "[p['verifier'] + ' ' + p['policy_digest'] for p in d if p['state']=='proxy'][0]")
echo "$pv" | grep -Eq '^vmesh/[^ ]+ \(local\) sha-256:[0-9a-f]{64}$' && ok "/peers: appraised by the local verifier under $pv" \
    || fail "/peers verifier/policy_digest: '$pv'"
wait $slow
[ "$(curl -s "http://127.0.0.1:$SADMIN/ready")" = ready ] && ok "/ready" || fail "/ready"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SADMIN/nope")" = 404 ] && ok "admin 404" || fail "admin 404"

# plain mTLS client without attestation: no application data
if command -v openssl >/dev/null; then
    printf 'GET /s1.txt HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$IN_PORT" -tls1_3 \
        -cert "$T/client.pem" -key "$T/client.key" -CAfile "$T/ca/bundle.pem" -quiet -ign_eof > "$T/sclient.out" 2>"$T/sclient.err"
    grep -q "small file 1" "$T/sclient.out" && fail "openssl s_client got application data" || ok "openssl s_client gets no application data"
    sleep 0.3
    r=$(metric "$SADMIN" 'vmesh_attestation_failures_total{reason="unattested-refused",by="local"}')
    [ "$r" -ge 1 ] && ok "server counted unattested-refused ($r)" || fail "unattested-refused not counted"
    grep -q '"result":"refused"' "$T/server-access.log" && ok "access log: refused connection" || fail "no refused line"
fi
stop_proxy client
stop_proxy server
finish
