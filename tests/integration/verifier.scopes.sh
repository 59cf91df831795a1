#!/usr/bin/env bash
# Scoped providers at the central verifier (issue 18.2, docs/FEDERATION.md
# "Scopes at the central verifier"). `vmesh verifier serve` syncs two RVPs:
#   x  --rvp-scope x.example    (Enterprise X's RVP)
#   y  --rvp-scope y.example,spiffe://x.example/ns/y-guest   (Y's, plus one X prefix)
# One platform (one IAK, one set of measurements) submits evidence, each
# time naming another identity in Vmesh-Peer-ID (the SPIFFE ID the relying
# party verified). Each RVP publishes either values that match the platform
# (good) or values that do not (bad).
# Epoch 1: y good, x bad.
#  - for an X identity: not affirming although Y's RVP approves the very
#    platform; the EAR names the peer and x's scope, and rv-epochs only x;
#  - for a Y identity: affirming, EAR names y's scope, rv-epochs only y;
#  - for spiffe://x.example/ns/y-guest/...: y's prefix covers it: affirming;
#  - for z.example, and with no identity: 403 naming the missing scope;
#  - a Vmesh-Peer-ID that is no SPIFFE ID: 400.
# Epoch 2, the reverse (x good, y bad): X affirming, Y not affirming naming
# y's scope. Plus the command-line errors.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/verifier-lib.bash"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }


# a "bad" RV document: same platform, another BL digest
python3 - "$T/rv.json" "$T/rv-bad.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["reference-values"][0]["measurements"][0]["digest"]["value"] = "ab" * 32
json.dump(d, open(sys.argv[2], "w"))
PY

declare -A RVP_PORT RVP_PID
publish() { # publish NAME RVFILE EPOCH
    rm -rf "$T/rv-$1-in"; mkdir -p "$T/rv-$1-in"
    cp "$2" "$T/rv-$1-in/rv.json"
    "$VMESH" rvp publish --key "$T/rvp-$1.key" --in "$T/rv-$1-in" --out "$T/rv-$1-web" --name "$1" \
        --epoch "$3" >/dev/null 2>"$T/publish.err" || { fail "publish $1"; cat "$T/publish.err"; }
}
for r in x y; do
    "$VMESH" keygen --type ec-p256 -o "$T/rvp-$r.key" --pub "$T/rvp-$r.pub" >/dev/null || { echo "keygen"; exit 1; }
    mkdir -p "$T/rv-$r-web"
done
publish x "$T/rv-bad.json" 1
publish y "$T/rv.json" 1
for r in x y; do
    for try in 1 2 3 4 5; do
        RVP_PORT[$r]=$(free_port)
        "$VMESH" rvp serve --root "$T/rv-$r-web" --listen "127.0.0.1:${RVP_PORT[$r]}" >"$T/rvp-$r.out" 2>"$T/rvp-$r.err" &
        RVP_PID[$r]=$!
        for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:${RVP_PORT[$r]}/manifest.jws" && break; sleep 0.1; done
        kill -0 "${RVP_PID[$r]}" 2>/dev/null && break
    done
    cleanup_hooks+=("kill ${RVP_PID[$r]} 2>/dev/null; wait ${RVP_PID[$r]} 2>/dev/null")
done

RVPX="x,http://127.0.0.1:${RVP_PORT[x]},$T/rvp-x.pub,psa"
RVPY="y,http://127.0.0.1:${RVP_PORT[y]},$T/rvp-y.pub,psa"

# ---- command-line errors
expect_exit 1 "--rvp-scope before any --rvp refused" -- "$VMESH" verifier serve --key "$T/ear.pem" \
    --rvp-scope x.example --rvp "$RVPX" --state-dir "$T/st0" --check
expect_stderr "scopes the --rvp just before it"
expect_exit 1 "a scope entry that is neither trust domain nor SPIFFE prefix refused" -- "$VMESH" verifier serve \
    --key "$T/ear.pem" --rvp "$RVPX" --rvp-scope "x.example,Not A Domain" --state-dir "$T/st0" --check
expect_stderr 'scope for RVP x.*"Not A Domain" is not a trust domain'
expect_exit 1 "a SPIFFE prefix without a path refused" -- "$VMESH" verifier serve \
    --key "$T/ear.pem" --rvp "$RVPX" --rvp-scope "spiffe://x.example/" --state-dir "$T/st0" --check
expect_stderr 'needs a path'
expect_exit 1 "--rv with scoped RVPs refused" -- "$VMESH" verifier serve --key "$T/ear.pem" --rv "$T/rv.json" \
    --rvp "$RVPX" --rvp-scope x.example --state-dir "$T/st0" --check
expect_stderr 'rv cannot be combined with --rvp-scope'
expect_exit 0 "the scoped command line is accepted" -- "$VMESH" verifier serve --key "$T/ear.pem" \
    --rvp "$RVPX" --rvp-scope x.example --rvp "$RVPY" --rvp-scope "y.example,spiffe://x.example/ns/y-guest" \
    --state-dir "$T/st0" --check

start_verifier V --key "$T/ear.pem" --rvp "$RVPX" --rvp-scope x.example \
    --rvp "$RVPY" --rvp-scope "y.example,spiffe://x.example/ns/y-guest" --state-dir "$T/state" --poll 1
BASE="http://127.0.0.1:$PORT_V"

# submit NAME [PEER-ID]: one challenge-response round naming PEER-ID; the
# status in $T/NAME.code, the EAR's claims (JSON) in $T/NAME.ear.json and the
# fields the checks read in $T/NAME.kv (one python per step: python starts
# slowly on a loaded machine)
submit() {
    local name=$1 peer=${2:-}
    req "$name-ns" -X POST -H "Accept: $SESSION_MT" "$BASE$API/newSession?nonceSize=32"
    [ "$(code "$name-ns")" = 201 ] || { fail "$name: newSession $(code "$name-ns")"; return; }
    evidence "$(python3 -c 'import base64,json,sys; s=json.load(open(sys.argv[1]))["nonce"]; print(base64.urlsafe_b64decode(s+"="*(-len(s)%4)).hex())' "$T/$name-ns.body")" "$T/$name.cose"
    if [ -n "$peer" ]; then
        req "$name" -X POST -H "Accept: $SESSION_MT" -H "Content-Type: $PSA_MT" -H "Vmesh-Peer-ID: $peer" \
            --data-binary @"$T/$name.cose" "$BASE$API/$(hdr "$name-ns" Location)"
    else
        req "$name" -X POST -H "Accept: $SESSION_MT" -H "Content-Type: $PSA_MT" \
            --data-binary @"$T/$name.cose" "$BASE$API/$(hdr "$name-ns" Location)"
    fi
    rm -f "$T/$name.ear.json" "$T/$name.kv" "$T/$name.jwt"
    [ "$(code "$name")" = 200 ] || return 0
    python3 - "$T/$name" <<'PY'
import base64, json, sys
base = sys.argv[1]
jwt = json.load(open(base + ".body"))["result"]
open(base + ".jwt", "w").write(jwt)
p = jwt.split(".")[1]
d = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
json.dump(d, open(base + ".ear.json", "w"))
peer = d.get("ear.vmesh.peer", {})
ep = d.get("ear.vmesh.rv-epochs", {})
kv = {"status": d["submods"]["psa"]["ear.status"], "peer": peer.get("id", ""), "scope": peer.get("scope", ""),
      "epochs": ",".join(sorted(ep)), "ex": ep.get("x", ""), "ey": ep.get("y", "")}
open(base + ".kv", "w").write("".join("%s=%s\n" % i for i in kv.items()))
PY
}
kv() { sed -n "s/^$2=//p" "$T/$1.kv" 2>/dev/null; }
status() { kv "$1" status; }

X=spiffe://x.example/ns/ai/sa/client
Y=spiffe://y.example/ns/ai/sa/client
G=spiffe://x.example/ns/y-guest/sa/client
Z=spiffe://z.example/ns/ai/sa/client

# wait until the verifier has synced epoch E of both RVPs (the Y identity's
# EAR carries y's epoch, the X identity's x's)
wait_epoch() {
    local e=$1
    for _ in $(seq 150); do
        submit w1 "$Y"; submit w2 "$X"
        [ -s "$T/w1.ear.json" ] && [ -s "$T/w2.ear.json" ] &&
            [ "$(kv w1 ey)" = "$e" ] && [ "$(kv w2 ex)" = "$e" ] && return 0
        sleep 0.2
    done
    return 1
}
wait_epoch 1 && ok "verifier synced epoch 1 of x and y" || { fail "epoch 1 not synced"; tail -20 "$T/V.log"; finish; }

# ---- epoch 1: Y's RVP approves the platform, X's does not
submit x1 "$X"
[ "$(code x1)" = 200 ] && ok "X identity: appraised (200)" || fail "X identity: $(code x1) $(cat "$T/x1.body")"
s=$(status x1)
[ "$s" != affirming ] && ok "X identity: not affirming ($s) although Y's RVP approves this platform" \
    || fail "Y's RVP approved an X-identity platform"
[ "$(kv x1 peer)" = "$X" ] && ok "the EAR names the peer it was appraised for" || fail "EAR peer: $(kv x1 peer)"
kv x1 scope | grep -q "only the reference values of RVP x (scope x.example)" \
    && ok "the EAR names the scope: $(kv x1 scope)" || fail "EAR scope: $(kv x1 scope)"
[ "$(kv x1 epochs)" = x ] && ok "X identity: rv-epochs lists x only" || fail "X rv-epochs: $(kv x1 epochs)"

submit y1 "$Y"
[ "$(status y1)" = affirming ] && ok "Y identity: affirming with Y's RVP" || fail "Y identity: $(status y1)"
[ "$(kv y1 epochs)" = y ] && ok "Y identity: rv-epochs lists y only" || fail "Y rv-epochs: $(kv y1 epochs)"
expect_exit 0 "the Y identity's EAR verifies with the verifier's key" -- "$VMESH" ear verify --key "$T/ear.pub" "$T/y1.jwt"

submit g1 "$G"
[ "$(status g1)" = affirming ] && ok "x.example/ns/y-guest identity: y's prefix scope covers it (affirming)" \
    || fail "guest identity: $(status g1)"
kv g1 scope | grep -q "RVP y (scope spiffe://x.example/ns/y-guest)" \
    && ok "guest: the scope names y's prefix" || fail "guest scope: $(kv g1 scope)"
submit p1 "spiffe://x.example/ns/y-guestroom/sa/client"
[ "$(code p1)" = 200 ] && [ "$(status p1)" != affirming ] \
    && ok "ns/y-guestroom: the prefix matches at a segment boundary only (not affirming)" || fail "y-guestroom: $(code p1) $(status p1 2>/dev/null)"

submit z1 "$Z"
[ "$(code z1)" = 403 ] && grep -q "no reference-value provider is scoped to trust domain z.example" "$T/z1.body" \
    && ok "z.example identity: 403 naming the domain no RVP is scoped to" || fail "z: $(code z1) $(cat "$T/z1.body")"
submit n1
[ "$(code n1)" = 403 ] && grep -q "names no peer identity" "$T/n1.body" \
    && ok "no Vmesh-Peer-ID with every RVP scoped: 403" || fail "no identity: $(code n1) $(cat "$T/n1.body")"
submit b1 "x.example/not-a-spiffe-id"
[ "$(code b1)" = 400 ] && grep -q "Vmesh-Peer-ID is not a SPIFFE ID" "$T/b1.body" \
    && ok "a Vmesh-Peer-ID that is no SPIFFE ID: 400" || fail "bad id: $(code b1) $(cat "$T/b1.body")"

# ---- epoch 2, the reverse: X's RVP approves, Y's does not
publish x "$T/rv.json" 2
publish y "$T/rv-bad.json" 2
wait_epoch 2 && ok "verifier synced epoch 2" || { fail "epoch 2 not synced"; tail -20 "$T/V.log"; finish; }
submit x2 "$X"
[ "$(status x2)" = affirming ] && ok "epoch 2: X identity affirming with X's RVP" || fail "epoch 2 X: $(status x2)"
submit y2 "$Y"
s=$(status y2)
[ "$s" != affirming ] && ok "epoch 2: Y identity not affirming ($s) although X's RVP approves this platform" \
    || fail "X's RVP approved a Y-identity platform"
kv y2 scope | grep -q "only the reference values of RVP y (scope y.example" \
    && ok "epoch 2: the EAR names y's scope" || fail "epoch 2 Y scope: $(kv y2 scope)"

stop_verifier V
finish
