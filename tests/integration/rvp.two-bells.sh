#!/usr/bin/env bash
# Two independent RVPs, each ringing its own epoch bell (an Epoch Marker,
# draft-ietf-rats-epoch-markers), combined by one central verifier: every
# EAR it issues names the current tick of both bells; a relying party that
# follows both accepts a result only while every bell it names is at its
# current or previous tick, and refuses it, naming the bell, once either
# bell has moved on twice (docs/BUNDLES.md, "Several bells").
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/verifier-lib.bash"

start_rvp() { # start_rvp NAME: publish, ring once, serve; sets URL_<NAME>
    local r=$1 port=""
    "$VMESH" keygen --type ec-p256 -o "$T/$r.pem" --pub "$T/$r.pub" >/dev/null
    "$VMESH" keygen --type ec-p256 -o "$T/bell-$r.pem" --pub "$T/bell-$r.pub" >/dev/null
    mkdir -p "$T/in-$r" "$T/www-$r"
    if [ "$r" = a ]; then cp "$T/rv.json" "$T/in-$r/rv.json"; else
        cat >"$T/in-$r/rv.json" <<EOF
{"format": "vmesh-rv/1", "reference-values": [{"scheme": "psa", "class-id": "text:other-impl",
 "measurements": [{"name": "BL", "digest": {"alg": "sha-256", "value": "$(printf '%064d' 7)"}}]}]}
EOF
    fi
    "$VMESH" rvp publish --key "$T/$r.pem" --in "$T/in-$r" --out "$T/www-$r" --name "rvp-$r" >/dev/null ||
        { echo "publish $r failed"; exit 1; }
    ring "$r"
    "$VMESH" rvp serve --root "$T/www-$r" --listen 127.0.0.1:0 >"$T/serve-$r.out" 2>"$T/serve-$r.err" &
    cleanup_hooks+=("kill $! 2>/dev/null")
    for _ in $(seq 50); do grep -q "listening on" "$T/serve-$r.out" 2>/dev/null && break; sleep 0.1; done
    port=$(awk '/listening on/ {print $3}' "$T/serve-$r.out")
    [ -n "$port" ] || { echo "rvp $r did not start: $(cat "$T/serve-$r.err")"; exit 1; }
    eval "URL_$r=http://127.0.0.1:$port"
}
# ring NAME: one more tick of that RVP's bell; keeps a copy as bell-NAME-<tick>.cwt
ring() {
    local r=$1 t
    "$VMESH" rvp tick --key "$T/bell-$r.pem" --out "$T/www-$r" --name "rvp-$r" >/dev/null || { echo "tick $r failed"; exit 1; }
    t=$(tick_of "$T/www-$r/bell.cwt" "$r")
    cp "$T/www-$r/bell.cwt" "$T/bell-$r-$t.cwt"
}
tick_of() { "$VMESH" rvp tick --show "$1" --key "$T/bell-$2.pub" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tick"])'; }

start_rvp a
start_rvp b
start_verifier V --key "$T/ear.pem" --state-dir "$T/state" --poll 1 \
    --rvp "rvp-a,$URL_a,$T/a.pub,psa" --rvp "rvp-b,$URL_b,$T/b.pub,psa" \
    --bell-key "$T/bell-a.pub" --bell-key "$T/bell-b.pub"
B="http://127.0.0.1:$PORT_V"

# get_ear OUT: one challenge-response appraisal, the EAR in OUT
get_ear() {
    local nonce; nonce=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    req ns -X POST "$B$API/newSession?nonce=$(python3 -c 'import base64,sys;print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$nonce")"
    evidence "$nonce" "$T/tok.cose"
    req ev -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/tok.cose" "$B$API/$(hdr ns Location)"
    json_get "$T/ev.body" "d.get('result') or ''" >"$1"
}
# markers EAR: "rvp-a:<tick> rvp-b:<tick>" as the EAR names them
markers() {
    "$VMESH" ear verify --key "$T/ear.pub" --json "$1" 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(sorted("%s:%d" % (m["bell"], m["tick"]) for m in d.get("ear.vmesh.epoch-markers", []))))'
}
# wait_markers WANT OUT: EARs until one names exactly WANT (the verifier polls every second)
wait_markers() {
    local got=""
    for _ in $(seq 40); do
        get_ear "$2"; got=$(markers "$2")
        [ "$got" = "$1" ] && return 0
        sleep 0.5
    done
    echo "last EAR named: '$got'"; return 1
}
check() { # check EAR BELLFILES...: vmesh ear verify with both bell keys and these markers
    local ear=$1; shift
    local args=() f
    for f in "$@"; do args+=(--bell "$T/$f"); done
    "$VMESH" ear verify --key "$T/ear.pub" --bell-key "$T/bell-a.pub" --bell-key "$T/bell-b.pub" "${args[@]}" "$ear"
}

A1=$(tick_of "$T/www-a/bell.cwt" a); B1=$(tick_of "$T/www-b/bell.cwt" b)
wait_markers "rvp-a:$A1 rvp-b:$B1" "$T/ear1.jwt" && ok "the verifier's EAR names both bells' current ticks (a:$A1 b:$B1)" ||
    fail "EAR markers: want rvp-a:$A1 rvp-b:$B1"
expect_exit 0 "EAR under both current ticks is fresh" -- check "$T/ear1.jwt" "bell-a-$A1.cwt" "bell-b-$B1.cwt"

ring a; A2=$(tick_of "$T/www-a/bell.cwt" a)
expect_exit 0 "bell a one tick on: still fresh (previous tick)" -- \
    check "$T/ear1.jwt" "bell-a-$A1.cwt" "bell-a-$A2.cwt" "bell-b-$B1.cwt"
ring a; A3=$(tick_of "$T/www-a/bell.cwt" a)
expect_exit 1 "bell a two ticks on: the EAR is stale" -- \
    check "$T/ear1.jwt" "bell-a-$A1.cwt" "bell-a-$A2.cwt" "bell-a-$A3.cwt" "bell-b-$B1.cwt"
expect_stderr "rvp-a"

# The verifier follows the new tick of a: its next EARs are fresh again.
wait_markers "rvp-a:$A3 rvp-b:$B1" "$T/ear2.jwt" && ok "the verifier moved to bell a's tick $A3" ||
    fail "EAR markers after ringing a: want rvp-a:$A3 rvp-b:$B1"
expect_exit 0 "new EAR fresh under both bells" -- \
    check "$T/ear2.jwt" "bell-a-$A1.cwt" "bell-a-$A2.cwt" "bell-a-$A3.cwt" "bell-b-$B1.cwt"

# Either bell is enough to make a result stale: b moves on twice, a does not.
ring b; B2=$(tick_of "$T/www-b/bell.cwt" b)
ring b; B3=$(tick_of "$T/www-b/bell.cwt" b)
expect_exit 1 "bell b two ticks on (a current): the EAR is stale" -- \
    check "$T/ear2.jwt" "bell-a-$A3.cwt" "bell-b-$B1.cwt" "bell-b-$B2.cwt" "bell-b-$B3.cwt"
expect_stderr "rvp-b"

# A relying party that follows only bell b judges by b alone; one that
# follows neither bell of the EAR cannot call it fresh.
expect_exit 1 "following only b: stale" -- "$VMESH" ear verify --key "$T/ear.pub" --bell-key "$T/bell-b.pub" \
    --bell "$T/bell-b-$B2.cwt" --bell "$T/bell-b-$B3.cwt" "$T/ear2.jwt"
"$VMESH" keygen --type ec-p256 -o "$T/bell-x.pem" --pub "$T/bell-x.pub" >/dev/null
mkdir -p "$T/www-x" && "$VMESH" rvp tick --key "$T/bell-x.pem" --out "$T/www-x" --name rvp-x >/dev/null
expect_exit 1 "following an unrelated bell only: no common bell" -- "$VMESH" ear verify --key "$T/ear.pub" \
    --bell-key "$T/bell-x.pub" --bell "$T/www-x/bell.cwt" "$T/ear2.jwt"
# A marker signed by a key we do not follow is refused when offered.
expect_exit 1 "a bell file signed by another key is refused" -- check "$T/ear2.jwt" "www-x/bell.cwt"

stop_verifier V
finish
