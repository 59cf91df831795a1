#!/usr/bin/env bash
# A central verifier's answers are bound to their question (issue 12.1,
# DESIGN §9). A server sidecar appraises its clients at a central verifier
# (`verifier.central`) through an on-path attacker (helpers/ear_replayer.py):
#   1. forward: the attacker passes answers through and captures a genuine,
#      affirming EAR -> the client is admitted;
#   2. replay:  the attacker answers every evidence POST with that EAR (signed
#      by the verifier, for another nonce) -> refused, reason ear-nonce, the
#      message names both nonces;
#   3. submod:  the verifier's answer re-signed (with the verifier's own key)
#      for another scheme's submodule -> refused, reason ear-submod;
#   4. forward again -> admitted (the refusals were about the answers only).
# Steps 1-4 run over the batch appraisal, the relying party's default (POST
# /vmesh/v1/appraise-batch, DECISIONS D53: the replayed EAR travels inside a
# batch answer); then the attacker plays a verifier without batches (that
# path 404) and
#   4b. the relying party sends the one-request appraisal (POST
#      /vmesh/v1/appraise, D42) instead; a captured EAR replayed there is
#      refused with ear-nonce;
# then an older verifier still (no one-request endpoint either: discovery
# without it, the path 404) and
#   5. the relying party falls back to Veraison's flow at once (3 requests a
#      verification), is admitted, and a replay of a captured EAR into a
#      session answer is refused with ear-nonce just the same.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
HELPERS=$(cd "$(dirname "$0")/helpers" && pwd)
px_setup
"$VMESH" keygen --type ec-p256 -o "$T/ear.pem" --pub "$T/ear.pub" >/dev/null || { echo "keygen failed"; exit 1; }

# the central verifier: it appraises the client's platform
"$VMESH" verifier serve --listen 127.0.0.1:0 --key "$T/ear.pem" --rv "$T/client-rv.json" \
    >"$T/verifier.out" 2>"$T/verifier.log" &
VPID=$!; px_pids+=("$VPID")
VPORT=""
for _ in $(seq 100); do
    VPORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$T/verifier.log"); [ -n "$VPORT" ] && break; sleep 0.1
done
[ -n "$VPORT" ] || { echo "verifier did not start"; cat "$T/verifier.log"; exit 1; }

# the on-path attacker in front of it
RPORT=$(free_port)
echo forward > "$T/mode"
python3 "$HELPERS/ear_replayer.py" "$RPORT" "$VPORT" "$T/mode" "$T" "$VMESH" "$T/ear.pem" >"$T/replayer.out" 2>&1 &
px_pids+=($!)
wait_port "$RPORT" || { echo "replayer did not start"; cat "$T/replayer.out"; exit 1; }

px_config server
px_config client
# the server appraises at the central verifier, through the attacker
# fresh evidence only: every session asks its own question (no cached answer)
sed -i "s|^attester:|attester:\n  modes: [ fresh ]|" "$T/client.yaml"
sed -i "s|^  rv-files: .*|  central: { url: \"http://127.0.0.1:$RPORT\", key: $T/ear.pub, cache: 1s, insecure-plain-http: true }|" "$T/server.yaml"
# The attacker's submod step runs `vmesh ear sign` inside the appraisal (a
# sanitizer build under load can take seconds): handshakes get 30 s so that
# what is judged is the answer, not a handshake timeout.
sed -i 's/^  handshake-timeout: 5s/  handshake-timeout: 30s/' "$T/server.yaml" "$T/client.yaml"
start_app
start_proxy server
start_proxy client

get() { curl -s -o "$T/get.out" -w '%{http_code}' --max-time 90 "http://127.0.0.1:$OUT_PORT/s1.txt" 2>/dev/null; }
refusals() { grep -c "\"result\":\"refused\".*$1" "$T/server-access.log" 2>/dev/null || true; }

# since LINE PATTERN: how many replayer log lines after line LINE match
since() { tail -n +"$(($1 + 1))" "$T/replayer.log" 2>/dev/null | grep -c -- "$2" || true; }
mark() { wc -l < "$T/replayer.log" 2>/dev/null || echo 0; }

code=$(get)
[ "$code" = 200 ] && grep -q "small file 1" "$T/get.out" && ok "forward: client admitted through the central verifier" \
    || fail "forward: HTTP $code"
[ "$(since 0 'captured an EAR (batch)')" -ge 1 ] && [ "$(since 0 'req POST /challenge-response/v1/newSession')" = 0 ] \
    && [ "$(since 0 'req POST /vmesh/v1/appraise$')" = 0 ] \
    && ok "the relying party used the batch appraisal (no session): $(since 0 'req POST /vmesh/v1/appraise-batch') POST(s), $(since 0 'req GET /.well-known') discovery read(s)" \
    || { fail "the batch appraisal was not used"; sed 's/^/  /' "$T/replayer.log"; }
[ -s "$T/captured.json" ] && ok "the attacker captured a genuine EAR" || { fail "nothing captured"; finish; }

echo replay > "$T/mode"
code=$(get)
[ "$code" != 200 ] && ok "replay: no data (HTTP $code)" || fail "replay: the replayed EAR admitted the client"
grep -q "replay: answered .*(batch)" "$T/replayer.log" && ok "the attacker did answer the batch appraisal with the captured EAR" || fail "replayer was not asked"
for _ in $(seq 50); do [ "$(refusals ear-nonce)" -ge 1 ] && break; sleep 0.1; done
[ "$(refusals ear-nonce)" -ge 1 ] && ok "access log: refused with ear-nonce" || fail "no ear-nonce refusal in the access log"
grep -q "eat_nonce [0-9a-f]*\.\.\.(32 bytes) is not the nonce sent" "$T/server-access.log" "$T/server.err" \
    && ok "the reason names the EAR's nonce and the nonce sent" || fail "the reason does not name the nonces"
[ "$(metric "$SADMIN" 'vmesh_attestation_failures_total{reason="ear-nonce",by="local"}')" != 0 ] \
    && ok "metric: failures with reason ear-nonce" || { fail "no ear-nonce metric"; curl -s "http://127.0.0.1:$SADMIN/metrics" | grep -i "ear-nonce"; }

echo submod > "$T/mode"
code=$(get)
[ "$code" != 200 ] && ok "submod: no data (HTTP $code)" || fail "submod: an EAR about another scheme admitted the client"
for _ in $(seq 100); do grep -q "submod: re-signed" "$T/replayer.log" && break; sleep 0.1; done
grep -q "submod: re-signed" "$T/replayer.log" && ok "the attacker did re-sign for another scheme" || fail "no re-signed EAR"
for _ in $(seq 50); do [ "$(refusals ear-submod)" -ge 1 ] && break; sleep 0.1; done
[ "$(refusals ear-submod)" -ge 1 ] && ok "access log: refused with ear-submod" || fail "no ear-submod refusal"
grep -q 'no submodule for scheme \\"psa\\"' "$T/server-access.log" && ok "the reason names the scheme asked about" \
    || fail "the reason does not name the scheme"

echo forward > "$T/mode"
code=$(get)
[ "$code" = 200 ] && ok "forward again: admitted" || fail "forward again: HTTP $code"

# ---- 4b. a verifier without the batch appraisal: the one-request appraisal
touch "$T/hide-batch"
m0=$(mark)
code=$(get)
[ "$code" = 200 ] && [ "$(since "$m0" 'hide: 404 for the batch appraisal')" -ge 1 ] \
    && [ "$(since "$m0" 'captured an EAR (one-request)')" -ge 1 ] \
    && ok "no batch appraisal (404): admitted through the one-request appraisal" \
    || { fail "without batches: HTTP $code"; tail -n +"$((m0 + 1))" "$T/replayer.log" | sed 's/^/  /'; }
before=$(refusals ear-nonce)
echo replay > "$T/mode"
code=$(get)
[ "$code" != 200 ] && grep -q "replay: answered .*(one-request)" "$T/replayer.log" \
    && ok "replay into a one-request answer: no data (HTTP $code)" || fail "replay (one-request): HTTP $code"
for _ in $(seq 50); do [ "$(refusals ear-nonce)" -gt "$before" ] && break; sleep 0.1; done
[ "$(refusals ear-nonce)" -gt "$before" ] && ok "access log: refused with ear-nonce (one-request)" || fail "no ear-nonce refusal (one-request)"
echo forward > "$T/mode"
code=$(get)
[ "$code" = 200 ] && ok "forward (one-request): admitted" || fail "forward (one-request): HTTP $code"

# ---- 5. an older verifier: no one-request appraisal
touch "$T/hide"
m0=$(mark)
code=$(get)
[ "$code" = 200 ] && ok "older verifier: admitted through Veraison's flow" || fail "older verifier: HTTP $code"
ns=$(since "$m0" 'req POST /challenge-response/v1/newSession')
ps=$(since "$m0" 'req POST /challenge-response/v1/session/')
dl=$(since "$m0" 'req DELETE /challenge-response/v1/session/')
[ "$(since "$m0" 'hide: 404 for the one-request appraisal')" -ge 1 ] && [ "$ns" -ge 1 ] && [ "$ns" = "$ps" ] && [ "$ps" = "$dl" ] \
    && ok "the cached endpoint answered 404; the relying party fell back at once: $ns x (newSession, evidence, DELETE)" \
    || { fail "fallback: newSession $ns, evidence $ps, DELETE $dl"; tail -n +"$((m0 + 1))" "$T/replayer.log" | sed 's/^/  /'; }
m1=$(mark)
code=$(get)
ns=$(since "$m1" 'req POST /challenge-response/v1/newSession')
ps=$(since "$m1" 'req POST /challenge-response/v1/session/')
dl=$(since "$m1" 'req DELETE /challenge-response/v1/session/')
[ "$code" = 200 ] && [ "$(since "$m1" 'req POST /vmesh/v1/appraise')" = 0 ] && [ "$ns" -ge 1 ] && [ "$ns" = "$ps" ] && [ "$ps" = "$dl" ] \
    && [ "$(since "$m1" 'hide: discovery without')" -ge 1 ] \
    && ok "discovery read again after the 404 (no endpoint named); then 3 requests a verification ($ns verification(s))" \
    || { fail "older verifier, next verification: HTTP $code"; tail -n +"$((m1 + 1))" "$T/replayer.log" | sed 's/^/  /'; }
before=$(refusals ear-nonce)
echo replay > "$T/mode"
code=$(get)
[ "$code" != 200 ] && ok "replay into a session answer: no data (HTTP $code)" || fail "replay (session): the replayed EAR admitted the client"
grep -q "replay: answered .*(session)" "$T/replayer.log" && ok "the attacker did answer a session's evidence POST with the captured EAR" \
    || fail "replayer was not asked in the session flow"
for _ in $(seq 50); do [ "$(refusals ear-nonce)" -gt "$before" ] && break; sleep 0.1; done
[ "$(refusals ear-nonce)" -gt "$before" ] && ok "access log: refused with ear-nonce (session flow)" || fail "no ear-nonce refusal in the session flow"
echo forward > "$T/mode"
code=$(get)
[ "$code" = 200 ] && ok "forward (session flow): admitted" || fail "forward (session flow): HTTP $code"

# Auditable results (issue 12.4): the EAR names the policy digest it was
# appraised under; the relying party's access log shows it with the
# verifier's id and the RFC 7638 thumbprint of the key that signed it.
python3 - "$T/captured.json" "$T/ear.pub" "$T/server-access.log" "$T/client-access.log" >"$T/audit.out" 2>&1 <<'PY'
import base64, hashlib, json, sys
cap = json.load(open(sys.argv[1]))
jwt = cap["result"]
p = jwt.split(".")[1]; claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
pem = "".join(l for l in open(sys.argv[2]).read().splitlines() if "-----" not in l)
point = base64.b64decode(pem)[-65:]  # SPKI of a P-256 key ends with 04 || x || y
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
jwk = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (b64(point[1:33]), b64(point[33:]))
tp = hashlib.sha256(jwk.encode()).hexdigest()[:16]
ok = [json.loads(l) for l in open(sys.argv[3]) if '"result":"ok"' in l]
inb = ok[-1]
out = [json.loads(l) for l in open(sys.argv[4]) if '"result":"ok"' in l][-1]
print("EAR ear.vmesh.policy-digest:", claims.get("ear.vmesh.policy-digest"), "verifier-id:", claims.get("ear.verifier-id"))
print("server (central) access log: verifier %s, policy_digest %s, rv_epochs %s" % (inb["verifier"], inb["policy_digest"], inb["rv_epochs"]))
print("client (local) access log: verifier %s, policy_digest %s" % (out["verifier"], out["policy_digest"]))
vid = claims["ear.verifier-id"]
assert claims.get("ear.vmesh.policy-digest", "").startswith("sha-256:"), "EAR lacks ear.vmesh.policy-digest"
assert inb["policy_digest"] == claims["ear.vmesh.policy-digest"], "access log policy digest differs from the EAR's"
assert inb["verifier"] == "%s/%s key:%s" % (vid["developer"], vid["build"], tp), "access log verifier %r, key thumbprint %s" % (inb["verifier"], tp)
assert out["verifier"].endswith(" (local)") and out["policy_digest"].startswith("sha-256:"), "local side: %r" % out
print("SAME-POLICY" if out["policy_digest"] == inb["policy_digest"] else "DIFFERENT-POLICY")
PY
st=$?
sed 's/^/  /' "$T/audit.out"
[ "$st" = 0 ] && ok "EAR names its policy digest; the access log shows it with the verifier id and its key's thumbprint (central), and the local verifier's (client)" \
    || fail "auditable results: $(tail -1 "$T/audit.out")"

stop_proxy client
stop_proxy server
finish
