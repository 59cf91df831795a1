#!/usr/bin/env bash
# The EAR-key trust set distributed in the bundle (issue 12.3, DECISIONS
# D40, docs/BUNDLES.md "The verifier trust set"). A real `vmesh rvp serve`
# publishes the client's reference values, the verifiers' platform
# reference values and a verifier trust set (vmesh-verifiers/1) naming two
# verifiers: v-good (an https verifier attesting an endorsed psa-sim
# platform) and v-evil (same class, an unendorsed workload). The server
# sidecar has no passport-issuers of its own: `verifier.issuers-from:
# bundle` takes the accepted EAR keys from the synced set. Checked:
#   1. `vmesh rvp publish` refuses a bad key, a duplicate name, an unknown
#      class; `vmesh rvp sync` shows the installed set
#   2. a passport from v-evil (in the set, its platform does not attest) is
#      refused
#   3. a passport from v-good is admitted (connection held)
#   4. a bundle without v-good: its passports are refused, the held
#      connection is closed (delay printed), the log names v-good
#   5. a next bundle whose verifier set does not hash to its digest, and
#      a manifest signed by another key: refused whole, v-good stays out;
#      a good bundle with v-good again: admitted
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
HELPERS=$(cd "$(dirname "$0")/helpers" && pwd)
px_setup
"$VMESH" keygen --type ec-p256 -o "$T/ear.pem" --pub "$T/ear.pub" >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" keygen --type ec-p256 -o "$T/ear2.pem" --pub "$T/ear2.pub" >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" keygen --type ec-p256 -o "$T/rvp.pem" --pub "$T/rvp.pub" >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" keygen --type ec-p256 -o "$T/other.pem" --pub "$T/other.pub" >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/ns/vmesh/sa/verifier --out vtls >/dev/null \
    || { echo "ca issue failed"; exit 1; }
px_platform verifier "vmesh verifier v1"
printf 'vmesh verifier v1 with a backdoor\n' > verifier-evil-workload
px_rv_json verifier "$(sha256sum verifier-workload | cut -d' ' -f1)" > verifier-rv.json
# what the client (attester side) trusts to issue its passports: each issuer's own workload
px_rv_json verifier "$(sha256sum verifier-evil-workload | cut -d' ' -f1)" > verifier-evil-rv.json
CLASS=$(printf 'vmesh-proxy-test-impl-%-10s' verifier | head -c 32 | base64 -w0)

px_start_verifier good "$T/ear.pem" verifier-workload
px_start_verifier evil "$T/ear2.pem" verifier-evil-workload

# trust_set FILE NAME=URL=KEY=CLASS ...: a vmesh-verifiers/1 document
trust_set() {
    local out=$1; shift
    python3 - "$@" > "$out" <<'PY'
import json, sys
vs = []
for a in sys.argv[1:]:
    name, url, key, cls = a.split("=", 3)
    vs.append({"name": name, "url": url, "ear-key": open(key).read(), "platform": {"scheme": "psa", "class-id": cls}})
print(json.dumps({"format": "vmesh-verifiers/1", "verifiers": vs}, indent=1))
PY
}
GOOD="v-good=https://127.0.0.1:$GOOD_PORT=$T/ear.pub=$CLASS"
EVIL="v-evil=https://127.0.0.1:$EVIL_PORT=$T/ear2.pub=$CLASS"

# 1. publishing: refusals by name, then epoch 1
mkdir -p "$T/rvin" "$T/rvweb" "$T/bad"
cp "$T/client-rv.json" "$T/rvin/client-rv.json"
cp "$T/verifier-rv.json" "$T/rvin/verifier-rv.json"
pub_refused() { # NAME WHAT: publishing rvin + bad/verifiers.json is refused naming WHAT
    local out
    out=$("$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/rvin" --in "$T/bad/verifiers.json" --out "$T/badweb" 2>&1) \
        && { fail "$1: published"; return; }
    grep -q -- "$2" <<<"$out" && ok "rvp publish refuses $1: $(tail -1 <<<"$out" | cut -c1-150)" \
        || fail "$1: refused without naming it: $out"
}
trust_set "$T/bad/verifiers.json" "$GOOD" "v-good=https://127.0.0.1:1=$T/ear2.pub=$CLASS"
pub_refused "a duplicate name" 'name "v-good" is listed twice'
trust_set "$T/bad/verifiers.json" "v-good=https://127.0.0.1:1=$T/ear.pem=$CLASS"
pub_refused "a private key" 'PRIVATE key'
printf -- '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' > "$T/bad/garbage.pub"
trust_set "$T/bad/verifiers.json" "v-good=https://127.0.0.1:1=$T/bad/garbage.pub=$CLASS"
pub_refused "a bad key" '"ear-key" is not a public key'
trust_set "$T/bad/verifiers.json" "v-good=https://127.0.0.1:1=$T/ear.pub=$(printf 'no such class' | base64 -w0)"
pub_refused "an unknown class" 'unknown class'
[ ! -e "$T/badweb/manifest.jws" ] && ok "nothing published by the refused runs" || fail "a refused run published a manifest"

trust_set "$T/rvin/verifiers.json" "$GOOD" "$EVIL"
out=$("$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/rvin" --out "$T/rvweb" --name acme 2>&1) || fail "publish epoch 1: $out"
grep -q 'trust-anchor.*application/vnd.vmesh.verifiers+json' <<<"$out" && ok "the manifest lists the verifier trust set" \
    || fail "manifest does not list the set: $out"
RVP_PORT=$(free_port)
"$VMESH" rvp serve --root "$T/rvweb" --listen "127.0.0.1:$RVP_PORT" >"$T/rvp.out" 2>"$T/rvp.err" &
px_pids+=($!)
wait_port "$RVP_PORT" || { echo "rvp serve did not start"; exit 1; }
out=$("$VMESH" rvp sync --rvp "acme,http://127.0.0.1:$RVP_PORT,$T/rvp.pub" --state "$T/cli-state" --once 2>&1)
grep -q 'verifier trust set: v-good v-evil' <<<"$out" && ok "vmesh rvp sync installs the set (v-good v-evil)" \
    || fail "rvp sync: $out"

# sidecars: the server takes its passport issuers from the bundle only
start_echo_app
px_config server
px_config client
sed -e "s|^  rv-files: .*|  rvps: [ { name: acme, url: \"http://127.0.0.1:$RVP_PORT\", key: $T/rvp.pub, schemes: [ psa ] } ]\n  poll-interval: 2s\n  state-dir: $T/server-state\n  issuers-from: bundle|" \
    -i "$T/server.yaml"
printf 'policy:\n  inline: { modes: [ passport ] }\n' >> "$T/server.yaml"
cp "$T/client.yaml" "$T/client.base.yaml"
client_issuer() { # PORT RVFILE: the client gets its passports from https://127.0.0.1:PORT
    sed -e "s|^attester:|attester:\n  modes: [ passport ]|" \
        -e "s|^  rv-files: .*|  rv-files: [ $T/server-rv.active.json ]\n  passport: { central: \"https://127.0.0.1:$1\", verifier-rv: $2 }|" \
        "$T/client.base.yaml" > "$T/client.yaml"
}
"$VMESH" proxy -c "$T/server.yaml" --check >"$T/check.out" 2>&1 && ok "issuers-from: bundle is a valid configuration" \
    || fail "config check: $(tail -3 "$T/check.out")"
sed 's|issuers-from: bundle|issuers-from: bundel|' "$T/server.yaml" > "$T/server-typo.yaml"
out=$("$VMESH" proxy -c "$T/server-typo.yaml" --check 2>&1) && fail "issuers-from: bundel accepted" \
    || { grep -q 'issuers-from' <<<"$out" && ok "issuers-from: bundel refused naming the key" || fail "typo: $out"; }
start_proxy server
slog() { local i; for i in $(seq "${2:-100}"); do grep -q -- "$1" "$T/server.err" && return 0; sleep 0.1; done; return 1; }
slog "v-good (rvp acme) attests again" 150 && ok "v-good attested under the bundle's reference values" \
    || fail "v-good not attested: $(grep -i 'issuer\|verifier' "$T/server.err" | tail -4)"
slog "verifier v-evil (rvp acme): its passports are refused until it attests" 100 \
    && ok "v-evil (in the set, unendorsed platform): $(grep -o 'v-evil (rvp acme): its passports.*' "$T/server.err" | head -1 | cut -c1-170)" \
    || fail "no refusal line for v-evil: $(grep -i 'evil' "$T/server.err" | tail -3)"
slog "reloaded (generation" 50

# 2. a passport from v-evil is refused
client_issuer "$EVIL_PORT" "$T/verifier-evil-rv.json"
start_proxy client
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" != ok ] && ok "passport signed by v-evil (its platform does not attest): refused ($r)" \
    || fail "v-evil's passport admitted"
grep -q 'not signed by a verifier this policy trusts: its signer is verifier v-evil (rvp acme)' \
    "$T/server-access.log" "$T/server.err" \
    && ok "the reason names it: $(grep -oh 'its signer is verifier v-evil[^"]*' "$T/server-access.log" "$T/server.err" | head -1)" \
    || fail "no reason naming v-evil: $(grep -h 'trusts' "$T/server-access.log" "$T/server.err" | tail -2)"
stop_proxy client

# 3. a passport from v-good is admitted, connection held
client_issuer "$GOOD_PORT" "$T/verifier-rv.json"
: > "$T/client.err"; start_proxy client
python3 "$HELPERS/echo_holder.py" "$OUT_PORT" "$T/stop-hold" "$T/hold.json" &
px_pids+=($!)
for _ in $(seq 100); do [ -e "$T/hold.json.open" ] && break; sleep 0.1; done
sleep 1
[ -e "$T/hold.json.open" ] && [ ! -e "$T/hold.json" ] && ok "passport signed by v-good: admitted (connection held)" \
    || fail "v-good's passport: $(cat "$T/hold.json" 2>/dev/null); $(grep -i 'refused' "$T/server.err" | tail -2)"

# 4. a bundle without v-good
trust_set "$T/rvin/verifiers.json" "$EVIL"
t0=$(date +%s.%N)
"$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/rvin" --out "$T/rvweb" >/dev/null || fail "publish epoch 2"
for _ in $(seq 300); do [ -e "$T/hold.json" ] && break; sleep 0.1; done
if [ -e "$T/hold.json" ] && grep -q '"end": "eof"\|reset\|Broken' "$T/hold.json"; then
    ok "v-good left the set: the connection its passport admitted was closed"
    echo "  numbers: closed $(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["t_end"] - float(sys.argv[2])))' "$T/hold.json" "$t0") s after rvp publish (poll-interval 2 s)"
else
    fail "v-good left the set: the connection stayed open ($(cat "$T/hold.json" 2>/dev/null))"
fi
grep -q 'verifier v-good (https://127.0.0.1:'"$GOOD_PORT"') left the bundle' "$T/server.err" \
    && ok "the log names it: $(grep -o 'rvp acme (epoch [0-9]*): verifier v-good.*left[^:]*' "$T/server.err" | head -1)" \
    || fail "no log line naming v-good: $(grep -i 'v-good' "$T/server.err" | tail -3)"
grep -q 'no longer signed by a verifier this policy trusts: its signer is verifier v-good (rvp acme), which left' \
    "$T/server-access.log" "$T/server.err" && ok "the closed connection's reason names v-good" \
    || fail "close reason: $(grep -h 'no longer signed' "$T/server-access.log" "$T/server.err" | tail -2)"
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" != ok ] && ok "v-good's new passports are refused ($r)" || fail "v-good's passport still admitted"
for _ in $(seq 30); do grep -q 'its signer is verifier v-good (rvp acme), which left the bundle' "$T/server-access.log" && break; sleep 0.1; done
grep -q 'not signed by a verifier this policy trusts: its signer is verifier v-good (rvp acme), which left the bundle' \
    "$T/server-access.log" "$T/server.err" \
    && ok "the refusal names it: $(grep -oh 'its signer is verifier v-good[^"]*' "$T/server-access.log" "$T/server.err" | tail -1)" \
    || fail "no refusal naming v-good: $(grep -h 'trusts' "$T/server-access.log" "$T/server.err" | tail -2)"

# 5. broken bundles are refused whole: v-good stays out (a new order: a
# set the server has not cached yet)
# Published into a copy and tampered there, then put in place (sets
# first, the manifest last, by rename): the server, polling every 2 s, must
# never see epoch 3 before it is tampered (it did once in CI).
trust_set "$T/rvin/verifiers.json" "$EVIL" "$GOOD"
rm -rf "$T/stage"; cp -a "$T/rvweb" "$T/stage"
"$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/rvin" --out "$T/stage" >/dev/null || fail "publish epoch 3"
vset=$(grep -l 'vmesh-verifiers/1' "$T"/stage/sets/* | xargs grep -l 'v-good')
sed -i 's/"v-good"/"v-gooX"/' "$vset"
cp "$T/stage/sets/"* "$T/rvweb/sets/"
cp "$T/stage/manifest.jws" "$T/rvweb/manifest.jws.new" && mv "$T/rvweb/manifest.jws.new" "$T/rvweb/manifest.jws"
slog "manifest epoch 3 refused: set sets/.* digest mismatch" 60 \
    && ok "a verifier set that does not hash to its digest: epoch refused, epoch 2 kept" \
    || fail "tampered set: $(grep -i 'epoch 3' "$T/server.err" | tail -2)"
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" != ok ] && ok "after the tampered bundle v-good is still refused" || fail "tampered set admitted v-good"
mkdir -p "$T/forged"; cp "$T/rvin/"* "$T/forged/"
"$VMESH" rvp publish --key "$T/other.pem" --in "$T/forged" --out "$T/forgedweb" --name acme --epoch 9 >/dev/null \
    || fail "forged publish"
cp "$T/forgedweb/sets/"* "$T/rvweb/sets/"
cp "$T/forgedweb/manifest.jws" "$T/rvweb/manifest.jws.new" && mv "$T/rvweb/manifest.jws.new" "$T/rvweb/manifest.jws"
slog "manifest refused: manifest signature" 60 && ok "a manifest signed by another key: refused, epoch 2 kept" \
    || fail "forged manifest: $(grep -i 'manifest' "$T/server.err" | tail -2)"
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" != ok ] && ok "after the forged bundle v-good is still refused" || fail "forged bundle admitted v-good"
rm -f "$T/rvweb/manifest.jws"
"$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/rvin" --out "$T/rvweb" --name acme --epoch 10 >/dev/null \
    || fail "publish epoch 10"
slog "v-good (rvp acme) attests again" 1 # the first time, at start
for _ in $(seq 150); do [ "$(grep -c 'v-good (rvp acme) attests again' "$T/server.err")" -ge 2 ] && break; sleep 0.1; done
for _ in $(seq 30); do r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1); [ "$r" = ok ] && break; sleep 0.5; done
[ "$r" = ok ] && ok "a good bundle with v-good again: admitted" || fail "v-good back in the set: $r"

touch "$T/stop-hold"
stop_proxy client
stop_proxy server
for l in good evil; do
    grep -qE "LeakSanitizer|AddressSanitizer|runtime error" "$T/$l.log" && fail "verifier $l: sanitizer report"
done
finish
