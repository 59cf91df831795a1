#!/usr/bin/env bash
# Every refusal is attributable (issue 15.2). The server's RV names another
# digest for the client's workload, so the server refuses the client after
# appraisal. Both access logs (and /peers) must carry: the SPIFFE ID TLS
# verified, the remote address, the listener, the upstream, the mode, the
# reason code, the trust vector by claim name with its values, and the
# offending digest in hex (as sha256sum prints it); the server logs the
# refusal as one line on stderr; vmesh_refusals_total counts it by reason.
# A peer that does not attest (openssl s_client) is refused at its
# ClientHello, before TLS verified any ID: its record has the address.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
px_setup
px_config server
px_config client
# the server expects another workload of the client
px_rv_json client "$(printf 'another workload\n' | sha256sum | cut -d' ' -f1)" > "$T/client-rv.active.json"
WL_HEX=$(sha256sum "$T/client-workload" | cut -d' ' -f1)
start_app
start_proxy server
start_proxy client
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt")
[ "$code" = 200 ] && fail "refused client got a response" || ok "refused client gets no response (curl: $code)"
for _ in $(seq 1 100); do grep -q '"result":"refused"' "$T/server-access.log" 2>/dev/null && break; sleep 0.1; done
for _ in $(seq 1 100); do grep -q '"result":"peer-refused"' "$T/client-access.log" 2>/dev/null && break; sleep 0.1; done
# the plain mTLS peer (no attestation)
timeout 10 openssl s_client -connect "127.0.0.1:$IN_PORT" -tls1_3 -cert "$T/client-chain.pem" -key "$T/client.key" \
    -CAfile "$T/ca/bundle.pem" </dev/null >/dev/null 2>&1
for _ in $(seq 1 100); do grep -q 'unattested-refused' "$T/server-access.log" 2>/dev/null && break; sleep 0.1; done
curl -s "http://127.0.0.1:$SADMIN/dashboard/state" > "$T/state.json"
curl -s "http://127.0.0.1:$SADMIN/metrics" > "$T/server.metrics"

python3 - "$T" "$APP_PORT" "$IN_PORT" "$WL_HEX" <<'PY'
import json, re, sys
T, app, inport, wl = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
fails = 0
def check(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what)
    fails += 0 if cond else 1
def records(path):
    return [json.loads(l) for l in open(path) if l.strip()]
CLIENT = "spiffe://example.org/ns/shop/sa/client"
SERVER = "spiffe://example.org/ns/shop/sa/server"
addr = re.compile(r"^127\.0\.0\.1:\d+$")

srv = records(T + "/server-access.log")
ref = [r for r in srv if r["result"] == "refused" and r["mode"] is not None]
check(len(ref) == 1, "server: one attested refusal record (%d)" % len(ref))
if ref:
    r = ref[0]
    check(r["peer"] == CLIENT, "server record names the verified SPIFFE ID: %s" % r["peer"])
    check(r["direction"] == "inbound" and r["listener"] == "web", "server record: inbound listener web")
    check(bool(addr.match(r["remote"] or "")) and r["remote"] != "127.0.0.1:" + inport,
          "server record has the client's address: %s" % r["remote"])
    check(r["upstream"] == "127.0.0.1:" + app, "server record names the upstream app: %s" % r["upstream"])
    check(r["mode"] in ("fresh", "epoch-fresh", "passport", "background-check"), "server record has the mode: %s" % r["mode"])
    check(r["reason"] == "not-affirming", "server record has the reason code: %s" % r["reason"])
    ex = r["claims"].get("executables")
    check(ex is not None and ex["value"] == r["tv"]["executables"] == 33 and ex["tier"] == "warning" and ex["means"],
          "trust vector by name: executables=%s" % ex)
    check(all(set(v) == {"value", "tier", "means"} for v in r["claims"].values()),
          "every named claim has value, tier, meaning")
    check(wl in r["close_reason"], "refusal names the digest in hex (%s…)" % wl[:16])
    check(not re.search(r"[A-Za-z0-9+/]{43}=", r["close_reason"]), "no base64 digest in the reason")
unat = [r for r in srv if r["reason"] == "unattested-refused"]
# refused at its ClientHello, before its certificate: no ID to name yet
check(len(unat) == 1 and unat[0]["peer"] is None and addr.match(unat[0]["remote"] or ""),
      "unattested peer: refused at its ClientHello, with its address")

cli = records(T + "/client-access.log")
pr = [r for r in cli if r["result"] == "peer-refused"]
check(len(pr) >= 1, "client: the refusal by the server is logged (%d)" % len(pr))
if pr:
    r = pr[0]
    check(r["peer"] == SERVER, "client record names the server's verified SPIFFE ID: %s" % r["peer"])
    check(r["remote"] == "127.0.0.1:" + inport, "client record has the server's address: %s" % r["remote"])
    check(r["upstream"] == "127.0.0.1:" + inport, "client record names the upstream: %s" % r["upstream"])
    check(r["reason"] == "not-affirming", "client record has the reason code: %s" % r["reason"])

st = json.load(open(T + "/state.json"))
rec = [f for f in st["refusals"] if f["peer"] == CLIENT]
check(len(rec) == 1 and addr.match(rec[0]["remote"] or "") and rec[0]["code"] == "not-affirming",
      "dashboard refusals: peer, address and code (%s)" % rec)

m = open(T + "/server.metrics").read()
def val(k):
    for l in m.splitlines():
        if l.split(" ")[0] == k:
            return float(l.split(" ")[1])
    return None
check(val('vmesh_refusals_total{direction="inbound",reason="not-affirming"}') == 1, "refusals_total{not-affirming} = 1")
check(val('vmesh_refusals_total{direction="inbound",reason="unattested-refused"}') == 1,
      "refusals_total{unattested-refused} = 1")
sys.exit(1 if fails else 0)
PY
[ $? = 0 ] && ok "records attributable" || fail "records (above)"
# one log line for the refusal, with peer, address and reason
n=$(grep -c "$WL_HEX\|not-affirming" "$T/server.err")
grep -q 'unverified peer at 127.0.0.1:[0-9]*: attestation refused: unattested-refused' "$T/server.err" \
    && ok "unattested refusal: one line with the address" || fail "unattested refusal line"
[ "$n" = 1 ] && ok "server logs the refusal in one line" || { fail "server logs $n lines for the refusal"; cat "$T/server.err"; }
grep -q "inbound web: peer spiffe://example.org/ns/shop/sa/client at 127.0.0.1:[0-9]*: attestation refused: not-affirming" "$T/server.err" \
    && ok "the line names listener, peer, address, reason" || { fail "log line"; cat "$T/server.err"; }
stop_proxy client
stop_proxy server
finish
